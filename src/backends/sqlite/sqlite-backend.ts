import type Database from "better-sqlite3";
import type { Broker, Delivery } from "../../brokers/broker.js";
import { SqliteBroker } from "../../brokers/sqlite/sqlite-broker.js";
import type { Clock } from "../../clock.js";
import { checkRequest } from "../check-request.js";
import { storedOutcome } from "../stored-outcome.js";
import { classifyRead, stampsFor, type Tombstone } from "../../retention/expiry.js";
import { redactUrl } from "../../url.js";
import { openDatabase, storeClock, type SqliteHandle } from "../../sqlite/open-database.js";
import { sqlitePathFromUrl } from "../../sqlite/sqlite-url.js";
import type { Watch } from "../../change-hub.js";
import { Closing } from "../../closing.js";
import type {
  BackendCapabilities,
  FinishStep,
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
import { COLUMNS, DATE_DONE, EXPIRES_AT, fromRow, fromValues, toValues, type ResultRow } from "./result-rows.js";
import { SqliteRetention } from "./sqlite-retention.js";
import { sqliteCensus } from "./sqlite-census.js";
import type { Census, CensusOptions } from "../../monitor/census.js";
import type { ScheduleStore, ScheduleStoreHost } from "../../beat/schedule-store.js";
import { SqliteScheduleStore } from "./sqlite-schedule-store.js";
import { SqliteChords } from "./sqlite-chords.js";
import { TombstonePacks } from "./tombstone-packs.js";
import type { ChordStore } from "../chord-store.js";

export interface SqliteBackendOptions {
  url: string;
  /** Defaults to SQLite's own clock. */
  clock?: Clock;
  /** How long a watch waits before the caller looks again (changes made by other processes). Default 50. */
  pollIntervalMs?: number;
  /** How long cleanup's tombstones are kept (the app's expiredGrace). Default 7 days; a lookup() with a longer graceMs raises it. */
  graceMs?: number;
}

const DEFAULT_GRACE_MS = 7 * 86_400_000;

/**
 * Results in the ebb_results table (schema in src/sqlite/migrations.ts). store() reads the
 * store clock and upserts inside one BEGIN IMMEDIATE transaction, so date_done and expires_at
 * are decided by the store, and a ready row is never replaced (at-least-once redelivery stores
 * a result once). Stores made in one event-loop turn share that transaction (group commit, see
 * src/sqlite/group-commit.ts), with the broker's acks of the same turn when the broker is on the
 * same file; finishWith() stores a result and acks its message as one write of such a batch.
 * The retention operations live in sqlite-retention.ts.
 */
export class SqliteBackend implements ResultBackend, RetentionStore, ScheduleStoreHost {
  readonly capabilities: BackendCapabilities = { nativeExpiry: false, pushNotify: false };
  readonly retentionCapabilities: RetentionCapabilities = {
    tiers: true,
    tombstones: true,
    perResultExpiry: true,
    bulkExpiry: false,
    ebbResults: true,
  };
  readonly retention: RetentionBackend = this;
  readonly chords: ChordStore;
  readonly url: string;
  private readonly handle: SqliteHandle;
  private readonly clock: Clock;
  private readonly pollIntervalMs: number;
  private readonly closing = new Closing();
  private readonly sql: ReturnType<typeof prepare>;
  private readonly forgetOne: (taskId: string) => boolean;
  private readonly ops: SqliteRetention;
  private readonly packs: TombstonePacks;
  private graceMs: number;
  private schedules: SqliteScheduleStore | undefined;

  constructor(opts: SqliteBackendOptions) {
    this.url = redactUrl(opts.url);
    this.handle = openDatabase(sqlitePathFromUrl(opts.url));
    this.clock = storeClock(this.handle.db, opts.clock);
    this.pollIntervalMs = opts.pollIntervalMs ?? 50;
    this.sql = prepare(this.handle.db);
    this.chords = new SqliteChords(this.handle.db, this.clock);
    this.graceMs = opts.graceMs ?? DEFAULT_GRACE_MS;
    this.packs = new TombstonePacks(this.handle.db);
    // The result, its exact tombstone and its packed one, in one transaction.
    this.forgetOne = this.handle.db.transaction((taskId: string): boolean => {
      const gone = this.sql.delete.run(taskId).changes + this.sql.dropTombstone.run(taskId).changes > 0;
      return this.packs.forget(taskId) || gone;
    }).immediate;
    this.ops = new SqliteRetention({
      packs: this.packs,
      db: this.handle.db,
      path: this.handle.path,
      clock: this.clock,
      graceMs: () => this.graceMs,
      notify: (id) => this.notify(id),
    });
  }

  async now(): Promise<number> {
    return this.clock();
  }

  /** Beat's state, in the same file and on the same clock as the results. */
  scheduleStore(): ScheduleStore {
    this.schedules ??= new SqliteScheduleStore(this.handle.db, this.clock);
    return this.schedules;
  }

  /**
   * Stored in the next group transaction (with the other stores and acks of this event-loop
   * turn); resolves once it has committed. The request is checked and encoded now, so a bad
   * value fails this call alone, and a caller changing its objects afterwards changes nothing.
   */
  store(request: StoreRequest): Promise<StoreOutcome> {
    let write: () => StoreOutcome;
    try {
      write = this.storeWrite(request);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.handle.commits.run(write, this.wake(request.taskId));
  }

  /**
   * Store and ack as one write when `broker` keeps its messages in this backend's file (compared
   * with symbolic links resolved): the result and the ack commit in one transaction, shared with
   * every store and ack of the same event-loop turn. Exactly store() then ack(): the same rows,
   * a ready result already there is kept (stored: false) and the message is still acked, an ack
   * whose lease was taken over does nothing, and watchers of the result wake. Null for another
   * file or another kind of broker: the worker then stores, and acks once stored.
   */
  finishWith(broker: Broker): FinishStep | null {
    if (!(broker instanceof SqliteBroker) || broker.file !== this.handle.path) return null;
    return (request: StoreRequest, delivery: Delivery): Promise<StoreOutcome> => {
      let store: () => StoreOutcome;
      try {
        store = this.storeWrite(request);
      } catch (e) {
        return Promise.reject(e);
      }
      const ack = broker.ackWrite(delivery);
      const write = ack
        ? () => {
            const out = store();
            ack();
            return out;
          }
        : store;
      return this.handle.commits.run(write, this.wake(request.taskId));
    };
  }

  /** After a store commits: wake this process's watchers of the result, if it was written. */
  private wake(taskId: string): (outcome: StoreOutcome) => void {
    return (outcome) => {
      if (outcome.stored) this.notify(taskId);
    };
  }

  /**
   * The request checked and encoded, as a write to run inside a transaction. The common case, a
   * task id seen for the first time, is one plain INSERT; an id already there (STARTED, RETRY, a
   * redelivery) takes the conditional UPDATE, which leaves a ready row as it is.
   */
  private storeWrite(request: StoreRequest): () => StoreOutcome {
    checkRequest(request);
    const values = toValues(request);
    const { status, lifetimeMs, taskId } = request;
    const { commits } = this.handle;
    const sql = this.sql;
    return () => {
      // One clock read per transaction: every store of it commits at that instant.
      const { dateDone, expiresAt } = stampsFor(status, lifetimeMs, commits.memo(this.clock, this.clock));
      values[DATE_DONE] = dateDone;
      values[EXPIRES_AT] = expiresAt;
      let held = 0;
      if (sql.insert.run(values).changes === 0) {
        const replaced = sql.replaceUnfinished.get([...values.slice(1), taskId]);
        if (replaced === undefined) return { stored: false, result: fromRow(sql.get.get(taskId)!) };
        held = replaced.held;
      }
      // A tombstone of this id is of no use once it is stored again; most batches find none at all.
      if (commits.memo(sql.anyTombstone, () => sql.anyTombstone.get() !== undefined)) sql.dropTombstone.run(taskId);
      return storedOutcome(() => fromValues(values, held));
    };
  }

  async lookup(taskId: string, options: LookupOptions): Promise<Lookup> {
    // Tombstones must outlive the longest grace anyone reads with.
    this.graceMs = Math.max(this.graceMs, options.graceMs);
    const row = this.sql.get.get(taskId);
    return classifyRead(taskId, row && fromRow(row), row ? undefined : this.tombstoneOf(taskId), this.clock(), options.graceMs);
  }

  /** The id's tombstone: ebb_tombstones first (exact, and the newest), then the packs. */
  private tombstoneOf(taskId: string): Tombstone | undefined {
    const t = this.sql.tombstone.get(taskId);
    if (!t) return this.packs.lookup(taskId);
    return {
      expiredAt: t.expired_at,
      ...(t.archive_file !== null ? { archived: { file: t.archive_file, at: t.archived_at ?? t.expired_at } } : {}),
    };
  }

  async forget(taskId: string): Promise<boolean> {
    this.handle.commits.flush();
    const removed = this.forgetOne(taskId);
    if (removed) this.notify(taskId);
    return removed;
  }

  /** Woken at once by writes in this process; other processes' writes are seen within pollIntervalMs. */
  async watch(taskId: string): Promise<Watch> {
    const watch = this.handle.changes.watch(topic(taskId));
    return {
      changed: (ms, signal) => this.closing.during(signal, (s) => watch.changed(Math.min(ms, this.pollIntervalMs), s)),
      close: () => watch.close(),
    };
  }

  /** Put a legal hold on a stored result, or release it. False when there is no such result. */
  async setHeld(taskId: string, held: boolean): Promise<boolean> {
    this.handle.commits.flush();
    const changed = this.sql.setHeld.run(held ? 1 : 0, taskId).changes > 0;
    if (changed) this.notify(taskId);
    return changed;
  }

  scan(query: ScanQuery): AsyncIterable<ResultRecord[]> {
    return this.ops.scan(query);
  }

  async read(taskId: string): Promise<ResultRecord | null> {
    return this.ops.read(taskId);
  }

  async remove(records: readonly ResultRecord[], options: RemoveOptions): Promise<RemoveOutcome> {
    this.handle.commits.flush();
    return this.ops.remove(records, options);
  }

  async markArchived(taskIds: readonly string[]): Promise<number> {
    this.handle.commits.flush();
    return this.ops.markArchived(taskIds);
  }

  async put(result: StoredResult, options: { replace: boolean }): Promise<boolean> {
    this.handle.commits.flush();
    return this.ops.put(result, options.replace);
  }

  async storeFacts(): Promise<StoreFacts> {
    return this.ops.storeFacts();
  }

  /** Counts by SQL aggregates (see sqlite-census.ts) rather than a scan. */
  async census(options: CensusOptions): Promise<Census> {
    this.handle.commits.flush();
    return sqliteCensus(this.handle.db, this.clock(), options);
  }

  async close(): Promise<void> {
    if (this.closing.closed) return;
    this.closing.close();
    this.handle.close();
  }

  private notify(taskId: string): void {
    this.handle.changes.notify(topic(taskId));
  }
}

function topic(taskId: string): string {
  return `result:${taskId}`;
}

/** Every statement the backend runs, prepared once per backend. */
function prepare(db: Database.Database) {
  return {
    // A first store of an id: changes = 0 when the id is already there, for replaceUnfinished.
    insert: db.prepare<[unknown[]]>(
      `INSERT INTO ebb_results (${COLUMNS.join(", ")}) VALUES (${COLUMNS.map(() => "?").join(", ")}) ON CONFLICT(task_id) DO NOTHING`,
    ),
    // The WHERE is what makes a ready result final: no row comes back when it is kept. held is
    // not in the SET list, so a hold survives later stores (and comes back for the outcome).
    // archived is reset: the archive, if any, holds the replaced (unfinished) row, not this one.
    replaceUnfinished: db.prepare<[unknown[]], { held: number }>(
      `UPDATE ebb_results SET ${COLUMNS.filter((c) => c !== "task_id")
        .map((c) => `${c} = ?`)
        .join(", ")}, archived = 0
       WHERE task_id = ? AND status NOT IN ('SUCCESS', 'FAILURE', 'REVOKED')
       RETURNING held`,
    ),
    get: db.prepare<[string], ResultRow>(`SELECT ${COLUMNS.join(", ")}, held FROM ebb_results WHERE task_id = ?`),
    tombstone: db.prepare<[string], { expired_at: number; archive_file: string | null; archived_at: number | null }>(
      `SELECT expired_at, archive_file, archived_at FROM ebb_tombstones WHERE task_id = ?`,
    ),
    delete: db.prepare<[string]>(`DELETE FROM ebb_results WHERE task_id = ?`),
    dropTombstone: db.prepare<[string]>(`DELETE FROM ebb_tombstones WHERE task_id = ?`),
    anyTombstone: db.prepare<[], { one: 1 }>(`SELECT 1 AS one FROM ebb_tombstones LIMIT 1`),
    setHeld: db.prepare<[number, string]>(`UPDATE ebb_results SET held = ? WHERE task_id = ?`),
  };
}
