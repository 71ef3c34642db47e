import { parse as losslessParse, stringify as losslessStringify, type NumberStringifier } from "lossless-json";

/**
 * JSON exactly as Python's json module reads and writes it, for every Celery payload and result
 * Ebb parses or writes (message bodies, kombu envelopes, result meta, archive lines).
 *
 * Reading (parseCeleryJson):
 *  - an integer a `number` cannot hold exactly (beyond ±(2^53 - 1)) becomes a `bigint`; every
 *    other number stays a `number` (a float with 17 significant digits is still a float);
 *  - Python's bare NaN, Infinity and -Infinity tokens become NaN, Infinity and -Infinity;
 *  - a key given twice keeps its last value, as Python's dict does.
 * Writing (dumpsCeleryJson): Python's json.dumps defaults (", " and ": " separators,
 * ensure_ascii), a `bigint` as a JSON integer, NaN/±Infinity as Python writes them. A whole
 * float (1.0) is written as 1: JavaScript has one number type and cannot tell them apart.
 *
 * Fast paths: native JSON.parse/JSON.stringify whenever they are exact, which is nearly always.
 * JSON.parse is exact unless the text holds an integer of 16+ digits (2^53 has 16) or a bare
 * NaN/Infinity (which makes it throw). JSON.stringify is exact unless the value holds a bigint
 * (it throws) or a non-finite number (it writes null, so only output with "null" is checked).
 */

/** Parse Celery JSON losslessly. Throws SyntaxError when the text is not JSON (Python's dialect). */
export function parseCeleryJson(text: string): unknown {
  if (!LONG_DIGITS.test(text)) {
    try {
      return JSON.parse(text);
    } catch {
      // A bare NaN/Infinity, or not JSON at all: the slow path tells which.
    }
  }
  return parseSlow(text);
}

/** The value as Python's json.dumps(value) writes it (see the module comment). */
export function dumpsCeleryJson(value: unknown): string {
  return pythonText(compact(value), true);
}

/**
 * The value as compact JSON, as JSON.stringify writes it (no spaces, characters as they are),
 * except that bigints and NaN/±Infinity are written as Python writes them: for Ebb's own output
 * (the CLI's --json, argsrepr), where JSON.stringify would throw or write null.
 */
export function stringifyCeleryJson(value: unknown): string {
  return nativeJson(value) ?? pythonText(losslessJson(value), false);
}

/** 16 digits in a row, anywhere (a string's digits too: that only sends it down the slow path). */
const LONG_DIGITS = /\d{16}/;

function parseSlow(text: string): unknown {
  const sentinels = nonFiniteSentinels(text);
  const prepared = sentinels ? replaceNonFinite(text, sentinels) : text;
  return losslessParse(prepared, null, {
    parseNumber: (n) => {
      if (sentinels && n.length === sentinels.nan.length && n.startsWith(sentinels.prefix)) return sentinels.values.get(n);
      if (isIntegerText(n)) {
        const v = Number(n);
        return Number.isSafeInteger(v) ? v : BigInt(n);
      }
      return Number(n);
    },
    onDuplicateKey: ({ newValue }) => newValue,
  });
}

function isIntegerText(n: string): boolean {
  for (let i = 0; i < n.length; i++) {
    const c = n.charCodeAt(i);
    if (c === 0x2e /* . */ || c === 0x65 /* e */ || c === 0x45 /* E */) return false;
  }
  return true;
}

interface Sentinels {
  prefix: string;
  nan: string;
  inf: string;
  negInf: string;
  values: Map<string, number>;
}

/**
 * lossless-json rejects NaN/Infinity, so a string-aware pass first rewrites each bare token into a
 * JSON number that the number callback turns back. Why this is safe: the pass skips string
 * contents (so "NaN" as a string stays a string), and the sentinels are zeros written with an
 * exponent whose digits appear nowhere in the original text, so every sentinel the parser meets
 * was put there by the pass, never by the sender. Null when the text has no such token at all.
 */
function nonFiniteSentinels(text: string): Sentinels | null {
  if (!text.includes("NaN") && !text.includes("Infinity")) return null;
  let tag = "7190423";
  while (text.includes(tag)) tag += "3";
  const prefix = `0E-${tag}`;
  const s = { prefix, nan: `${prefix}1`, inf: `${prefix}2`, negInf: `${prefix}3` };
  return {
    ...s,
    values: new Map([
      [s.nan, Number.NaN],
      [s.inf, Number.POSITIVE_INFINITY],
      [s.negInf, Number.NEGATIVE_INFINITY],
    ]),
  };
}

function replaceNonFinite(text: string, s: Sentinels): string {
  let out = "";
  let start = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c /* \ */) i++;
      else if (c === 0x22 /* " */) inString = false;
      continue;
    }
    if (c === 0x22) {
      inString = true;
      continue;
    }
    let token: string | null = null;
    let sentinel = "";
    if (c === 0x4e /* N */ && text.startsWith("NaN", i)) [token, sentinel] = ["NaN", s.nan];
    else if (c === 0x49 /* I */ && text.startsWith("Infinity", i)) [token, sentinel] = ["Infinity", s.inf];
    else if (c === 0x2d /* - */ && text.startsWith("-Infinity", i)) [token, sentinel] = ["-Infinity", s.negInf];
    if (token === null) continue;
    out += text.slice(start, i) + sentinel;
    i += token.length - 1;
    start = i + 1;
  }
  return out + text.slice(start);
}

/**
 * Compact JSON. A non-finite number is written as a number token with a capital E (0E0 NaN,
 * 1E1 Infinity, -1E1 -Infinity), which neither JSON.stringify nor a bigint ever writes, so
 * pythonText() can tell them from every real number and write Python's tokens instead.
 */
function compact(value: unknown): string {
  return nativeJson(value) ?? losslessJson(value);
}

/** JSON.stringify's text when it is exact; null when the value holds a bigint or a non-finite number. */
function nativeJson(value: unknown): string | null {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (e) {
    if (!(e instanceof TypeError) || !hasBigInt(value)) throw e;
    return null;
  }
  if (text === undefined) return "null";
  if (text.includes("null") && hasNonFinite(value)) return null;
  return text;
}

function losslessJson(value: unknown): string {
  return losslessStringify(value, undefined, undefined, NON_FINITE) ?? "null";
}

const NON_FINITE: NumberStringifier[] = [
  {
    test: (v) => typeof v === "number" && !Number.isFinite(v),
    stringify: (v) => (Number.isNaN(v) ? "0E0" : (v as number) > 0 ? "1E1" : "-1E1"),
  },
];

function hasBigInt(v: unknown, depth = 0): boolean {
  if (typeof v === "bigint") return true;
  if (typeof v !== "object" || v === null || depth > 200) return false;
  for (const x of Array.isArray(v) ? v : Object.values(v)) if (hasBigInt(x, depth + 1)) return true;
  return false;
}

/** Every envelope has a null, so this runs on each one: index and key loops, no arrays of values. */
function hasNonFinite(v: unknown, depth = 0): boolean {
  if (typeof v === "number") return !Number.isFinite(v);
  if (typeof v !== "object" || v === null || depth > 200) return false;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) if (hasNonFinite(v[i], depth + 1)) return true;
    return false;
  }
  for (const k in v) if (Object.hasOwn(v, k) && hasNonFinite((v as Record<string, unknown>)[k], depth + 1)) return true;
  return false;
}

/**
 * One linear pass over compact JSON: outside strings, turn the capital-E tokens back into
 * NaN/Infinity/-Infinity and (when `python`) add Python's spaces; inside strings (when `python`),
 * escape what ensure_ascii escapes.
 */
function pythonText(text: string, python: boolean): string {
  let out = "";
  let inString = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c /* \ */) {
        i++; // JSON.stringify's own escapes (\" \\ \n \u00XX ...) are already Python's
      } else if (c === 0x22 /* " */) {
        inString = false;
      } else if (c > 0x7e && python) {
        out += `${text.slice(start, i)}\\u${c.toString(16).padStart(4, "0")}`;
        start = i + 1;
      }
    } else if (c === 0x22) {
      inString = true;
    } else if (python && (c === 0x2c /* , */ || c === 0x3a) /* : */) {
      out += `${text.slice(start, i + 1)} `;
      start = i + 1;
    } else if (c === 0x45 /* E */) {
      // 0E0, 1E1 or -1E1 (see compact()): the token starts one or two characters back.
      const negative = text.charCodeAt(i - 2) === 0x2d;
      const tokenStart = negative ? i - 2 : i - 1;
      const word = text.charCodeAt(i - 1) === 0x30 ? "NaN" : negative ? "-Infinity" : "Infinity";
      out += text.slice(start, tokenStart) + word;
      i += 1;
      start = i + 1;
    }
  }
  return out + text.slice(start);
}
