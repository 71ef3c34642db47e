import { StoreUnavailableError } from "../errors.js";
import type { ResultBackend, StoredResult } from "./result-backend.js";

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

/**
 * What a retention store can do, declared rather than guessed: cleanup, archive, stats and the
 * conformance suite pick their behaviour (and their test cases) by these.
 */
export interface RetentionCapabilities {
  /** Results carry a tier and its action. False: every result reads tier null, action "delete" (Celery's table). */
  readonly tiers: boolean;
  /**
   * remove() with `remember` leaves a tombstone: the id reads EXPIRED for the grace window, and,
   * for a result an archive removed, names the archive file. False: a removed id reads unknown.
   */
  readonly tombstones: boolean;
  /** Each result has its own expiresAt. False: one rule for the whole store (Celery's result_expires) or none. */
  readonly perResultExpiry: boolean;
  /** dropExpired() removes what expired before an instant in one operation (a partition drop); cleanup calls it first. */
  readonly bulkExpiry: boolean;
  /** store() and put() take Ebb's results, JSON values. False: the store is written by someone else (Celery's pickles), and put() takes only what was read from such a store. */
  readonly ebbResults: boolean;
}

/** What dropExpired() removed. */
export interface DropOutcome {
  removed: number;
  /** Bytes freed, as ResultRecord.bytes counts them (0 when the store cannot tell). */
  bytes: number;
  /** By tier name, "none" for results without a tier, when the store can tell. */
  byTier?: Record<string, { removed: number; bytes: number }>;
}

/**
 * Where an archive put a result that was then removed from the store: its tombstone carries it, so
 * the id reads EXPIRED with `archived`, and get() throws ResultArchivedError naming the file.
 */
export interface ArchiveLocation {
  /** The archive file (absolute path). */
  file: string;
  /** When the archive was written, epoch ms. */
  at: number;
}

export interface RemoveOptions {
  /** Keep a tombstone, so each id still reads EXPIRED for the grace window (stores that declare tombstones). */
  remember: boolean;
  /** The results are in this complete, verified archive: their tombstones say so. Only with remember. */
  archive?: ArchiveLocation;
}

/**
 * The store's own numbers for `ebb stats` (printed under "store" by --json, as they are). Every
 * field but kind is optional: each store gives what it can cheaply.
 */
export interface StoreFacts {
  kind: "memory" | "sqlite" | "redis" | "celery-db" | (string & {});
  /** Results in the store, where that is known without a scan. */
  results?: number;
  /** Tombstones kept (ids that read EXPIRED after cleanup); false when the store keeps none. */
  tombstones?: number | false;
  /** A database file: its path (null in memory), size, write-ahead log and pages. */
  file?: string | null;
  fileBytes?: number;
  walBytes?: number;
  pageSize?: number;
  pageCount?: number;
  freePages?: number;
  /** A memory server (Redis): bytes used (INFO used_memory), its limit (0 = none) and eviction policy; null/"unknown" when it will not say. */
  usedMemory?: number | null;
  maxmemory?: number | null;
  maxmemoryPolicy?: string;
  /** Result keys, and those without a TTL (permanent, archive-pending and held results: never removed by a TTL). */
  resultKeys?: number;
  resultKeysWithoutTtl?: number;
  /** Stored values scans met that are not Celery JSON (skipped, never removed). */
  unreadableValues?: number;
  /** A table written by someone else (Celery's), and the expiry rule applied to its rows. */
  table?: string;
  resultExpiresMs?: number | null;
  /** A partitioned table (PostgreSQL): its bytes on disk (indexes included), its partitions, and dead rows not yet vacuumed. */
  tableBytes?: number;
  partitions?: number;
  deadTuples?: number;
  /** Something to act on, e.g. an eviction policy that can drop results before their time. */
  warning?: string;
}

export interface RetentionStore {
  readonly retentionCapabilities: RetentionCapabilities;
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
  remove(records: readonly ResultRecord[], options: RemoveOptions): Promise<RemoveOutcome>;
  /** Mark results as archived (after their archive is complete and verified). Returns how many were marked. */
  markArchived(taskIds: readonly string[]): Promise<number>;
  /** Put a legal hold on a result, or release it. False when there is no such result. */
  setHeld(taskId: string, held: boolean): Promise<boolean>;
  /** Write a result as it is (restore). expiresAt is taken as given; an existing result with the same id is replaced only if `replace`. */
  put(result: StoredResult, options: { replace: boolean }): Promise<boolean>;
  /** Numbers the store can give cheaply beyond what a scan sees (Redis: used_memory, maxmemory-policy, keys without TTL). */
  storeFacts(): Promise<StoreFacts>;
  /**
   * Stores that declare bulkExpiry: remove at once (e.g. drop the partitions of) results that
   * expired before `before` and that cleanup would remove anyway: action "delete", not held,
   * ready. What it leaves, cleanup's scan still sees and judges. Never called on other stores.
   */
  dropExpired?(before: number): Promise<DropOutcome>;
  /**
   * Drop bookkeeping whose grace window is over, in bounded batches; returns how many entries
   * went. Optional: Redis trims its expiry index here (it also does so by itself as it works).
   */
  housekeep?(): Promise<number>;
}

/** A result backend together with its retention operations (every store Ebb has is both). */
export type RetentionBackend = ResultBackend & RetentionStore;

/**
 * The one check that a backend can serve retention operations: it says so by declaring
 * `retention` (see ResultBackend). Throws StoreUnavailableError (exit 69) naming the store and
 * what was asked.
 */
export function retentionStoreOf(backend: ResultBackend, wanted: string): RetentionBackend {
  const store = backend.retention ?? null;
  if (store === null)
    throw new StoreUnavailableError(
      `The result store ${backend.url} does not support retention operations (${wanted}); use sqlite://, redis://, memory:// or Celery's db+ tables for them`,
    );
  return store;
}
