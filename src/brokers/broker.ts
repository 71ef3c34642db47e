/**
 * The broker contract. A broker moves opaque message strings (Celery protocol v2 envelopes,
 * encoded by src/protocol) between queues; it never parses them, so a malformed message can
 * always be dead-lettered byte for byte. Store words (lists, tables, leases) stay inside each
 * broker's folder.
 *
 * Delivery is at-least-once: fetch() leases messages for a visibility timeout; a message that
 * is neither acked nor extended before the lease ends is handed out again (redelivered=true).
 */
export interface BrokerCapabilities {
  /** The broker can hold a message until a time (ETA/countdown/retry) without a worker holding it. */
  readonly delayedDelivery: boolean;
  /** Priority 0..9 is honoured (0 is served first, as in kombu's Redis transport). */
  readonly priorities: boolean;
  /** publishOnce() is available: a message published under a key is not published again under it while the key lives. */
  readonly dedupedPublish: boolean;
}

export interface PublishOptions {
  queue: string;
  /** 0..9; 0 is served first. */
  priority: number;
  /** Epoch ms before which the message is not handed out; null = now. Brokers without delayedDelivery ignore it. */
  availableAt: number | null;
}

export interface Delivery {
  /** Opaque handle for ack/extend/release/deadLetter. */
  readonly tag: string;
  /** The message exactly as published. */
  readonly raw: string;
  readonly queue: string;
  /** True when an earlier lease on this message ended without an ack. */
  readonly redelivered: boolean;
}

export interface FetchOptions {
  /** How long the lease lasts before the message is handed out again. */
  visibilityTimeoutMs: number;
  /** Wait up to this long for at least one message; 0 = return at once. */
  waitMs: number;
  /** Abort waiting early (shutdown). */
  signal?: AbortSignal;
}

export interface Broker {
  readonly capabilities: BrokerCapabilities;
  /** The URL with any password replaced by "***". */
  readonly url: string;
  /** The store's clock, epoch ms: ETA and message expiry are judged by it, not by the worker's. */
  now(): Promise<number>;
  publish(raw: string, options: PublishOptions): Promise<void>;
  /**
   * Publish unless a message was already published under `key` in the last keyTtlMs; true when
   * this call published. The check and the publish are one atomic step in the store, so a sender
   * that retries (or another process resending for a sender that died) cannot publish twice.
   * Beat sends its fires through it. Present when capabilities.dedupedPublish.
   */
  publishOnce?(key: string, raw: string, options: PublishOptions, keyTtlMs: number): Promise<boolean>;
  /** Lease up to `max` messages from `queues` (earlier queues first, then by priority, then FIFO). */
  fetch(queues: readonly string[], max: number, options: FetchOptions): Promise<Delivery[]>;
  /** The message is done; remove it for good. */
  ack(delivery: Delivery): Promise<void>;
  /** Keep these leases alive for another visibilityTimeoutMs (a live worker is still on them). */
  extend(deliveries: readonly Delivery[], visibilityTimeoutMs: number): Promise<void>;
  /** Give the message back, to be handed out at `availableAt` (null = now). */
  release(delivery: Delivery, availableAt: number | null): Promise<void>;
  /** Move the message aside with a reason; it is kept, not lost. */
  deadLetter(delivery: Delivery, reason: string): Promise<void>;
  /** Dead-lettered messages, newest first (for inspection and tests). */
  deadLetters(limit?: number): Promise<DeadLetter[]>;
  close(): Promise<void>;
}

export interface DeadLetter {
  raw: string;
  queue: string;
  reason: string;
  /** Epoch ms. */
  at: number;
}
