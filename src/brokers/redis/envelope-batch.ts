import { randomUUID } from "node:crypto";
import { dumpsCeleryJson } from "../../protocol/celery-json.js";
import type { TransportMessage } from "../../protocol/transport-message.js";
import { envelopeRest, frameKombuEnvelope } from "./kombu-envelope.js";

/**
 * Many messages framed for one list at once, as frameKombuEnvelope() frames each, byte for byte.
 * The calls of one sendMany() differ only in a few strings (their ids, argsrepr, reply_to) and
 * their bodies, so the envelope is written once with a marker in place of each string that
 * varies, and each message is that text with its own strings (and body and delivery tag) put
 * in. A message whose other fields differ from the first's (a number, a null, an array, another
 * key order) is framed on its own.
 */
export function frameKombuEnvelopes(
  messages: readonly TransportMessage[],
  queue: string,
  priority: number,
  tags?: readonly string[],
): string[] {
  const tagOf = (i: number) => tags?.[i] ?? randomUUID();
  const first = messages[0];
  if (!first || messages.length < 2) return messages.map((m, i) => frameKombuEnvelope(m, queue, priority, tagOf(i)));
  const { varying, fits } = shapeOf(messages);
  const template = templateOf(first, varying, queue, priority);
  return messages.map((m, i) => {
    if (!template || !fits[i]) return frameKombuEnvelope(m, queue, priority, tagOf(i));
    let out = `{"body": "${m.body.toString("base64")}", ${template.pieces[0]}`;
    for (let s = 0; s < template.slots.length; s++) {
      const slot = template.slots[s]!;
      out += inner(slot === TAG ? tagOf(i) : (m[slot.part][slot.key] as string)) + template.pieces[s + 1];
    }
    return out;
  });
}

/**
 * Which strings vary across the messages (by key, in headers and properties), and which
 * messages have the first's shape otherwise: its content type and encoding, its keys in its
 * order, and equal values apart from those strings.
 */
export function shapeOf(messages: readonly TransportMessage[]) {
  const varying = { headers: new Set<string>(), properties: new Set<string>() };
  const first = messages[0];
  if (!first) return { varying, fits: [] };
  const keys = { headers: Object.keys(first.headers), properties: Object.keys(first.properties) };
  const fits = messages.map(
    (m) =>
      m.contentType === first.contentType &&
      m.contentEncoding === first.contentEncoding &&
      sameShape(first.headers, keys.headers, m.headers, varying.headers) &&
      sameShape(first.properties, keys.properties, m.properties, varying.properties),
  );
  return { varying, fits };
}

const MARK = `\u0001${randomUUID()}\u0001`;
const DUMPED_MARK = dumpsCeleryJson(MARK).slice(1, -1);
const TAG = "tag" as const;
type Slot = { part: "headers" | "properties"; key: string } | typeof TAG;

/**
 * The envelope of `first` with MARK in each varying string and the delivery tag, split at the
 * marks; null when the marks did not all come out where expected (then each is framed alone).
 */
export function templateOf(
  first: TransportMessage,
  varying: Record<"headers" | "properties", Set<string>>,
  queue: string,
  priority: number,
) {
  const slots: Slot[] = [];
  const masked = (part: "headers" | "properties") => {
    const out: Record<string, unknown> = {};
    for (const k in first[part]) {
      if (varying[part].has(k)) {
        out[k] = MARK;
        slots.push({ part, key: k });
      } else out[k] = first[part][k];
    }
    return out;
  };
  const headers = masked("headers");
  const properties = masked("properties");
  slots.push(TAG);
  const rest = envelopeRest({ ...first, headers, properties }, queue, priority, MARK);
  const pieces = rest.slice(1).split(DUMPED_MARK);
  // A varying property the framing drops or replaces (priority, delivery_info, ...) leaves a mark out.
  return pieces.length === slots.length + 1 ? { pieces, slots } : null;
}

/**
 * Whether `m` has `first`'s keys (`keys`) in that order with equal values, apart from strings
 * that differ: those keys are added to `varying`. Other values must be equal primitives, or
 * objects and arrays that are written alike.
 */
function sameShape(first: Record<string, unknown>, keys: readonly string[], m: Record<string, unknown>, varying: Set<string>): boolean {
  let i = 0;
  for (const k in m) {
    if (keys[i++] !== k) return false;
    const [a, b] = [first[k], m[k]];
    if (a === b) continue;
    if (typeof a === "string" && typeof b === "string") varying.add(k);
    else if (!sameObject(a, b)) return false;
  }
  return i === keys.length;
}

/** Two objects or arrays that dumpsCeleryJson writes alike (arrays of primitives, such as timelimit, compared by element). */
function sameObject(a: unknown, b: unknown): boolean {
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (
    Array.isArray(a) &&
    Array.isArray(b) &&
    a.length === b.length &&
    a.every((x, i) => x === b[i] && (x === null || typeof x !== "object"))
  )
    return true;
  return dumpsCeleryJson(a) === dumpsCeleryJson(b);
}

/** A string as it appears between the quotes of dumpsCeleryJson's output. */
function inner(s: string): string {
  return PLAIN.test(s) ? s : dumpsCeleryJson(s).slice(1, -1);
}

/** Printable ASCII without a quote or a backslash: written as it is. */
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;
