import type { Broker, Delivery } from "../brokers/broker.js";
import type { Watch } from "../change-hub.js";
import type { StoredState } from "../states.js";
import type { ChordStore } from "./chord-store.js";
import type { RetentionBackend } from "./retention-store.js";

export type { Watch } from "../change-hub.js";

/**
 * The result-backend contract. Store words (keys, tables, TTLs) stay inside each backend's folder.
 *
 * Time comes from the store: store() stamps dateDone with the store's clock and computes
 * expiresAt = dateDone + lifetimeMs there, so workers with skewed clocks agree. All instants
 * are epoch milliseconds, UTC.
 *
 * A ready result (SUCCESS, FAILURE, REVOKED) is final: storing again for the same task id keeps
 * the first one. That makes at-least-once redelivery store a result once.
 */
export interface BackendCapabilities {
  /** The store drops expired entries by itself (Redis TTL); cleanup is then only for archive tiers. */
  readonly nativeExpiry: boolean;
  /** watch() is woken by the store itself (pub/sub) rather than by polling. */
  readonly pushNotify: boolean;
}

export type RetentionAction = "delete" | "archive";

/** Celery's optional "extended" fields (result_extended=True). */
export interface ExtendedFields {
  name?: string | null;
  args?: unknown[] | null;
  kwargs?: Record<string, unknown> | null;
  worker?: string | null;
  retries?: number | null;
  queue?: string | null;
}

export interface StoreRequest extends ExtendedFields {
  taskId: string;
  status: StoredState;
  /** A JSON value; for FAILURE/RETRY/REVOKED the Celery exception dict {exc_type, exc_message, exc_module}. */
  result: unknown;
  traceback: string | null;
  children: unknown[];
  /** How long the result lives after dateDone; null = never. */
  lifetimeMs: number | null;
  /** The tier that gave the lifetime, if any. */
  tier: string | null;
  /** What cleanup does once it has expired. */
  action: RetentionAction;
}

export interface StoredResult extends ExtendedFields {
  taskId: string;
  status: StoredState;
  result: unknown;
  traceback: string | null;
  children: unknown[];
  /** Epoch ms, store clock; null for states that are not done (STARTED, RETRY). */
  dateDone: number | null;
  /** Epoch ms; null = never expires. */
  expiresAt: number | null;
  tier: string | null;
  action: RetentionAction;
  held: boolean;
}

export type Lookup =
  | { kind: "found"; result: StoredResult }
  /**
   * It existed and its lifetime has passed (still stored and not yet cleaned, or remembered by a
   * tombstone), or an archive removed it (archived: where, and when; expiredAt is then when it
   * left the store, or its own expiry if that came first).
   */
  | { kind: "expired"; taskId: string; expiredAt: number; archived?: { file: string; at: number } }
  | { kind: "missing" };

export interface LookupOptions {
  /** How long after expiry an id is still reported as expired rather than unknown. */
  graceMs: number;
}

export interface StoreOutcome {
  /** False when a ready result was already there and was kept. */
  stored: boolean;
  result: StoredResult;
}

export interface ResultBackend {
  readonly capabilities: BackendCapabilities;
  /**
   * This store's retention operations (cleanup, archive, restore, stats, holds), or null when it
   * has none. Declared, never guessed from the methods an object happens to have; every store
   * Ebb has is its own retention store (`retention = this`). See retentionStoreOf().
   */
  readonly retention: RetentionBackend | null;
  /**
   * Chord counting (chord-store.ts), or null/absent when this store cannot count chord parts:
   * the worker then fails a chord's body with a ChordError naming the store.
   */
  readonly chords?: ChordStore | null;
  /** The URL with any password replaced by "***". */
  readonly url: string;
  /** The store's clock, epoch ms. */
  now(): Promise<number>;
  store(request: StoreRequest): Promise<StoreOutcome>;
  lookup(taskId: string, options: LookupOptions): Promise<Lookup>;
  /** Remove a result on purpose; afterwards the id is unknown (PENDING), not EXPIRED. */
  forget(taskId: string): Promise<boolean>;
  /**
   * Watch one result for changes. Resolves once the watch is live, so a change made after
   * this call is never missed: "watch, look, wait" cannot lose a wake-up. Push-capable
   * stores wake on the store's notification; others wake at least every poll interval.
   */
  watch(taskId: string): Promise<Watch>;
  /**
   * Store a task's outcome and ack its message as one step, when this backend and `broker` share
   * one store (one Redis server and database, one SQLite file): one script call or one
   * transaction, for many tasks finishing together. Null (or absent) when they do not: the worker
   * then stores, and acks once the store has succeeded. Either way the ack never lands without
   * the result (at-least-once). The step settles the delivery as broker.ack() would.
   */
  finishWith?(broker: Broker): FinishStep | null;
  close(): Promise<void>;
}

/** See ResultBackend.finishWith(). Resolves once both the result and the ack are durable. */
export type FinishStep = (request: StoreRequest, delivery: Delivery) => Promise<StoreOutcome>;
