import type { BrokerControl } from "../control/broker-control.js";
import { ProtocolError } from "../errors.js";
import type { TransportMessage } from "../protocol/transport-message.js";

/**
 * The broker contract. A broker moves TransportMessages (headers, properties, body bytes; built
 * by src/protocol) between queues. How it frames them in its store (kombu's Redis envelope, a
 * row, an AMQP frame) stays inside its folder, and so do store words (lists, tables, leases).
 * Bytes it cannot frame are still handed out, as an unframed Delivery with the reason, so a
 * malformed message can always be dead-lettered byte for byte.
 *
 * Delivery is at-least-once. With capabilities.delivery "lease", fetch() leases messages for a
 * visibility timeout; a message that is neither acked nor extended before the lease ends is
 * handed out again (redelivered=true). Callers rely only on what capabilities declare.
 */
export interface BrokerCapabilities {
  /**
   * The broker can hold a message until a time (publish's and release()'s availableAt) without a
   * worker holding it. Without it, availableAt is ignored (the message is available at once) and
   * a worker holds an early message itself (see deferral.ts).
   */
  readonly delayedDelivery: boolean;
  /**
   * Which priority is served first among messages of one queue: "lowest-first" (0 first, as
   * kombu's Redis transport does), "highest-first" (9 first, as RabbitMQ does), or "none".
   */
  readonly priorityOrder: "lowest-first" | "highest-first" | "none";
  /** Where now(), leases and availableAt are judged: the store's own clock, or this process's. */
  readonly clock: "store" | "local";
  /**
   * "lease": fetch() leases for a visibility timeout that extend() moves forward; an unsettled
   * message comes back when its lease ends. "push-ack": the broker holds a delivery until ack or
   * until the consumer's connection ends; extend() has nothing to do.
   */
  readonly delivery: "lease" | "push-ack";
  /** publishOnce() is available: a message published under a key is not published again under it while the key lives. */
  readonly dedupedPublish: boolean;
  /**
   * publishEvent() is available: Celery's monitoring events reach `celery events`, Flower and
   * celery-exporter on this broker (see src/events). Without it, a worker cannot send events.
   */
  readonly events: boolean;
}

/** Where an event goes: Celery's event exchange and the event's routing key ("task.succeeded"). */
export interface EventRouting {
  exchange: string;
  routingKey: string;
}

export interface PublishOptions {
  queue: string;
  /** 0..9; which is served first is capabilities.priorityOrder. */
  priority: number;
  /** Epoch ms before which the message is not handed out; null = now. Ignored without delayedDelivery. */
  availableAt: number | null;
}

interface DeliveryBase {
  /** Opaque handle for ack/extend/release/deadLetter. */
  readonly tag: string;
  readonly queue: string;
  /** True when an earlier delivery of this message ended without an ack. */
  readonly redelivered: boolean;
}

/** A message the broker could frame. */
export interface FramedDelivery extends DeliveryBase {
  readonly message: TransportMessage;
}

/** Bytes the broker holds but cannot frame as a message: dead-letter it, it is kept byte for byte. */
export interface UnframedDelivery extends DeliveryBase {
  readonly message: null;
  /** The transport's bytes, exactly as it holds them. */
  readonly raw: Buffer;
  /** Why they are not a message. */
  readonly reason: string;
}

export type Delivery = FramedDelivery | UnframedDelivery;

export interface FetchOptions {
  /** How long the lease lasts before the message is handed out again (lease brokers). */
  visibilityTimeoutMs: number;
  /** Wait up to this long for at least one message; 0 = return at once. */
  waitMs: number;
  /** Abort waiting early (shutdown). */
  signal?: AbortSignal;
}

export interface DeadLetterQuery {
  /** Where the previous page ended (its `next`); absent or null for the newest. */
  cursor?: string | null;
  /** At most this many (default 100). */
  limit?: number;
}

export interface DeadLetterPage {
  /** Newest first. */
  items: DeadLetter[];
  /** Pass as `cursor` for the next (older) page; null when there is none. */
  next: string | null;
}

/** One message of a publishMany() batch. */
export interface Outgoing {
  message: TransportMessage;
  options: PublishOptions;
}

export interface Broker {
  readonly capabilities: BrokerCapabilities;
  /** The URL with any password replaced by "***". */
  readonly url: string;
  /** The broker's clock (capabilities.clock), epoch ms: ETA and message expiry are judged by it. */
  now(): Promise<number>;
  publish(message: TransportMessage, options: PublishOptions): Promise<void>;
  /**
   * Publish many messages in one round trip or one transaction (app.sendMany). All of them are
   * published or, when it throws, none of them is known to be: the caller sends the batch again
   * (at-least-once, as with publish()). Order within one queue and priority is kept.
   */
  publishMany(batch: readonly Outgoing[]): Promise<void>;
  /**
   * Publish unless a message was already published under `key` in the last keyTtlMs; true when
   * this call published. The check and the publish are one atomic step in the store, so a sender
   * that retries (or another process resending for a sender that died) cannot publish twice.
   * Beat sends its fires through it. Present when capabilities.dedupedPublish.
   */
  publishOnce?(key: string, message: TransportMessage, options: PublishOptions, keyTtlMs: number): Promise<boolean>;
  /**
   * Broadcast a monitoring event to whoever listens now, as Celery's event dispatcher does; with
   * nobody listening it is dropped (nothing is stored, nothing grows). Present when
   * capabilities.events.
   */
  publishEvent?(message: TransportMessage, routing: EventRouting): Promise<void>;
  /** Take up to `max` messages from `queues` (earlier queues first, then by priorityOrder, then FIFO). */
  fetch(queues: readonly string[], max: number, options: FetchOptions): Promise<Delivery[]>;
  /** The message is done; remove it for good. */
  ack(delivery: Delivery): Promise<void>;
  /** Keep these leases alive for another visibilityTimeoutMs (a live worker is still on them). A no-op for "push-ack". */
  extend(deliveries: readonly Delivery[], visibilityTimeoutMs: number): Promise<void>;
  /** Give the message back, to be handed out at `availableAt` (null = now; ignored without delayedDelivery). */
  release(delivery: Delivery, availableAt: number | null): Promise<void>;
  /** Move the message aside with a reason; it is kept (its transport bytes unchanged), not lost. */
  deadLetter(delivery: Delivery, reason: string): Promise<void>;
  /** Dead-lettered messages a page at a time, newest first (for inspection and tests). */
  deadLetters(query?: DeadLetterQuery): Promise<DeadLetterPage>;
  /** Celery's remote control (ping, inspect, revoke, shutdown) over this broker, when it has a way to carry it. */
  readonly control?: BrokerControl;
  close(): Promise<void>;
}

export interface DeadLetter {
  /** The transport's bytes for the message, exactly as it held them. */
  raw: Buffer;
  /** The message, when the transport can frame those bytes; null when it cannot. */
  message: TransportMessage | null;
  queue: string;
  reason: string;
  /** Epoch ms. */
  at: number;
}

export const DEFAULT_DEAD_LETTER_PAGE = 100;

/** The page size of a query, checked: an integer >= 1. */
export function deadLetterLimit(query: DeadLetterQuery | undefined): number {
  const limit = query?.limit ?? DEFAULT_DEAD_LETTER_PAGE;
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`Expected deadLetters limit to be an integer >= 1, got ${limit}`);
  return limit;
}

/** The cursor of a query as the integer a broker wrote into it, or null for the first page. */
export function deadLetterCursor(query: DeadLetterQuery | undefined): number | null {
  const cursor = query?.cursor ?? null;
  if (cursor === null) return null;
  const n = Number(cursor);
  if (!/^\d+$/.test(cursor) || !Number.isSafeInteger(n))
    throw new RangeError(`Expected deadLetters cursor to be the "next" of an earlier page, got ${JSON.stringify(cursor)}`);
  return n;
}

/**
 * A Delivery from stored bytes: framed by `frame`, or, when `frame` throws a ProtocolError,
 * unframed with its reason. Other errors are the store's and propagate.
 */
export function deliveryOf(base: DeliveryBase, raw: string, frame: (raw: string) => TransportMessage): Delivery {
  try {
    return { ...base, message: frame(raw) };
  } catch (e) {
    if (!(e instanceof ProtocolError)) throw e;
    return { ...base, message: null, raw: Buffer.from(raw, "utf8"), reason: e.message };
  }
}

/** A dead letter from stored bytes, with its message when `frame` can read them. */
export function deadLetterOf(
  raw: string,
  frame: (raw: string) => TransportMessage,
  fields: Omit<DeadLetter, "raw" | "message">,
): DeadLetter {
  let message: TransportMessage | null = null;
  try {
    message = frame(raw);
  } catch {
    // Kept as bytes: that is why it is a dead letter.
  }
  return { raw: Buffer.from(raw, "utf8"), message, ...fields };
}
