import { randomUUID } from "node:crypto";
import { ProtocolError } from "../../errors.js";
import { dumpsCeleryJson, parseCeleryJson } from "../../protocol/celery-json.js";
import type { TransportMessage } from "../../protocol/transport-message.js";

/**
 * kombu's Redis framing of a message (kombu/transport/virtual/base.py, as the Redis transport
 * stores it on a list), byte for byte as Python's json.dumps writes it:
 *
 *   {"body": base64(body), "content-encoding": "utf-8", "content-type": "application/json",
 *    "headers": {...}, "properties": {correlation_id, reply_to, delivery_mode,
 *    delivery_info: {exchange, routing_key}, priority, body_encoding: "base64", delivery_tag}}
 *
 * The framing fields (the base64 body, body_encoding, delivery_tag, delivery_info) exist only
 * here: a TransportMessage has none of them.
 */

/** Properties kombu adds when it frames a message; they are not the message's own. */
const FRAMING = ["delivery_info", "body_encoding", "delivery_tag"] as const;

/**
 * A TransportMessage framed as kombu's Redis transport would put it on `queue`'s list at `priority`.
 * `exchange` is the one delivery_info names: "" for task queues (the default exchange, routing key =
 * queue); a named one (with `queue` then its routing key) for fanout and reply messages.
 */
export function frameKombuEnvelope(
  m: TransportMessage,
  queue: string,
  priority: number,
  deliveryTag: string = randomUUID(),
  exchange = "",
): string {
  return `{"body": "${m.body.toString("base64")}", ${envelopeRest(m, queue, priority, deliveryTag, exchange).slice(1)}`;
}

/**
 * The envelope without its body, as a JSON object: `{"content-encoding": ..., "properties":
 * {...}}`. frameKombuEnvelope() puts the base64 body in front (it needs no escaping and has no
 * separators, so it is spliced in rather than walked by dumpsCeleryJson).
 */
export function envelopeRest(m: TransportMessage, queue: string, priority: number, deliveryTag: string, exchange = ""): string {
  const { priority: _priority, ...own } = withoutFraming(m.properties);
  // kombu's order: the producer's properties, then setdefault delivery_info and priority, then
  // basic_publish's body_encoding and delivery_tag.
  return dumpsCeleryJson({
    "content-encoding": m.contentEncoding,
    "content-type": m.contentType,
    headers: m.headers,
    properties: {
      ...own,
      delivery_info: { exchange, routing_key: queue },
      priority,
      body_encoding: "base64",
      delivery_tag: deliveryTag,
    },
  });
}

/** A list entry → TransportMessage. Throws ProtocolError naming what is wrong when the bytes are not a kombu envelope. */
export function parseKombuEnvelope(raw: string): TransportMessage {
  let envelope: unknown;
  try {
    envelope = parseCeleryJson(raw);
  } catch (cause) {
    throw new ProtocolError(
      `The message is not JSON (starts ${JSON.stringify(raw.slice(0, 40))}); kombu's Redis transport stores a JSON envelope`,
      { cause },
    );
  }
  if (!isObject(envelope))
    throw new ProtocolError("The message is JSON but not an object; kombu's Redis transport stores a JSON object envelope");
  const headers = isObject(envelope.headers) ? envelope.headers : {};
  const properties = isObject(envelope.properties) ? envelope.properties : {};
  const body = envelope.body;
  if (typeof body !== "string") {
    throw new ProtocolError(
      `Message${typeof headers.task === "string" ? ` for task "${headers.task}"` : ""} has no string body in its kombu envelope`,
    );
  }
  const contentType = envelope["content-type"];
  const contentEncoding = envelope["content-encoding"];
  return {
    headers,
    properties: withoutFraming(properties),
    body: properties.body_encoding === "base64" ? Buffer.from(body, "base64") : Buffer.from(body, "utf8"),
    contentType: typeof contentType === "string" ? contentType : "",
    contentEncoding: typeof contentEncoding === "string" ? contentEncoding : "utf-8",
  };
}

/** A copy without the framing properties (built key by key: delete would slow every later read of it). */
function withoutFraming(properties: Record<string, unknown>): Record<string, unknown> {
  const own: Record<string, unknown> = {};
  for (const k in properties) if (!(FRAMING as readonly string[]).includes(k)) own[k] = properties[k];
  return own;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
