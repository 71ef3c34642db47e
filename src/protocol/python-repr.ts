import { encodeException, isExceptionInfo } from "./exception-info.js";

/**
 * Python reprs of JSON values, as Celery writes them into its events: a task's result through
 * celery.utils.saferepr ("{'total': 5}"), its exception through repr() ("ValueError('boom')").
 * Monitors (Flower, `celery events`) show these strings as they are, so an Ebb worker's look like
 * a Python worker's. Values are taken as JSON would carry them (toJSON applied, undefined →
 * None); a JS number that is an integer prints as a Python int ("5", never "5.0").
 */

/** Celery's resultrepr_maxsize: a longer repr is cut and ends in "...". */
export const REPR_MAX = 1024;

/** celery.utils.saferepr: text always in single quotes with ' escaped, nothing else escaped. */
export function pythonRepr(value: unknown, maxLength = REPR_MAX): string {
  const out = reprOf(value, new Set(), saferText);
  return out.length > maxLength ? `${out.slice(0, maxLength - 3)}...` : out;
}

/**
 * repr() of an exception as Python prints it: `ValueError('boom')`, `KeyError('a', 1)`. Takes a
 * thrown value, or a stored exception ({exc_type, exc_message}) such as a failed task's result.
 */
export function pythonExceptionRepr(error: unknown, maxLength = REPR_MAX): string {
  const info = isExceptionInfo(error) ? error : encodeException(error);
  const args = Array.isArray(info.exc_message) ? info.exc_message : [info.exc_message];
  const out = `${info.exc_type}(${args.map((a) => reprOf(a, new Set(), reprText)).join(", ")})`;
  return out.length > maxLength ? `${out.slice(0, maxLength - 3)}...` : out;
}

type TextRepr = (s: string) => string;

function reprOf(value: unknown, seen: Set<object>, text: TextRepr): string {
  if (value === null || value === undefined) return "None";
  if (typeof value === "boolean") return value ? "True" : "False";
  if (typeof value === "number") return numberRepr(value);
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "string") return text(value);
  if (typeof value !== "object") return "None";
  const json = (value as { toJSON?: () => unknown }).toJSON;
  if (typeof json === "function") return reprOf(json.call(value), seen, text);
  if (seen.has(value)) return Array.isArray(value) ? "[...]" : "{...}";
  seen.add(value);
  try {
    if (Array.isArray(value)) return `[${value.map((v) => reprOf(v, seen, text)).join(", ")}]`;
    const entries = Object.entries(value).filter(([, v]) => v !== undefined && typeof v !== "function");
    return `{${entries.map(([k, v]) => `${text(k)}: ${reprOf(v, seen, text)}`).join(", ")}}`;
  } finally {
    seen.delete(value);
  }
}

/** Integers as Python ints; other numbers as Python floats ("1e-07", "inf", "nan"). */
function numberRepr(n: number): string {
  if (Number.isNaN(n)) return "nan";
  if (!Number.isFinite(n)) return n > 0 ? "inf" : "-inf";
  if (Number.isInteger(n) && Math.abs(n) < 1e21) return BigInt(n).toString();
  // JS and Python agree on the shortest digits; Python writes the exponent with at least two digits.
  // Python switches to an exponent below 1e-4 (JS only below 1e-6).
  const text = Math.abs(n) < 1e-4 ? n.toExponential() : String(n);
  return text.replace(/e([+-])(\d)$/, "e$10$2");
}

/** saferepr's text (celery/utils/saferepr.py, _format_chars). */
function saferText(s: string): string {
  return `'${s.replaceAll("'", "\\'")}'`;
}

/** Python's str repr: single quotes unless the text has ' and no ", escapes for controls. */
function reprText(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === quote || ch === "\\") out += `\\${ch}`;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (c < 0x20 || (c >= 0x7f && c <= 0xa0) || c === 0xad) out += `\\x${c.toString(16).padStart(2, "0")}`;
    else if (c >= 0xd800 && c <= 0xdfff) out += `\\u${c.toString(16).padStart(4, "0")}`;
    else out += ch;
  }
  return out + quote;
}
