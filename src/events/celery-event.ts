import { dumpsCeleryJson } from "../protocol/celery-json.js";
import type { TransportMessage } from "../protocol/transport-message.js";

/**
 * Celery's monitoring events (celery/events/event.py, dispatcher.py), as `celery events`,
 * Flower and celery-exporter read them. An event is one flat JSON object:
 *
 *   {hostname, utcoffset, pid, clock, ...fields of its type, timestamp, type}
 *
 * sent on the `celeryev` exchange with routing key = type with "-" → "." ("task.succeeded"),
 * header {hostname}, delivery_mode 1 (transient), content type application/json. How a
 * transport carries it (on Redis: PUBLISH on a kombu fanout channel) is the broker's business.
 */
export const EVENT_EXCHANGE = "celeryev";

export type WorkerEventType = "worker-online" | "worker-heartbeat" | "worker-offline";
export type TaskEventType = "task-received" | "task-started" | "task-succeeded" | "task-failed" | "task-retried" | "task-revoked";
export type EventType = WorkerEventType | TaskEventType;

/** What every event carries, whoever sends it. */
export interface EventEnvelopeFields {
  /** The sender's node name ("ebb-123@host"); Celery's workers use "celery@host". */
  hostname: string;
  /** Hours west of UTC, as Python's time.timezone // 3600 (0 on a UTC machine). */
  utcoffset: number;
  pid: number;
  /** The sender's Lamport clock value for this event. */
  clock: number;
  /** Unix time in seconds (a float, as Python's time.time()). */
  timestamp: number;
  type: EventType;
}

export type CeleryEvent = EventEnvelopeFields & Record<string, unknown>;

/** The routing key Celery publishes an event under: "task-succeeded" → "task.succeeded". */
export function routingKeyOf(type: string): string {
  return type.replaceAll("-", ".");
}

/** The event as the message a broker carries (the transport frames it). */
export function encodeEvent(event: CeleryEvent): TransportMessage {
  return {
    headers: { hostname: event.hostname },
    properties: { delivery_mode: 1 },
    body: Buffer.from(dumpsCeleryJson(event), "utf8"),
    contentType: "application/json",
    contentEncoding: "utf-8",
  };
}

/** Python's celery.utils.time.utcoffset(): the local offset in hours west of UTC, floored. */
export function localUtcOffset(at: Date = new Date()): number {
  return Math.floor(at.getTimezoneOffset() / 60);
}
