import type { Clock } from "../../clock.js";
import { ConfigError } from "../../errors.js";
import type { CeleryRow, CheckRow, NewRow } from "./celery-row.js";
import { ARCHIVED_TABLE, EXTENDED_COLUMNS, HOLDS_TABLE, TASK_TABLE, type CeleryTable } from "./celery-table.js";
import { PostgresPool, type Queryable } from "../../postgres/pg-pool.js";
import { quoteIdent } from "../../postgres/pg-url.js";
import { selectRowSql, type Dialect, type SideTables } from "./select-row-sql.js";

/**
 * Celery's table in PostgreSQL (db+postgresql://), in the URL's ?schema= or wherever the
 * search_path finds it. date_done is `timestamp without time zone` holding naive UTC: it is read
 * with to_char and compared with timestamp literals, never converted through the session's
 * TimeZone, which is what shifted Celery's own cleanup (db_cleanup_session_timezone_effect.txt).
 * Removal is by primary key in batches, each in one short transaction: never Celery's single
 * unbounded DELETE (celery/celery #10097).
 */
export class PostgresCeleryTable implements CeleryTable {
  private readonly pg: PostgresPool;
  private readonly d: Dialect;
  private columns = new Set<string>();
  /** How put() gives a new row its id: Celery's model uses its own sequence (a name here), not a column default (""); null: neither. */
  private newId: string | null = null;

  constructor(
    connectionString: string,
    private readonly schema: string | null,
    private readonly display: string,
    private readonly clock?: Clock,
  ) {
    this.pg = new PostgresPool({ connectionString, display, statementPrefix: "ebb-celery" });
    this.d = {
      table: (name) => (schema === null ? quoteIdent(name) : `${quoteIdent(schema)}.${quoteIdent(name)}`),
      octets: (c) => `coalesce(octet_length(t.${c}), 0)`,
      dateDone: `to_char(t.date_done, 'YYYY-MM-DD HH24:MI:SS.US')`,
    };
  }

  async open(): Promise<void> {
    await this.pg.open();
    try {
      const columns = await this.pg.query<{ name: string; has_default: boolean }>(
        `SELECT a.attname AS name, d.adbin IS NOT NULL AS has_default FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped`,
        [this.d.table(TASK_TABLE)],
      );
      if (columns.length === 0) {
        const where = this.schema === null ? "on the connection's search_path" : `in schema ${JSON.stringify(this.schema)}`;
        throw new ConfigError(
          `${this.display} has no ${TASK_TABLE} table ${where}: a db+postgresql:// URL names Celery's result database; ` +
            `add ?schema=NAME when Celery's database_table_schemas puts it elsewhere (Ebb's own store is postgresql://, not db+postgresql://)`,
        );
      }
      this.columns = new Set(columns.map((c) => c.name));
      const sequence = this.d.table("task_id_sequence");
      const [seq] = await this.pg.query<{ ok: boolean }>("SELECT to_regclass($1) IS NOT NULL AS ok", [sequence]);
      this.newId = columns.find((c) => c.name === "id")?.has_default ? "" : seq?.ok ? sequence : null;
    } catch (error) {
      await this.pg.close();
      throw error;
    }
  }

  async now(): Promise<number> {
    if (this.clock) return this.clock();
    const [row] = await this.pg.query<{ now: number }>("SELECT floor(extract(epoch from clock_timestamp()) * 1000)::float8 AS now");
    return row!.now;
  }

  async get(taskId: string): Promise<CeleryRow | undefined> {
    const [row] = await this.pg.query<CeleryRow>(selectRowSql(this.columns, await this.sideTables(), "t.task_id = $1", this.d), [taskId]);
    return row;
  }

  async page(afterId: number, limit: number, doneBy: string | null): Promise<CeleryRow[]> {
    const where = "t.id > $1 AND ($2::timestamp IS NULL OR t.date_done <= $2::timestamp) ORDER BY t.id LIMIT $3";
    return this.pg.query<CeleryRow>(selectRowSql(this.columns, await this.sideTables(), where, this.d), [afterId, doneBy, limit]);
  }

  async removeChosen(taskIds: readonly string[], choose: (rows: CheckRow[]) => number[]): Promise<string[]> {
    const T = this.d.table(TASK_TABLE);
    return this.pg.transaction(async (c) => {
      const rows = await this.pg.query<Omit<CheckRow, "held">>(
        `SELECT t.id, t.task_id, t.status, ${this.d.dateDone} AS date_done FROM ${T} t WHERE t.task_id = ANY($1::text[]) FOR UPDATE`,
        [taskIds],
        c,
      );
      const side = await this.sideTables(c);
      // Read after the row locks are held: a hold committed by setHeld (which locks the row FOR SHARE first) is seen.
      const held = side.holds
        ? await this.pg.query<{ task_id: string }>(
            `SELECT task_id FROM ${this.d.table(HOLDS_TABLE)} WHERE task_id = ANY($1::text[])`,
            [taskIds],
            c,
          )
        : [];
      const heldIds = new Set(held.map((h) => h.task_id));
      const chosen = new Set(choose(rows.map((r) => ({ ...r, held: heldIds.has(r.task_id) }))));
      const removed = rows.filter((r) => chosen.has(r.id)).map((r) => r.task_id);
      if (removed.length === 0) return [];
      await this.pg.query(`DELETE FROM ${T} WHERE id = ANY($1::int[])`, [[...chosen]], c);
      if (side.archived) await this.pg.query(`DELETE FROM ${this.d.table(ARCHIVED_TABLE)} WHERE task_id = ANY($1::text[])`, [removed], c);
      return removed;
    });
  }

  async markArchived(taskIds: readonly string[]): Promise<number> {
    const T = this.d.table(TASK_TABLE);
    const A = this.d.table(ARCHIVED_TABLE);
    await this.pg.ddl(`CREATE TABLE IF NOT EXISTS ${A} (task_id varchar(155) PRIMARY KEY)`);
    await this.pg.query(`INSERT INTO ${A} (task_id) SELECT task_id FROM ${T} WHERE task_id = ANY($1::text[]) ON CONFLICT DO NOTHING`, [
      taskIds,
    ]);
    const [row] = await this.pg.query<{ n: string }>(`SELECT count(*) AS n FROM ${T} WHERE task_id = ANY($1::text[])`, [taskIds]);
    return Number(row!.n);
  }

  async setHeld(taskId: string, held: boolean): Promise<boolean> {
    const H = this.d.table(HOLDS_TABLE);
    if (held) await this.pg.ddl(`CREATE TABLE IF NOT EXISTS ${H} (task_id varchar(155) PRIMARY KEY)`);
    return this.pg.transaction(async (c) => {
      // FOR SHARE: a concurrent remove() (FOR UPDATE) either finishes first (no row: false) or sees this hold.
      const rows = await this.pg.query(`SELECT 1 FROM ${this.d.table(TASK_TABLE)} WHERE task_id = $1 FOR SHARE`, [taskId], c);
      if (rows.length === 0) return false;
      if (held) await this.pg.query(`INSERT INTO ${H} (task_id) VALUES ($1) ON CONFLICT DO NOTHING`, [taskId], c);
      else if ((await this.sideTables(c)).holds) await this.pg.query(`DELETE FROM ${H} WHERE task_id = $1`, [taskId], c);
      return true;
    });
  }

  async write(row: NewRow, replace: boolean): Promise<boolean> {
    const T = this.d.table(TASK_TABLE);
    const columns = ["status", "result", "date_done", "traceback", ...EXTENDED_COLUMNS.filter((c) => this.columns.has(c))] as const;
    const values = columns.map((c) => row[c]);
    const cast = (c: string, i: number) => `$${i}${c === "date_done" ? "::timestamp" : ""}`;
    return this.pg.transaction(async (c) => {
      const [existing] = await this.pg.query<{ id: number }>(`SELECT id FROM ${T} WHERE task_id = $1 FOR UPDATE`, [row.task_id], c);
      if (existing && !replace) return false;
      if (existing) {
        await this.pg.query(
          `UPDATE ${T} SET ${columns.map((col, i) => `${col} = ${cast(col, i + 2)}`).join(", ")} WHERE id = $1`,
          [existing.id, ...values],
          c,
        );
        return true;
      }
      if (this.newId === null)
        throw new ConfigError(
          `${this.display}: ${TASK_TABLE}.id has no default and there is no task_id_sequence beside it, so a restored row cannot get an id`,
        );
      const idColumn = this.newId === "" ? "" : "id, ";
      const idValue = this.newId === "" ? "" : `nextval(${cast("", columns.length + 2)}::regclass), `;
      const inserted = await this.pg.query(
        `INSERT INTO ${T} (${idColumn}task_id, ${columns.join(", ")}) VALUES (${idValue}$1, ${columns.map((col, i) => cast(col, i + 2)).join(", ")}) ON CONFLICT (task_id) DO NOTHING RETURNING id`,
        [row.task_id, ...values, ...(this.newId === "" ? [] : [this.newId])],
        c,
      );
      return inserted.length > 0;
    });
  }

  async forget(taskId: string): Promise<boolean> {
    return (await this.removeChosen([taskId], (rows) => rows.map((r) => r.id))).length > 0;
  }

  async close(): Promise<void> {
    await this.pg.close();
  }

  private async sideTables(on?: Queryable): Promise<SideTables> {
    const [row] = await this.pg.query<SideTables>(
      "SELECT to_regclass($1) IS NOT NULL AS holds, to_regclass($2) IS NOT NULL AS archived",
      [this.d.table(HOLDS_TABLE), this.d.table(ARCHIVED_TABLE)],
      on,
    );
    return row!;
  }
}
