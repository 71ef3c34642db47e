import type { StoredResult } from "./result-backend.js";

/**
 * What retention operations (cleanup, archive, restore, stats, holds) need from a store, on top
 * of ResultBackend. Every store implements it: memory, SQLite, Redis (including the
 * celery-task-meta-* keys Python Celery wrote) and Celery's own database table.
 *
 * Rules every implementation keeps:
 *  - scan() streams in batches: memory stays bounded however many results there are. Never
 *    KEYS on Redis (SCAN or Ebb's index); never one unbounded SELECT.
 *  - remove() re-checks each record in the store, atomically per batch: it removes a result
 *    only if it is not held and is still the same result (same status and dateDone) that was
 *    scanned. A result changed or held since the scan is skipped and reported as kept.
 *  - Instants are epoch ms from the store's clock (now()).
 */
export interface ResultRecord extends StoredResult {
  /** Bytes the store spends on this result's value (serialized meta or row payload), for stats and --dry-run. */
  bytes: number;
  /** "ebb" for results Ebb wrote; "celery" for results a Python Celery deployment wrote (no tier, no hold flag of its own). */
  origin: "ebb" | "celery";
  /** True once the result is in a complete, verified archive (archive-tier results may then be cleaned). */
  archived: boolean;
  /** Celery's database backend keeps the result pickled: its raw bytes, base64, never unpickled. */
  resultPickleBase64?: string;
}

export interface ScanQuery {
  /** Results per batch. */
  batchSize: number;
  /** Only results whose expiresAt <= this (epoch ms). */
  expiresBy?: number;
  /** Only results whose dateDone <= this (epoch ms); results without a dateDone never match. */
  doneBy?: number;
  /** Only this tier; null = results with no tier. */
  tier?: string | null;
  /** Include held results (stats, archive listings). Default false. */
  includeHeld?: boolean;
}

export interface RemoveOutcome {
  /** Ids removed. */
  removed: string[];
  /** Bytes freed (sum of the removed records' bytes). */
  bytes: number;
  /** Ids kept because they changed or became held since the scan. */
  kept: string[];
}

export interface RetentionStore {
  /** The store's clock, epoch ms. */
  now(): Promise<number>;
  /** Stream results matching the query, batch by batch, in no particular order. */
  scan(query: ScanQuery): AsyncIterable<ResultRecord[]>;
  /** One result with its retention fields, or null. */
  read(taskId: string): Promise<ResultRecord | null>;
  /**
   * Remove these results (see the rules above). With `remember`, the store keeps a tombstone
   * so each id still reads EXPIRED for the grace window (cleanup of expired results does this;
   * forget-like removals do not).
   */
  remove(records: readonly ResultRecord[], options: { remember: boolean }): Promise<RemoveOutcome>;
  /** Mark results as archived (after their archive is complete and verified). Returns how many were marked. */
  markArchived(taskIds: readonly string[]): Promise<number>;
  /** Put a legal hold on a result, or release it. False when there is no such result. */
  setHeld(taskId: string, held: boolean): Promise<boolean>;
  /** Write a result as it is (restore). expiresAt is taken as given; an existing result with the same id is replaced only if `replace`. */
  put(result: StoredResult, options: { replace: boolean }): Promise<boolean>;
  /** Numbers the store can give cheaply beyond what a scan sees (Redis: used_memory, maxmemory-policy, keys without TTL). */
  storeFacts(): Promise<Record<string, unknown>>;
  /**
   * Drop bookkeeping whose grace window is over, in bounded batches; returns how many entries
   * went. Optional: Redis trims its expiry index here (it also does so by itself as it works).
   */
  housekeep?(): Promise<number>;
}

export function isRetentionStore(value: unknown): value is RetentionStore {
  return typeof value === "object" && value !== null && typeof (value as RetentionStore).scan === "function" && typeof (value as RetentionStore).remove === "function";
}
