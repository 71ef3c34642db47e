import { sleepUntil, type Watch } from "../../change-hub.js";
import type { Clock } from "../../clock.js";
import { Closing } from "../../closing.js";
import { ConfigError } from "../../errors.js";
import { classifyRead } from "../../retention/expiry.js";
import type {
  BackendCapabilities,
  Lookup,
  LookupOptions,
  ResultBackend,
  StoreOutcome,
  StoreRequest,
  StoredResult,
} from "../result-backend.js";
import type {
  RemoveOptions,
  RemoveOutcome,
  ResultRecord,
  RetentionBackend,
  RetentionCapabilities,
  RetentionStore,
  ScanQuery,
  StoreFacts,
} from "../retention-store.js";
import { parseCeleryDbUrl } from "./celery-db-url.js";
import { dateDoneText, parseDateDone, recordToRow, rowToRecord, type CheckRow } from "./celery-row.js";
import { TASK_TABLE, type CeleryTable } from "./celery-table.js";
import { PostgresCeleryTable } from "./postgres-celery-table.js";
import { SqliteCeleryTable } from "./sqlite-celery-table.js";

export interface CeleryDbBackendOptions {
  /** db+sqlite:///relative.db, db+sqlite:////abs.db or db+postgresql://user:pass@host:port/db[?schema=NAME] (see celery-db-url.ts). */
  url: string;
  /** Injected store clock (tests). Default: the database's own clock. */
  clock?: Clock;
  /** Celery's result_expires in ms; a row then expires that long after its date_done. Overrides ?result_expires=. Default: none. */
  resultExpiresMs?: number | null;
  /** How often a watch looks again. Default 500 (Celery's own database backend polls every 0.5 s). */
  pollIntervalMs?: number;
  /** Rows per remove transaction. Default 500: short enough that Celery's workers never wait long on a lock. */
  removeBatchSize?: number;
}

/**
 * The celery_taskmeta table a Python Celery deployment's database backend writes, read by Ebb for
 * `ebb result`, cleanup, archive and stats without an app. Celery owns the table: Ebb never stores
 * results in it (store() refuses) and never unpickles its `result` column, which it reads as
 * {"pickle_base64": "..."} and keeps byte for byte for archive and restore.
 *
 *  - Rows carry no expiry. Given Celery's result_expires, a row expires that long after date_done,
 *    as Celery's own cleanup counts; without it, only --older-than (doneBy) selects rows.
 *  - STARTED and RETRY rows have date_done NULL: no doneBy ever selects them.
 *  - Removal is in batches by primary key, each re-checked in one short transaction.
 *  - There is no tombstone: a removed row reads unknown (PENDING), as it does in Celery.
 *  - Holds and archive marks live in side tables made on first use (celery-table.ts).
 */
export class CeleryDbBackend implements ResultBackend, RetentionStore {
  readonly capabilities: BackendCapabilities = { nativeExpiry: false, pushNotify: false };
  /** No tier column, no tombstone table, one result_expires for every row, and Celery writes the rows (pickles). */
  readonly retentionCapabilities: RetentionCapabilities = {
    tiers: false,
    tombstones: false,
    perResultExpiry: false,
    bulkExpiry: false,
    ebbResults: false,
  };
  readonly retention: RetentionBackend = this;
  readonly url: string;
  private readonly table: CeleryTable;
  private readonly resultExpiresMs: number | null;
  private readonly pollIntervalMs: number;
  private readonly removeBatchSize: number;
  private opening: Promise<this> | undefined;
  private readonly closing = new Closing();

  constructor(opts: CeleryDbBackendOptions) {
    const target = parseCeleryDbUrl(opts.url);
    this.url = target.display;
    this.resultExpiresMs = opts.resultExpiresMs !== undefined ? opts.resultExpiresMs : target.resultExpiresMs;
    this.pollIntervalMs = opts.pollIntervalMs ?? 500;
    this.removeBatchSize = opts.removeBatchSize ?? 500;
    this.table =
      target.kind === "sqlite"
        ? new SqliteCeleryTable(target.path, target.display, opts.clock)
        : new PostgresCeleryTable(target.connectionString, target.schema, target.display, opts.clock);
  }

  /** Open the database and check Celery's table is there: ConfigError / StoreUnavailableError naming the URL. */
  connect(): Promise<this> {
    this.opening ??= this.table.open().then(
      () => this,
      (error: unknown) => {
        this.opening = undefined;
        throw error;
      },
    );
    return this.opening;
  }

  now(): Promise<number> {
    return this.table.now();
  }

  async store(request: StoreRequest): Promise<StoreOutcome> {
    throw new ConfigError(
      `Cannot store result ${request.taskId}: ${this.url} is Celery's own result table, written by Celery: Ebb reads it (result, cleanup, archive, stats) but stores no results there; give Ebb its own backend (sqlite://, redis://, postgresql://)`,
    );
  }

  async lookup(taskId: string, options: LookupOptions): Promise<Lookup> {
    const record = await this.read(taskId);
    return classifyRead(taskId, record ?? undefined, undefined, await this.now(), options.graceMs);
  }

  forget(taskId: string): Promise<boolean> {
    return this.table.forget(taskId);
  }

  /** Polls: Celery's database has no notifications. */
  async watch(): Promise<Watch> {
    return {
      changed: (ms, signal) => this.closing.during(signal, (s) => sleepUntil(Math.min(ms, this.pollIntervalMs), s)),
      close: () => undefined,
    };
  }

  async *scan(query: ScanQuery): AsyncGenerator<ResultRecord[]> {
    if (!(Number.isInteger(query.batchSize) && query.batchSize > 0))
      throw new RangeError(`Expected batchSize to be a positive integer, got ${query.batchSize}`);
    // Celery's rows have no tier, and no expiry unless result_expires is known.
    if (typeof query.tier === "string") return;
    if (query.expiresBy !== undefined && this.resultExpiresMs === null) return;
    // expiresAt = date_done + result_expires, so "expires by T" is "done by T - result_expires".
    const limits = [query.doneBy, query.expiresBy === undefined ? undefined : query.expiresBy - this.resultExpiresMs!].filter(
      (x): x is number => x !== undefined,
    );
    const doneBy = limits.length === 0 ? null : dateDoneText(Math.min(...limits));
    for (let after = 0; ; ) {
      const rows = await this.table.page(after, query.batchSize, doneBy);
      const batch = rows
        .map((row) => rowToRecord(row, this.url, this.resultExpiresMs))
        .filter((r) => query.includeHeld === true || !r.held);
      if (batch.length > 0) yield batch;
      if (rows.length < query.batchSize) return;
      after = rows[rows.length - 1]!.id;
    }
  }

  async read(taskId: string): Promise<ResultRecord | null> {
    const row = await this.table.get(taskId);
    return row ? rowToRecord(row, this.url, this.resultExpiresMs) : null;
  }

  /** Re-checks each row in its batch's transaction (same status and date_done, not held). `remember` is not kept: see the class comment. */
  async remove(records: readonly ResultRecord[], _options: RemoveOptions): Promise<RemoveOutcome> {
    const outcome: RemoveOutcome = { removed: [], bytes: 0, kept: [] };
    for (let i = 0; i < records.length; i += this.removeBatchSize) {
      const chunk = new Map(records.slice(i, i + this.removeBatchSize).map((r) => [r.taskId, r]));
      const unchanged = (row: CheckRow): boolean => {
        const scanned = chunk.get(row.task_id);
        return (
          scanned !== undefined &&
          !row.held &&
          row.status === scanned.status &&
          parseDateDone(row.date_done, `date_done of ${row.task_id}`) === scanned.dateDone
        );
      };
      const removed = new Set(await this.table.removeChosen([...chunk.keys()], (rows) => rows.filter(unchanged).map((r) => r.id)));
      for (const [taskId, r] of chunk) {
        if (removed.has(taskId)) {
          outcome.removed.push(taskId);
          outcome.bytes += r.bytes;
        } else outcome.kept.push(taskId);
      }
    }
    return outcome;
  }

  markArchived(taskIds: readonly string[]): Promise<number> {
    return taskIds.length === 0 ? Promise.resolve(0) : this.table.markArchived(taskIds);
  }

  setHeld(taskId: string, held: boolean): Promise<boolean> {
    return this.table.setHeld(taskId, held);
  }

  /** Restore a row read from such a table: its pickle bytes go back exactly. A result without them cannot be written here. */
  async put(result: StoredResult, options: { replace: boolean }): Promise<boolean> {
    const row = recordToRow(result);
    if (!row) {
      throw new ConfigError(
        `Cannot put result ${result.taskId} into ${this.url}: Celery's ${TASK_TABLE} keeps results pickled and Ebb writes no pickles; ` +
          `only a result read from such a table (with its pickle bytes, resultPickleBase64) can go back. Restore it into an Ebb store (sqlite://, redis://) instead`,
      );
    }
    return this.table.write(row, options.replace);
  }

  async storeFacts(): Promise<StoreFacts> {
    return { kind: "celery-db", table: TASK_TABLE, resultExpiresMs: this.resultExpiresMs, tombstones: false };
  }

  async close(): Promise<void> {
    if (this.closing.closed) return;
    this.closing.close();
    await this.opening?.catch(() => undefined);
    await this.table.close();
  }
}
