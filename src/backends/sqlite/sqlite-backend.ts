import type Database from "better-sqlite3";
import type { Clock } from "../../clock.js";
import { classifyRead, stampsFor } from "../../retention/expiry.js";
import { redactUrl } from "../../url.js";
import { openDatabase, storeClock, type SqliteHandle } from "../../sqlite/open-database.js";
import { sqlitePathFromUrl } from "../../sqlite/sqlite-url.js";
import type { Watch } from "../../change-hub.js";
import { Closing } from "../../closing.js";
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
import { COLUMNS, fromRow, toParams, type Params, type ResultRow } from "./result-rows.js";
import { SqliteRetention } from "./sqlite-retention.js";
import type { ScheduleStore, ScheduleStoreHost } from "../../beat/schedule-store.js";
import { SqliteScheduleStore } from "./sqlite-schedule-store.js";
import { SqliteChords } from "./sqlite-chords.js";
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
 * a result once). The retention operations live in sqlite-retention.ts.
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
  private readonly upsert: (request: StoreRequest) => StoreOutcome;
  private readonly ops: SqliteRetention;
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
    this.ops = new SqliteRetention({
      db: this.handle.db,
      path: this.handle.path,
      clock: this.clock,
      graceMs: () => this.graceMs,
      notify: (id) => this.notify(id),
    });
    this.upsert = this.handle.db.transaction((request: StoreRequest): StoreOutcome => {
      const now = this.clock();
      const { dateDone, expiresAt } = stampsFor(request.status, request.lifetimeMs, now);
      const stored = this.sql.upsert.run(toParams(request, dateDone, expiresAt)).changes > 0;
      if (stored) this.sql.dropTombstone.run(request.taskId);
      return { stored, result: fromRow(this.sql.get.get(request.taskId)!) };
    }).immediate;
  }

  async now(): Promise<number> {
    return this.clock();
  }

  /** Beat's state, in the same file and on the same clock as the results. */
  scheduleStore(): ScheduleStore {
    this.schedules ??= new SqliteScheduleStore(this.handle.db, this.clock);
    return this.schedules;
  }

  async store(request: StoreRequest): Promise<StoreOutcome> {
    const outcome = this.upsert(request);
    if (outcome.stored) this.notify(request.taskId);
    return outcome;
  }

  async lookup(taskId: string, options: LookupOptions): Promise<Lookup> {
    // Tombstones must outlive the longest grace anyone reads with.
    this.graceMs = Math.max(this.graceMs, options.graceMs);
    const row = this.sql.get.get(taskId);
    const t = row ? undefined : this.sql.tombstone.get(taskId);
    const tombstone = t && {
      expiredAt: t.expired_at,
      ...(t.archive_file !== null ? { archived: { file: t.archive_file, at: t.archived_at ?? t.expired_at } } : {}),
    };
    return classifyRead(taskId, row && fromRow(row), tombstone, this.clock(), options.graceMs);
  }

  async forget(taskId: string): Promise<boolean> {
    const removed = this.sql.delete.run(taskId).changes + this.sql.dropTombstone.run(taskId).changes > 0;
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
    return this.ops.remove(records, options);
  }

  async markArchived(taskIds: readonly string[]): Promise<number> {
    return this.ops.markArchived(taskIds);
  }

  async put(result: StoredResult, options: { replace: boolean }): Promise<boolean> {
    return this.ops.put(result, options.replace);
  }

  async storeFacts(): Promise<StoreFacts> {
    return this.ops.storeFacts();
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
    // The WHERE on DO UPDATE is what makes a ready result final: the conflict is then a no-op (changes = 0).
    // held is not in the SET list, so a hold survives later stores. archived is reset: the
    // archive, if any, holds the replaced (unfinished) row, not this one.
    upsert: db.prepare<[Params]>(
      `INSERT INTO ebb_results (${COLUMNS.join(", ")}) VALUES (${COLUMNS.map((c) => `@${c}`).join(", ")})
       ON CONFLICT(task_id) DO UPDATE SET ${COLUMNS.filter((c) => c !== "task_id")
         .map((c) => `${c} = excluded.${c}`)
         .join(", ")}, archived = 0
       WHERE ebb_results.status NOT IN ('SUCCESS', 'FAILURE', 'REVOKED')`,
    ),
    get: db.prepare<[string], ResultRow>(`SELECT ${COLUMNS.join(", ")}, held FROM ebb_results WHERE task_id = ?`),
    tombstone: db.prepare<[string], { expired_at: number; archive_file: string | null; archived_at: number | null }>(
      `SELECT expired_at, archive_file, archived_at FROM ebb_tombstones WHERE task_id = ?`,
    ),
    delete: db.prepare<[string]>(`DELETE FROM ebb_results WHERE task_id = ?`),
    dropTombstone: db.prepare<[string]>(`DELETE FROM ebb_tombstones WHERE task_id = ?`),
    setHeld: db.prepare<[number, string]>(`UPDATE ebb_results SET held = ? WHERE task_id = ?`),
  };
}
