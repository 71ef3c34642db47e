import { dumpsCeleryJson, parseCeleryJson } from "../../protocol/celery-json.js";

/**
 * The few places the Redis broker must look inside a message, all to do what kombu does to it:
 * the unacked value [message, exchange, routing_key], and the redelivered flags that kombu's
 * _do_restore_message sets before it pushes a message back. Everything else stays opaque.
 */

/** The tail of an unacked value after the message, as Python's json.dumps writes it: `, "", "celery"]`. */
export function unackedTail(exchange: string, routingKey: string): string {
  return `, ${dumpsCeleryJson(exchange)}, ${dumpsCeleryJson(routingKey)}]`;
}

export interface UnackedEntry {
  message: unknown;
  exchange: string;
  routingKey: string;
}

/** An unacked hash value, or null when it is not the [message, exchange, routing_key] kombu writes. */
export function parseUnacked(value: string): UnackedEntry | null {
  let parsed: unknown;
  try {
    parsed = parseCeleryJson(value);
  } catch {
    return null;
  }
  if (!Array.isArray(parsed) || parsed.length !== 3) return null;
  const [message, exchange, routingKey] = parsed as [unknown, unknown, unknown];
  if (typeof exchange !== "string" || typeof routingKey !== "string") return null;
  return { message, exchange, routingKey };
}

export interface Requeue {
  /** The string to push back onto the list. */
  payload: string;
  /** True when the flag could not be written into the message, so Ebb keeps it beside it (ebb.redelivered). */
  mark: boolean;
  /** properties.priority of an envelope, for the list it goes back to; null when it has none. */
  priority: number | null;
}

/**
 * What goes back on the list for a message handed out again. Like kombu: set
 * headers.redelivered, then properties.delivery_info.redelivered, stopping at the first that is
 * missing, and dump the envelope as Python would. A message that is not a JSON object goes back
 * byte for byte, and so does one without headers (there is nowhere to put the flag); both are
 * flagged beside the message instead.
 */
export function requeueOf(message: unknown): Requeue {
  if (typeof message === "string") {
    let parsed: unknown;
    try {
      parsed = parseCeleryJson(message);
    } catch {
      return { payload: message, mark: true, priority: null };
    }
    if (!isObject(parsed) || !isObject(parsed.headers)) return { payload: message, mark: true, priority: null };
    message = parsed;
  }
  if (!isObject(message)) return { payload: dumpsCeleryJson(message), mark: true, priority: null };
  const properties = message.properties;
  const priority = isObject(properties) && typeof properties.priority === "number" ? properties.priority : null;
  if (!isObject(message.headers)) return { payload: dumpsCeleryJson(message), mark: true, priority };
  message.headers.redelivered = true;
  if (isObject(properties) && isObject(properties.delivery_info)) properties.delivery_info.redelivered = true;
  return { payload: dumpsCeleryJson(message), mark: false, priority };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
