import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "../../logger.js";
import type { PostgresPool } from "../../postgres/pg-pool.js";
import { quoteIdent } from "../../postgres/pg-url.js";
import { tombstoneInstant } from "../../retention/expiry.js";
import type { StoredResult } from "../result-backend.js";
import type { DropOutcome, RemoveOptions, RemoveOutcome, ResultRecord, ScanQuery, StoreFacts } from "../retention-store.js";
import { LANE, type PartitionInfo, type Partitions, type RangeParent } from "./partitions.js";
import { laneOf, laneSql, PUT_COLUMNS, putValues, SELECT_COLUMNS, toRecord, type RecordRow } from "./result-sql.js";

/** Tombstones past the grace window dropped per remove() call: bounded, so each transaction stays short. */
const PRUNE_BATCH = 500;
/** Between the drops of one partition's hash parts: each part's freed space is returned on its own. */
const DROP_PAUSE_MS = 100;
/** Below this many rows a dropped partition's rows are counted exactly; above, PostgreSQL's statistics give the count (a count would take longer than the drop). */
const EXACT_COUNT_BELOW = 50_000;

export interface PostgresRetentionDeps {
  pg: PostgresPool;
  /** The quoted schema. */
  s: string;
  partitions: Partitions;
  now: () => Promise<number>;
  graceMs: () => number;
  /** The lifetime most results get (null: never): ensureAhead makes their partitions too. */
  defaultLifetimeMs: number | null;
  notify: (taskId: string) => void;
  /** Where background work (a partition's drop) says what went wrong. */
  log?: Logger;
}

const RECORD = `${SELECT_COLUMNS}, archived, pg_column_size(r.*) AS bytes`;

/**
 * The RetentionStore operations on the partitioned ebb_results. Scans page by keyset, never one
 * unbounded SELECT: by (expires_at, task_id) when the query bounds expiry (only partitions whose
 * range is due are read, through their expiry indexes, so results that never expire or expire
 * later are not read by cleanup), by task_id otherwise (each partition's unique index, merged). Removal re-checks each row; expiry in bulk detaches and
 * drops whole partitions (dropExpired).
 */
export class PostgresRetention {
  private readonly s: string;
  /** Drops of detached partitions still running. */
  private readonly drops = new Set<Promise<unknown>>();

  constructor(private readonly deps: PostgresRetentionDeps) {
    this.s = deps.s;
  }

  async *scan(query: ScanQuery): AsyncGenerator<ResultRecord[]> {
    const limit = Math.max(1, Math.floor(query.batchSize));
    const where: string[] = [];
    const params: unknown[] = [];
    const param = (value: unknown, type: string) => {
      params.push(value);
      return `$${params.length}::${type}`;
    };
    if (query.expiresBy !== undefined) where.push(`expires_at <= ${param(query.expiresBy, "bigint")}`);
    if (query.doneBy !== undefined) where.push(`date_done <= ${param(query.doneBy, "bigint")}`);
    if (query.tier !== undefined) where.push(`tier IS NOT DISTINCT FROM ${param(query.tier, "text")}`);
    if (!query.includeHeld) where.push("NOT held");
    const base = where.length ? ` AND ${where.join(" AND ")}` : "";
    const n = params.length;
    const from = `${this.s}.ebb_results r`;

    // With an expiry bound: by (expires_at, task_id), each lane through its expiry index (a
    // block-range index per partition; the kept lane's btree holds only rows that expire).
    if (query.expiresBy !== undefined) {
      for (const lanes of ["lane < 2", "lane = 2"]) {
        let lastAt = Number.MIN_SAFE_INTEGER;
        let lastId = "";
        for (;;) {
          const rows = await this.deps.pg.query<RecordRow>(
            `SELECT ${RECORD} FROM ${from} WHERE ${lanes}${base} AND (expires_at, task_id) > ($${n + 1}::bigint, $${n + 2}::text)
             ORDER BY expires_at, task_id LIMIT $${n + 3}`,
            [...params, lastAt, lastId, limit],
          );
          if (rows.length > 0) yield rows.map(toRecord);
          if (rows.length < limit) break;
          lastAt = rows[rows.length - 1]!.expires_at!;
          lastId = rows[rows.length - 1]!.task_id;
        }
      }
      return;
    }
    // Otherwise by id, through each partition's unique index, merged in order.
    let last = "";
    for (;;) {
      const rows = await this.deps.pg.query<RecordRow>(
        `SELECT ${RECORD} FROM ${from} WHERE true${base} AND task_id > $${n + 1}::text ORDER BY task_id LIMIT $${n + 2}`,
        [...params, last, limit],
      );
      if (rows.length > 0) yield rows.map(toRecord);
      if (rows.length < limit) return;
      last = rows[rows.length - 1]!.task_id;
    }
  }

  async read(taskId: string): Promise<ResultRecord | null> {
    const [row] = await this.deps.pg.query<RecordRow>(`SELECT ${RECORD} FROM ${this.s}.ebb_results r WHERE task_id = $1`, [taskId]);
    return row ? toRecord(row) : null;
  }

  /**
   * Delete each record only if it is still the one scanned (same status, date_done and expires_at)
   * and not held, in one transaction; then tombstones for what went (remember), or no trace at all.
   */
  async remove(records: readonly ResultRecord[], options: RemoveOptions): Promise<RemoveOutcome> {
    if (records.length === 0) return { removed: [], bytes: 0, kept: [] };
    const { pg } = this.deps;
    const now = await this.deps.now();
    const gone = await pg.transaction(async (client) => {
      const rows = await pg.query<{ task_id: string; bytes: number; expires_at: number | null }>(
        `WITH q AS (SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[]) AS q(task_id, status, date_done, expires_at))
         DELETE FROM ${this.s}.ebb_results r USING q
          WHERE r.task_id = q.task_id AND NOT r.held AND r.status = q.status
            AND r.date_done IS NOT DISTINCT FROM q.date_done AND r.expires_at IS NOT DISTINCT FROM q.expires_at
         RETURNING r.task_id, pg_column_size(r.*) AS bytes, r.expires_at`,
        [records.map((r) => r.taskId), records.map((r) => r.status), records.map((r) => r.dateDone), records.map((r) => r.expiresAt)],
        client,
      );
      const ids = rows.map((r) => r.task_id);
      if (ids.length > 0) await this.dropLedger(ids, client);
      if (options.remember && ids.length > 0) {
        const { archive } = options;
        await pg.query(
          `INSERT INTO ${this.s}.ebb_tombstones (task_id, expired_at, archive_file, archived_at)
           SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[])
           ON CONFLICT (task_id) DO UPDATE SET expired_at = excluded.expired_at, archive_file = excluded.archive_file, archived_at = excluded.archived_at`,
          [
            ids,
            rows.map((r) => tombstoneInstant(r.expires_at, now)),
            ids.map(() => archive?.file ?? null),
            ids.map(() => archive?.at ?? null),
          ],
          client,
        );
        await this.pruneTombstones(now, client);
      } else if (ids.length > 0) {
        // Removed without a tombstone: an older one of this id must not speak for it.
        await pg.query(`DELETE FROM ${this.s}.ebb_tombstones WHERE task_id = ANY($1::text[])`, [ids], client);
      }
      return rows;
    });
    const removed = new Set(gone.map((r) => r.task_id));
    for (const id of removed) this.deps.notify(id);
    return {
      removed: records.filter((r) => removed.has(r.taskId)).map((r) => r.taskId),
      bytes: gone.reduce((sum, r) => sum + r.bytes, 0),
      kept: records.filter((r) => !removed.has(r.taskId)).map((r) => r.taskId),
    };
  }

  async forget(taskId: string): Promise<boolean> {
    const { pg } = this.deps;
    return pg.transaction(async (client) => {
      const rows = await pg.query(`DELETE FROM ${this.s}.ebb_results WHERE task_id = $1 RETURNING 1`, [taskId], client);
      const tombs = await pg.query(`DELETE FROM ${this.s}.ebb_tombstones WHERE task_id = $1 RETURNING 1`, [taskId], client);
      const ledger = await this.dropLedger([taskId], client);
      return rows.length + tombs.length + ledger > 0;
    });
  }

  async markArchived(taskIds: readonly string[]): Promise<number> {
    if (taskIds.length === 0) return 0;
    const rows = await this.deps.pg.query(`UPDATE ${this.s}.ebb_results SET archived = true WHERE task_id = ANY($1::text[]) RETURNING 1`, [
      [...taskIds],
    ]);
    return rows.length;
  }

  /** Hold (the row moves to the kept lane) or release (back to the partition of its expiry). */
  async setHeld(taskId: string, held: boolean): Promise<boolean> {
    const { pg } = this.deps;
    if (!held) {
      const [row] = await pg.query<{ expires_at: number | null; action: string }>(
        `SELECT expires_at, action FROM ${this.s}.ebb_results WHERE task_id = $1`,
        [taskId],
      );
      if (!row) return false;
      if (row.expires_at !== null) await this.ensure(row.action === "archive" ? "archive" : "delete", row.expires_at);
    }
    return pg.transaction(async (client) => {
      const rows = await pg.query<{ lane: number; expires_at: number | null }>(
        `UPDATE ${this.s}.ebb_results SET held = $2, lane = ${laneSql("", "$2::boolean")} WHERE task_id = $1 RETURNING lane, expires_at`,
        [taskId, held],
        client,
      );
      const row = rows[0];
      if (row && row.lane !== LANE.kept) await this.addLedger([taskId], [row.expires_at!], client);
      return row !== undefined;
    });
  }

  /** Write a result as given (restore), into the partition of its lane and expiry. */
  async put(result: StoredResult, replace: boolean): Promise<boolean> {
    const { pg } = this.deps;
    const lane = laneOf(result);
    if (lane !== LANE.kept) await this.ensure(lane === LANE.archive ? "archive" : "delete", result.expiresAt!);
    const archived = (result as Partial<ResultRecord>).archived === true;
    const written = await pg.transaction(async (client) => {
      const existing = await pg.query(`SELECT 1 FROM ${this.s}.ebb_results WHERE task_id = $1 FOR UPDATE`, [result.taskId], client);
      if (existing.length > 0) {
        if (!replace) return false;
        await pg.query(`DELETE FROM ${this.s}.ebb_results WHERE task_id = $1`, [result.taskId], client);
      }
      await pg.query(
        `INSERT INTO ${this.s}.ebb_results (${PUT_COLUMNS.join(", ")}) VALUES (${PUT_COLUMNS.map((_, i) => `$${i + 1}`).join(", ")})`,
        putValues(result, archived),
        client,
      );
      await pg.query(`DELETE FROM ${this.s}.ebb_tombstones WHERE task_id = $1`, [result.taskId], client);
      if (lane !== LANE.kept) await this.addLedger([result.taskId], [result.expiresAt!], client);
      return true;
    });
    if (written) this.deps.notify(result.taskId);
    return written;
  }

  async storeFacts(): Promise<StoreFacts> {
    const [facts] = await this.deps.pg.query<{
      partitions: number;
      table_bytes: number;
      dead: number;
      tombstones: number;
      results: number;
    }>(
      `SELECT count(*) FILTER (WHERE t.isleaf) AS partitions,
              coalesce(sum(pg_total_relation_size(t.relid)) FILTER (WHERE t.isleaf), 0)::bigint AS table_bytes,
              coalesce(sum(st.n_dead_tup), 0)::bigint AS dead,
              coalesce(sum(st.n_live_tup), 0)::bigint AS results,
              (SELECT count(*) FROM ${this.s}.ebb_tombstones) AS tombstones
         FROM pg_partition_tree($1::regclass) t LEFT JOIN pg_stat_user_tables st ON st.relid = t.relid`,
      [`${this.s}.ebb_results`],
    );
    return {
      kind: "postgres",
      results: facts!.results,
      tombstones: facts!.tombstones,
      tableBytes: facts!.table_bytes,
      partitions: facts!.partitions,
      deadTuples: facts!.dead,
    };
  }

  /**
   * Detach every partition whose whole range expired before `before`: the delete lane's at once,
   * the archive lane's only when every row in it is in a verified archive (checked again once
   * detached, when no write can reach it: a row that is not archived puts the partition back).
   * A detached partition's rows are gone from every read, scan and count at that moment; its
   * DROP, whose time is the filesystem returning its space, runs in the background (reclaimed()
   * waits for it, close() too). A drop a crash interrupted (detach pending, or detached and not
   * dropped) is finished first.
   */
  async dropExpired(before: number): Promise<DropOutcome> {
    const { partitions } = this.deps;
    const out: DropOutcome = { removed: 0, bytes: 0 };
    for (const p of await partitions.survey(["delete", "archive"])) {
      const archive = p.parent === "archive";
      if (!p.attached) {
        // Rows not archived yet must stay readable: the partition goes back.
        if (archive && (await this.pendingArchive(p.name))) await partitions.attach(p);
        else this.dropLater(p.name);
        continue;
      }
      if (p.to > before && !p.detachPending) continue;
      if (archive && (await this.pendingArchive(p.name))) continue;
      const size = await partitions.size(p.name);
      const rows = size.rows < EXACT_COUNT_BELOW ? await this.count(p.name) : size.rows;
      await partitions.detach(p);
      if (archive && (await this.pendingArchive(p.name))) {
        await partitions.attach(p);
        continue;
      }
      this.dropLater(p.name);
      out.removed += rows;
      out.bytes += size.bytes;
    }
    return out;
  }

  /** Resolves once every partition dropExpired() detached has been dropped (its disk space returned). */
  async reclaimed(): Promise<void> {
    while (this.drops.size > 0) await Promise.allSettled([...this.drops]);
  }

  /**
   * Drop a detached table in the background, starting a pause after the detach (cleanup's own
   * next statements go first); a failure leaves it for the next dropExpired() to finish.
   */
  private dropLater(name: string): void {
    const drop = sleep(DROP_PAUSE_MS)
      .then(() => this.deps.partitions.drop(name, DROP_PAUSE_MS))
      .catch((error: unknown) =>
        this.deps.log?.warn(`could not drop detached partition ${name} (the next cleanup retries): ${String(error)}`),
      );
    this.drops.add(drop);
    void drop.finally(() => this.drops.delete(drop));
  }

  /**
   * Bookkeeping past the grace window: the ledger's partitions whose whole range is older than
   * the grace, and tombstones, a bounded batch at a time; then the partitions needed soon are made.
   * Returns how many ledger partitions and tombstones went.
   */
  async housekeep(now: number): Promise<number> {
    const { partitions, pg } = this.deps;
    let dropped = 0;
    for (const p of await partitions.survey(["ledger"])) {
      if (!p.attached) {
        await partitions.drop(p.name, DROP_PAUSE_MS);
        continue;
      }
      if (p.to + this.deps.graceMs() > now && !p.detachPending) continue;
      await partitions.detach(p);
      await partitions.drop(p.name, DROP_PAUSE_MS);
      dropped += 1;
    }
    for (;;) {
      const n = await pg.transaction((client) => this.pruneTombstones(now, client));
      dropped += n;
      if (n < PRUNE_BATCH) break;
    }
    await this.ensureAhead(now);
    return dropped;
  }

  /**
   * The delete lane's and the ledger's partitions for now and the next width, and for what
   * results stored now with the default lifetime will need (so the first store of each width
   * makes no table).
   */
  async ensureAhead(now: number): Promise<void> {
    const lifetime = this.deps.defaultLifetimeMs;
    const at = lifetime === null ? [now] : [now, now + lifetime];
    await this.deps.partitions.ensure("delete", at);
    await this.deps.partitions.ensure("ledger", at);
  }

  private async ensure(parent: "delete" | "archive", expiresAt: number): Promise<void> {
    await this.deps.partitions.ensure(parent, [expiresAt]);
    await this.deps.partitions.ensure("ledger", [expiresAt]);
  }

  /** True while some row of an archive partition is not in a verified archive yet (its partial index answers). */
  private async pendingArchive(name: string): Promise<boolean> {
    const [row] = await this.deps.pg.query<{ pending: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM ${this.s}.${quoteIdent(name)} WHERE NOT archived) AS pending`,
    );
    return row!.pending;
  }

  private async count(name: string): Promise<number> {
    const [row] = await this.deps.pg.query<{ rows: number }>(`SELECT count(*)::bigint AS rows FROM ${this.s}.${quoteIdent(name)}`);
    return row!.rows;
  }

  private async addLedger(ids: string[], expiries: number[], client: Parameters<PostgresPool["query"]>[2]): Promise<void> {
    await this.deps.pg.query(
      `INSERT INTO ${this.s}.ebb_expiry_ledger (id_hash, expires_at) SELECT hashtextextended(id, 0), at FROM unnest($1::text[], $2::bigint[]) AS q(id, at)`,
      [ids, expiries],
      client,
    );
  }

  private async dropLedger(ids: string[], client: Parameters<PostgresPool["query"]>[2]): Promise<number> {
    const rows = await this.deps.pg.query(
      `DELETE FROM ${this.s}.ebb_expiry_ledger WHERE id_hash = ANY(SELECT hashtextextended(id, 0) FROM unnest($1::text[]) AS id) RETURNING 1`,
      [ids],
      client,
    );
    return rows.length;
  }

  private async pruneTombstones(now: number, client: Parameters<PostgresPool["query"]>[2]): Promise<number> {
    const rows = await this.deps.pg.query(
      `DELETE FROM ${this.s}.ebb_tombstones WHERE task_id IN (SELECT task_id FROM ${this.s}.ebb_tombstones WHERE expired_at < $1 ORDER BY expired_at LIMIT $2) RETURNING 1`,
      [now - this.deps.graceMs(), PRUNE_BATCH],
      client,
    );
    return rows.length;
  }
}

export type { PartitionInfo, RangeParent };
