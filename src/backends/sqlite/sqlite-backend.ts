import type Database from "better-sqlite3";
import type { Clock } from "../../clock.js";
import { isReady } from "../../states.js";
import type { StoredState } from "../../states.js";
import { classifyRead } from "../../retention/expiry.js";
import { redactUrl } from "../../url.js";
import { openDatabase, storeClock, type SqliteHandle } from "../../sqlite/open-database.js";
import { sqlitePathFromUrl } from "../../sqlite/sqlite-url.js";
import type { Watch } from "../../change-hub.js";
import type { BackendCapabilities, Lookup, LookupOptions, ResultBackend, RetentionAction, StoreOutcome, StoreRequest, StoredResult } from "../result-backend.js";

export interface SqliteBackendOptions {
  url: string;
  /** Defaults to SQLite's own clock. */
  clock?: Clock;
  /** How long a watch waits before the caller looks again (changes made by other processes). Default 50. */
  pollIntervalMs?: number;
}

interface ResultRow {
  task_id: string;
  status: StoredState;
  result: string | null;
  traceback: string | null;
  children: string | null;
  date_done: number | null;
  expires_at: number | null;
  tier: string | null;
  action: RetentionAction;
  held: number;
  name: string | null;
  args: string | null;
  kwargs: string | null;
  worker: string | null;
  retries: number | null;
  queue: string | null;
}

type Params = Omit<ResultRow, "held">;

/**
 * Results in the ebb_results table (schema in src/sqlite/migrations.ts). store() reads the
 * store clock and upserts inside one BEGIN IMMEDIATE transaction, so date_done and expires_at
 * are decided by the store, and a ready row is never replaced (at-least-once redelivery stores
 * a result once).
 */
export class SqliteBackend implements ResultBackend {
  readonly capabilities: BackendCapabilities = { nativeExpiry: false, pushNotify: false };
  readonly url: string;
  private readonly handle: SqliteHandle;
  private readonly clock: Clock;
  private readonly pollIntervalMs: number;
  private readonly closing = new AbortController();
  private readonly sql: ReturnType<typeof prepare>;
  private readonly upsert: (request: StoreRequest) => StoreOutcome;

  constructor(opts: SqliteBackendOptions) {
    this.url = redactUrl(opts.url);
    this.handle = openDatabase(sqlitePathFromUrl(opts.url));
    this.clock = storeClock(this.handle.db, opts.clock);
    this.pollIntervalMs = opts.pollIntervalMs ?? 50;
    this.sql = prepare(this.handle.db);
    this.upsert = this.handle.db.transaction((request: StoreRequest): StoreOutcome => {
      const now = this.clock();
      const dateDone = isReady(request.status) ? now : null;
      const expiresAt = request.lifetimeMs === null ? null : (dateDone ?? now) + request.lifetimeMs;
      const stored = this.sql.upsert.run(toParams(request, dateDone, expiresAt)).changes > 0;
      if (stored) this.sql.dropTombstone.run(request.taskId);
      return { stored, result: fromRow(this.sql.get.get(request.taskId)!) };
    }).immediate;
  }

  async now(): Promise<number> {
    return this.clock();
  }

  async store(request: StoreRequest): Promise<StoreOutcome> {
    const outcome = this.upsert(request);
    if (outcome.stored) this.notify(request.taskId);
    return outcome;
  }

  async lookup(taskId: string, options: LookupOptions): Promise<Lookup> {
    const row = this.sql.get.get(taskId);
    const tombstone = row ? undefined : this.sql.tombstone.get(taskId);
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
    const closing = this.closing.signal;
    return {
      changed: (ms, signal) => watch.changed(Math.min(ms, this.pollIntervalMs), signal ? AbortSignal.any([signal, closing]) : closing),
      close: () => watch.close(),
    };
  }

  /** Put a legal hold on a stored result, or release it. False when there is no such result. */
  async setHeld(taskId: string, held: boolean): Promise<boolean> {
    const changed = this.sql.setHeld.run(held ? 1 : 0, taskId).changes > 0;
    if (changed) this.notify(taskId);
    return changed;
  }

  async close(): Promise<void> {
    if (this.closing.signal.aborted) return;
    this.closing.abort();
    this.handle.close();
  }

  private notify(taskId: string): void {
    this.handle.changes.notify(topic(taskId));
  }
}

function topic(taskId: string): string {
  return `result:${taskId}`;
}

function json(value: unknown): string | null {
  return value === undefined || value === null ? null : JSON.stringify(value);
}

function parse<T>(text: string | null): T | null {
  return text === null ? null : (JSON.parse(text) as T);
}

function toParams(r: StoreRequest, dateDone: number | null, expiresAt: number | null): Params {
  return {
    task_id: r.taskId,
    status: r.status,
    result: json(r.result),
    traceback: r.traceback,
    children: JSON.stringify(r.children ?? []),
    date_done: dateDone,
    expires_at: expiresAt,
    tier: r.tier,
    action: r.action,
    name: r.name ?? null,
    args: json(r.args),
    kwargs: json(r.kwargs),
    worker: r.worker ?? null,
    retries: r.retries ?? null,
    queue: r.queue ?? null,
  };
}

function fromRow(row: ResultRow): StoredResult {
  return {
    taskId: row.task_id,
    status: row.status,
    result: parse(row.result),
    traceback: row.traceback,
    children: parse<unknown[]>(row.children) ?? [],
    dateDone: row.date_done,
    expiresAt: row.expires_at,
    tier: row.tier,
    action: row.action,
    held: row.held !== 0,
    name: row.name,
    args: parse<unknown[]>(row.args),
    kwargs: parse<Record<string, unknown>>(row.kwargs),
    worker: row.worker,
    retries: row.retries,
    queue: row.queue,
  };
}

const COLUMNS = ["task_id", "status", "result", "traceback", "children", "date_done", "expires_at", "tier", "action", "name", "args", "kwargs", "worker", "retries", "queue"] as const;

/** Every statement the backend runs, prepared once per backend. */
function prepare(db: Database.Database) {
  return {
    // The WHERE on DO UPDATE is what makes a ready result final: the conflict is then a no-op (changes = 0).
    // held is not in the SET list, so a hold survives later stores.
    upsert: db.prepare<[Params]>(
      `INSERT INTO ebb_results (${COLUMNS.join(", ")}) VALUES (${COLUMNS.map((c) => `@${c}`).join(", ")})
       ON CONFLICT(task_id) DO UPDATE SET ${COLUMNS.filter((c) => c !== "task_id").map((c) => `${c} = excluded.${c}`).join(", ")}
       WHERE ebb_results.status NOT IN ('SUCCESS', 'FAILURE', 'REVOKED')`,
    ),
    get: db.prepare<[string], ResultRow>(`SELECT ${COLUMNS.join(", ")}, held FROM ebb_results WHERE task_id = ?`),
    tombstone: db.prepare<[string], number>(`SELECT expired_at FROM ebb_tombstones WHERE task_id = ?`).pluck(),
    delete: db.prepare<[string]>(`DELETE FROM ebb_results WHERE task_id = ?`),
    dropTombstone: db.prepare<[string]>(`DELETE FROM ebb_tombstones WHERE task_id = ?`),
    setHeld: db.prepare<[number, string]>(`UPDATE ebb_results SET held = ? WHERE task_id = ?`),
  };
}
