import { isUtf8 } from "node:buffer";
import { ProtocolError } from "../errors.js";
import { parseCeleryJson, stringifyCeleryJson } from "./celery-json.js";

/**
 * What a broker carries: the three parts Celery's as_task_v2 builds (headers, properties,
 * body) and the body's content type and encoding, as AMQP sends them. How a transport frames
 * this on the wire (kombu's Redis envelope with its base64 body and delivery_tag, an AMQP
 * frame, a table row) is the transport's business and lives in its folder under src/brokers/.
 */
export interface TransportMessage {
  /** Protocol v2 headers: task, id, eta, expires, retries, root_id, ... (and Ebb's ebb_* headers). */
  headers: Record<string, unknown>;
  /** Message properties: correlation_id, reply_to, delivery_mode, priority. No transport framing. */
  properties: Record<string, unknown>;
  /** The serialized body, as bytes (protocol v2 JSON: [args, kwargs, embed] in UTF-8). */
  body: Buffer;
  /** "application/json" for every message Ebb accepts. */
  contentType: string;
  /** "utf-8" for JSON bodies; "binary" for the bodies of other serializers. */
  contentEncoding: string;
}

/** A copy that shares nothing with `m`, so a store that keeps messages in memory is not changed by its callers. */
export function copyTransportMessage(m: TransportMessage): TransportMessage {
  return {
    headers: structuredClone(m.headers),
    properties: structuredClone(m.properties),
    body: Buffer.from(m.body),
    contentType: m.contentType,
    contentEncoding: m.contentEncoding,
  };
}

/**
 * One line of JSON for a store that keeps a message as text (the SQLite broker's rows, beat's
 * outbox). The body is kept as text when it is valid UTF-8 (readable in the store), as base64
 * under body64 otherwise, so any bytes survive. Not a wire format: nothing outside Ebb reads it.
 */
export function serializeTransportMessage(m: TransportMessage): string {
  return stringifyCeleryJson({
    contentType: m.contentType,
    contentEncoding: m.contentEncoding,
    headers: m.headers,
    properties: m.properties,
    ...(isUtf8(m.body) ? { body: m.body.toString("utf8") } : { body64: m.body.toString("base64") }),
  });
}

/** serializeTransportMessage() read back. Throws ProtocolError saying what is wrong. */
export function parseTransportMessage(text: string): TransportMessage {
  let parsed: unknown;
  try {
    parsed = parseCeleryJson(text);
  } catch (cause) {
    throw new ProtocolError(`The stored message is not JSON (starts ${JSON.stringify(text.slice(0, 40))})`, { cause });
  }
  if (!isObject(parsed)) throw new ProtocolError("The stored message is JSON but not an object");
  const { contentType, contentEncoding, headers, properties, body, body64 } = parsed;
  if (typeof contentType !== "string" || typeof contentEncoding !== "string")
    throw new ProtocolError("The stored message has no contentType/contentEncoding strings");
  if (!isObject(headers) || !isObject(properties)) throw new ProtocolError("The stored message has no headers/properties objects");
  let bytes: Buffer;
  if (typeof body === "string") bytes = Buffer.from(body, "utf8");
  else if (typeof body64 === "string") bytes = Buffer.from(body64, "base64");
  else throw new ProtocolError("The stored message has neither body nor body64");
  return { headers, properties, body: bytes, contentType, contentEncoding };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
