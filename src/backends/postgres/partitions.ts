import { setTimeout as sleep } from "node:timers/promises";
import type { PostgresPool } from "../../postgres/pg-pool.js";
import { quoteIdent, type PartitionWidth } from "../../postgres/pg-url.js";

/** Where a result row lives (see migrations/0001_results.sql). */
export const LANE = { delete: 0, archive: 1, kept: 2 } as const;
export type Lane = (typeof LANE)[keyof typeof LANE];

/** The partitioned tables split by expiry time, each with the prefix of its partitions' names. */
export const RANGE_PARENTS = {
  delete: { table: "ebb_results_delete", prefix: "ebb_results_d_" },
  archive: { table: "ebb_results_archive", prefix: "ebb_results_a_" },
  ledger: { table: "ebb_expiry_ledger", prefix: "ebb_expiry_ledger_" },
} as const;
export type RangeParent = keyof typeof RANGE_PARENTS;

const WIDTH_MS: Record<PartitionWidth, number> = { hour: 3_600_000, day: 86_400_000 };

/** Each time range is split into this many tables by a hash of the id (see create()). */
export const HASH_PARTS = 4;

/** One attached partition: its name and the expiry range [from, to) it holds. */
export interface PartitionInfo {
  parent: RangeParent;
  name: string;
  from: number;
  to: number;
  /** False for a table a drop detached and did not get to drop (the process died in between). */
  attached: boolean;
  /** A DETACH ... CONCURRENTLY that did not finish (the process died between its two steps). */
  detachPending: boolean;
}

/**
 * The time ranges of the results' and the ledger's partitions: fixed widths (an hour or a day of
 * expiry times, aligned to UTC), named by their start, e.g. ebb_results_d_2026120213 for the
 * hour from 13:00 UTC. Partitions are made on demand, and with them the next one, so writers
 * whose lifetimes move them forward always find theirs made ahead of time. Creation runs under an
 * advisory lock (several processes may want the same one), as CREATE TABLE, then ATTACH
 * PARTITION, which takes only a SHARE UPDATE EXCLUSIVE lock on the parent: reads and writes go on.
 */
export class Partitions {
  readonly widthMs: number;
  private readonly s: string;
  /** parent:start of partitions known to exist. */
  private readonly known = new Set<string>();

  constructor(
    private readonly pg: PostgresPool,
    private readonly schema: string,
    readonly width: PartitionWidth,
  ) {
    this.widthMs = WIDTH_MS[width];
    this.s = quoteIdent(schema);
  }

  /** The start of the partition that holds an expiry instant. */
  startOf(expiresAt: number): number {
    return Math.floor(expiresAt / this.widthMs) * this.widthMs;
  }

  nameOf(parent: RangeParent, start: number): string {
    const iso = new Date(start).toISOString(); // 2026-12-02T13:00:00.000Z
    const label = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${this.width === "hour" ? iso.slice(11, 13) : ""}`;
    return `${RANGE_PARENTS[parent].prefix}${label}`;
  }

  /** Make sure the partitions holding these expiry instants (and the one after each) exist. */
  async ensure(parent: RangeParent, expiries: Iterable<number>): Promise<void> {
    const missing = new Set<number>();
    for (const at of expiries) {
      const start = this.startOf(at);
      for (const s of [start, start + this.widthMs]) if (!this.known.has(`${parent}:${s}`)) missing.add(s);
    }
    if (missing.size === 0) return;
    await this.create(
      parent,
      [...missing].sort((a, b) => a - b),
    );
  }

  /** Forget what is known (another process may have dropped partitions): the next ensure() looks again. */
  forgetAll(): void {
    this.known.clear();
  }

  private async create(parent: RangeParent, starts: number[]): Promise<void> {
    const { table } = RANGE_PARENTS[parent];
    await this.pg.transaction(async (client) => {
      await this.pg.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [`ebb-partitions:${this.schema}`], client);
      const existing = new Set(
        (
          await this.pg.query<{ name: string }>(
            `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
             JOIN pg_namespace n ON n.oid = p.relnamespace WHERE n.nspname = $1 AND p.relname = $2`,
            [this.schema, table],
            client,
          )
        ).map((r) => r.name),
      );
      for (const start of starts) {
        const name = this.nameOf(parent, start);
        if (!existing.has(name)) {
          const q = `${this.s}.${quoteIdent(name)}`;
          // A table of this name that is not attached is a partition a crashed drop detached: its rows are gone already.
          await this.pg.simple(`DROP TABLE IF EXISTS ${q}`, client);
          // Split by a hash of the id into HASH_PARTS tables, so no one drop frees more than a
          // fraction of the range: on a filesystem that discards freed blocks, a large file's
          // drop stalls every commit while it runs (bench/postgres-cleanup.ts).
          const key = parent === "ledger" ? "id_hash" : "task_id";
          await this.pg.simple(
            `CREATE TABLE ${q} (LIKE ${this.s}.${quoteIdent(table)} INCLUDING DEFAULTS) PARTITION BY HASH (${key})`,
            client,
          );
          for (let i = 0; i < HASH_PARTS; i++)
            await this.pg.simple(
              `CREATE TABLE ${this.s}.${quoteIdent(`${name}_h${i}`)} PARTITION OF ${q} FOR VALUES WITH (MODULUS ${HASH_PARTS}, REMAINDER ${i})`,
              client,
            );
          for (const index of indexesFor(parent, name)) await this.pg.simple(index.replace("$table", q), client);
          await this.pg.simple(
            `ALTER TABLE ${this.s}.${quoteIdent(table)} ATTACH PARTITION ${q} FOR VALUES FROM (${start}) TO (${start + this.widthMs})`,
            client,
          );
        }
      }
    });
    for (const start of starts) this.known.add(`${parent}:${start}`);
  }

  /**
   * Every table of these parents' partitions in one catalog read, oldest first: the attached ones
   * and those a crash left detached (attached false). Cheap: sizes are read by size() for the few
   * that are about to go.
   */
  async survey(parents: readonly RangeParent[]): Promise<PartitionInfo[]> {
    const prefixes = parents.map((p) => RANGE_PARENTS[p].prefix);
    const rows = await this.pg.query<{ name: string; pending: boolean | null; attached: boolean }>(
      `SELECT c.relname AS name, i.inhdetachpending AS pending, c.relispartition AS attached
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         LEFT JOIN pg_inherits i ON i.inhrelid = c.oid
        WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND starts_with(c.relname, 'ebb_') AND c.relname !~ '_h[0-9]+$'`,
      [this.schema],
    );
    const out: PartitionInfo[] = [];
    for (const r of rows) {
      const parent = parents[prefixes.findIndex((prefix) => r.name.startsWith(prefix))];
      if (parent === undefined) continue;
      const from = this.parseStart(r.name.slice(RANGE_PARENTS[parent].prefix.length));
      if (from === null) continue;
      if (r.attached) this.known.add(`${parent}:${from}`);
      out.push({ parent, name: r.name, from, to: from + this.widthMs, attached: r.attached, detachPending: r.pending === true });
    }
    return out.sort((a, b) => a.from - b.from);
  }

  /** A partition's rows (PostgreSQL's statistics: live rows or the planner's estimate, whichever is larger) and bytes on disk, over its hash parts. */
  async size(name: string): Promise<{ rows: number; bytes: number }> {
    const [row] = await this.pg.query<{ rows: number; bytes: number }>(
      `SELECT coalesce(sum(greatest(pg_stat_get_live_tuples(l.oid), l.reltuples)), 0)::bigint AS rows,
              coalesce(sum(pg_total_relation_size(l.oid)), 0)::bigint AS bytes
         FROM pg_partition_tree($1::regclass) p JOIN pg_class l ON l.oid = p.relid WHERE p.isleaf`,
      [`${this.s}.${quoteIdent(name)}`],
    );
    return row!;
  }

  /**
   * Take a partition out of its parent without blocking readers or writers (DETACH ...
   * CONCURRENTLY, which waits for queries that still see it), finishing one a crash left half
   * detached. Runs outside any transaction, as PostgreSQL requires.
   */
  async detach(p: PartitionInfo): Promise<void> {
    const { table } = RANGE_PARENTS[p.parent];
    const verb = p.detachPending ? "FINALIZE" : "CONCURRENTLY";
    await this.pg.simple(`ALTER TABLE ${this.s}.${quoteIdent(table)} DETACH PARTITION ${this.s}.${quoteIdent(p.name)} ${verb}`);
    this.known.delete(`${p.parent}:${p.from}`);
  }

  /** Put a detached partition back (its rows are still wanted). */
  async attach(p: PartitionInfo): Promise<void> {
    const { table } = RANGE_PARENTS[p.parent];
    await this.pg.simple(
      `ALTER TABLE ${this.s}.${quoteIdent(table)} ATTACH PARTITION ${this.s}.${quoteIdent(p.name)} FOR VALUES FROM (${p.from}) TO (${p.to})`,
    );
    this.known.add(`${p.parent}:${p.from}`);
  }

  /**
   * Drop a detached partition: its hash parts one at a time, `pauseMs` apart, then the rest, so
   * the filesystem returns the space in pieces and commits elsewhere stall for one piece at most.
   */
  async drop(name: string, pauseMs = 0): Promise<void> {
    const parts = await this.pg.query<{ part: string }>(
      `SELECT c.relname AS part FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = to_regclass($1) ORDER BY c.relname`,
      [`${this.s}.${quoteIdent(name)}`],
    );
    for (const [k, { part }] of parts.entries()) {
      if (k > 0 && pauseMs > 0) await sleep(pauseMs);
      await this.pg.simple(`DROP TABLE IF EXISTS ${this.s}.${quoteIdent(part)}`);
    }
    await this.pg.simple(`DROP TABLE IF EXISTS ${this.s}.${quoteIdent(name)}`);
  }

  /** "2026120213" (hour) or "20261202" (day) back to its start. */
  private parseStart(label: string): number | null {
    const m = /^(\d{4})(\d{2})(\d{2})(\d{2})?$/.exec(label);
    if (!m || (this.width === "hour") !== (m[4] !== undefined)) return null;
    return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4] ?? 0));
  }
}

/** Each partition's own indexes ($table is its quoted name). */
function indexesFor(parent: RangeParent, name: string): string[] {
  if (parent === "ledger") return [`CREATE INDEX ${quoteIdent(`${name}_hash`)} ON $table (id_hash)`];
  const unique = `CREATE UNIQUE INDEX ${quoteIdent(`${name}_task_id`)} ON $table (task_id)`;
  // Rows arrive in about expiry order, so a block-range index finds the expired ones of the
  // current partition (what cleanup's scan removes) for almost nothing per write.
  const expiry = `CREATE INDEX ${quoteIdent(`${name}_expiry`)} ON $table USING brin (expires_at) WITH (pages_per_range = 16, autosummarize = on)`;
  // Archive partitions: what is not archived yet, so a drop can tell at once whether it may go.
  if (parent === "archive") return [unique, expiry, `CREATE INDEX ${quoteIdent(`${name}_pending`)} ON $table (task_id) WHERE NOT archived`];
  return [unique, expiry];
}
