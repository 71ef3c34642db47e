import { statSync } from "node:fs";
import type Database from "better-sqlite3";
import type { Clock } from "../../clock.js";
import { MEMORY_PATH } from "../../sqlite/sqlite-url.js";
import { tombstoneInstant } from "../../retention/expiry.js";
import type { StoredResult } from "../result-backend.js";
import type { RemoveOptions, RemoveOutcome, ResultRecord, ScanQuery, StoreFacts } from "../retention-store.js";
import { BYTES_SQL, COLUMNS, toParams, toRecord, type Params, type RecordRow } from "./result-rows.js";
import type { TombstonePacks } from "./tombstone-packs.js";

/** Tombstones past the grace window dropped per remove() call: bounded, so each transaction stays short. */
const PRUNE_BATCH = 500;

export interface SqliteRetentionDeps {
  db: Database.Database;
  path: string;
  clock: Clock;
  /** How long tombstones must be kept (the app's expiredGrace, raised by longer lookups). */
  graceMs: () => number;
  /** Wake this process's watchers of a result. */
  notify: (taskId: string) => void;
  /** Where the tombstones go once there are many (tombstone-packs.ts). */
  packs: TombstonePacks;
}

const SELECT = `SELECT ${COLUMNS.join(", ")}, held, archived, ${BYTES_SQL} AS bytes FROM ebb_results`;

/**
 * The RetentionStore operations on ebb_results. Scans page by keyset, never one unbounded
 * SELECT: by (expires_at, task_id) or (date_done, task_id) when the query bounds that column,
 * so the index delivers only matching rows; by task_id otherwise. Each batch is its own short
 * read, so writers are never blocked by a scan, and rows removed behind the cursor are harmless.
 */
export class SqliteRetention {
  private readonly statements = new Map<string, Database.Statement>();
  private readonly removeBatch: (records: readonly ResultRecord[], options: RemoveOptions) => RemoveOutcome;
  private readonly putOne: (result: StoredResult, replace: boolean) => boolean;
  private readonly markBatch: (ids: readonly string[]) => number;

  constructor(private readonly deps: SqliteRetentionDeps) {
    const { db } = deps;
    // The re-check: same status, date_done and expires_at as scanned, and not held. expires_at
    // too, because a RETRY row re-stored keeps date_done NULL but gets a new lifetime.
    const del = db.prepare<[string, string, number | null, number | null], { bytes: number; expires_at: number | null }>(
      `DELETE FROM ebb_results WHERE task_id = ? AND held = 0 AND status = ? AND date_done IS ? AND expires_at IS ? RETURNING ${BYTES_SQL} AS bytes, expires_at`,
    );
    const tomb = db.prepare<[string, number, string | null, number | null]>(
      `INSERT INTO ebb_tombstones (task_id, expired_at, archive_file, archived_at) VALUES (?, ?, ?, ?)
       ON CONFLICT(task_id) DO UPDATE SET expired_at = excluded.expired_at, archive_file = excluded.archive_file, archived_at = excluded.archived_at`,
    );
    const prune = db.prepare<[number, number]>(
      `DELETE FROM ebb_tombstones WHERE task_id IN (SELECT task_id FROM ebb_tombstones WHERE expired_at < ? ORDER BY expired_at LIMIT ?)`,
    );
    this.removeBatch = db.transaction((records: readonly ResultRecord[], options: RemoveOptions): RemoveOutcome => {
      const { remember, archive } = options;
      const now = deps.clock();
      const out: RemoveOutcome = { removed: [], bytes: 0, kept: [] };
      for (const r of records) {
        const row = del.get(r.taskId, r.status, r.dateDone, r.expiresAt);
        if (!row) {
          out.kept.push(r.taskId);
          continue;
        }
        out.removed.push(r.taskId);
        out.bytes += row.bytes;
        if (remember) tomb.run(r.taskId, tombstoneInstant(row.expires_at, now), archive?.file ?? null, archive?.at ?? null);
        // Removed without a tombstone: an older, packed one of this id must not speak for it.
        else deps.packs.forget(r.taskId);
      }
      if (remember) {
        prune.run(now - deps.graceMs(), PRUNE_BATCH);
        deps.packs.maintain(now - deps.graceMs());
      }
      return out;
    }).immediate;

    const cols = [...COLUMNS, "held", "archived"];
    const insert = `INSERT INTO ebb_results (${cols.join(", ")}) VALUES (${cols.map((c) => `@${c}`).join(", ")}) ON CONFLICT(task_id) DO`;
    const putKeep = db.prepare<[PutParams]>(`${insert} NOTHING`);
    const putReplace = db.prepare<[PutParams]>(
      `${insert} UPDATE SET ${cols
        .filter((c) => c !== "task_id")
        .map((c) => `${c} = excluded.${c}`)
        .join(", ")}`,
    );
    const dropTomb = db.prepare<[string]>(`DELETE FROM ebb_tombstones WHERE task_id = ?`);
    this.putOne = db.transaction((result: StoredResult, replace: boolean): boolean => {
      const params: PutParams = {
        ...toParams(result, result.dateDone, result.expiresAt),
        held: result.held ? 1 : 0,
        archived: isArchived(result) ? 1 : 0,
      };
      const written = (replace ? putReplace : putKeep).run(params).changes > 0;
      if (written) dropTomb.run(result.taskId);
      return written;
    }).immediate;

    const mark = db.prepare<[string]>(`UPDATE ebb_results SET archived = 1 WHERE task_id = ?`);
    this.markBatch = db.transaction((ids: readonly string[]) => ids.reduce((n, id) => n + mark.run(id).changes, 0)).immediate;
  }

  async *scan(query: ScanQuery): AsyncGenerator<ResultRecord[]> {
    const { sql, key, params } = scanSql(query);
    const first = this.statement(sql.first);
    const next = this.statement(sql.next);
    const limit = params.limit as number;
    let rows = first.all(params) as RecordRow[];
    while (rows.length > 0) {
      yield rows.map(toRecord);
      if (rows.length < limit) return;
      const last = rows[rows.length - 1]!;
      rows = next.all({ ...params, lastId: last.task_id, lastKey: key ? last[key] : null }) as RecordRow[];
    }
  }

  read(taskId: string): ResultRecord | null {
    const row = this.statement(`${SELECT} WHERE task_id = ?`).get(taskId) as RecordRow | undefined;
    return row ? toRecord(row) : null;
  }

  remove(records: readonly ResultRecord[], options: RemoveOptions): RemoveOutcome {
    if (records.length === 0) return { removed: [], bytes: 0, kept: [] };
    const outcome = this.removeBatch(records, options);
    for (const id of outcome.removed) this.deps.notify(id);
    return outcome;
  }

  markArchived(taskIds: readonly string[]): number {
    return taskIds.length === 0 ? 0 : this.markBatch(taskIds);
  }

  put(result: StoredResult, replace: boolean): boolean {
    const written = this.putOne(result, replace);
    if (written) this.deps.notify(result.taskId);
    return written;
  }

  storeFacts(): StoreFacts {
    const { db, path } = this.deps;
    const pageSize = db.pragma("page_size", { simple: true }) as number;
    const pageCount = db.pragma("page_count", { simple: true }) as number;
    const freePages = db.pragma("freelist_count", { simple: true }) as number;
    const tombstones = (this.statement(`SELECT count(*) FROM ebb_tombstones`).pluck().get() as number) + this.deps.packs.count();
    const file = path === MEMORY_PATH ? null : path;
    return {
      kind: "sqlite",
      file,
      fileBytes: file ? sizeOf(file) : pageSize * pageCount,
      walBytes: file ? sizeOf(`${file}-wal`) : 0,
      pageSize,
      pageCount,
      freePages,
      tombstones,
    };
  }

  private statement(sql: string): Database.Statement {
    let stmt = this.statements.get(sql);
    if (!stmt) {
      stmt = this.deps.db.prepare(sql);
      this.statements.set(sql, stmt);
    }
    return stmt;
  }
}

type PutParams = Params & { held: number; archived: number };

/**
 * The two statements of a scan: the first page, and the page after a cursor (@lastKey, @lastId).
 * Exported so a test can check their query plans.
 */
export function scanSql(query: ScanQuery): {
  sql: { first: string; next: string };
  key: "expires_at" | "date_done" | null;
  params: Record<string, unknown>;
} {
  const key = query.expiresBy !== undefined ? "expires_at" : query.doneBy !== undefined ? "date_done" : null;
  const where: string[] = [];
  const params: Record<string, unknown> = { limit: Math.max(1, Math.floor(query.batchSize)) };
  if (query.expiresBy !== undefined) {
    where.push("expires_at <= @expiresBy");
    params.expiresBy = query.expiresBy;
  }
  if (query.doneBy !== undefined) {
    where.push("date_done <= @doneBy");
    params.doneBy = query.doneBy;
  }
  if (query.tier !== undefined) {
    where.push("tier IS @tier");
    params.tier = query.tier;
  }
  if (!query.includeHeld) where.push("held = 0");
  const order = key ? `${key}, task_id` : "task_id";
  const cursor = key ? `(${key}, task_id) > (@lastKey, @lastId)` : "task_id > @lastId";
  return {
    sql: {
      first: `${SELECT}${clause(where)} ORDER BY ${order} LIMIT @limit`,
      next: `${SELECT}${clause([...where, cursor])} ORDER BY ${order} LIMIT @limit`,
    },
    key,
    params,
  };
}

function clause(where: string[]): string {
  return where.length === 0 ? "" : ` WHERE ${where.join(" AND ")}`;
}

/** put() of a ResultRecord (a restore of a scanned record) keeps its archived flag; a plain StoredResult is not archived. */
function isArchived(result: StoredResult): boolean {
  return (result as Partial<ResultRecord>).archived === true;
}

function sizeOf(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}
