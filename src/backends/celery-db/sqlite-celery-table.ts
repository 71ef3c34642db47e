import { existsSync } from "node:fs";
import Database from "better-sqlite3";
import type { Clock } from "../../clock.js";
import { ConfigError, StoreUnavailableError } from "../../errors.js";
import { storeClock } from "../../sqlite/open-database.js";
import type { CeleryRow, CheckRow, NewRow } from "./celery-row.js";
import { ARCHIVED_TABLE, EXTENDED_COLUMNS, HOLDS_TABLE, TASK_TABLE, type CeleryTable } from "./celery-table.js";
import { selectRowSql, type SideTables } from "./select-row-sql.js";

/** JSON array parameter → rows: one prepared statement serves any number of ids. */
const IDS = "(SELECT value FROM json_each(?))";

/**
 * Celery's table in a SQLite file (db+sqlite://). Reads go through a read-only connection, so
 * scans, stats and lookups cannot change Celery's file; a writable one is opened on the first
 * write (remove, hold, archive mark, put). Neither changes the file's journal mode or pragmas.
 * Each SQL text is prepared once per connection (cached by text).
 */
export class SqliteCeleryTable implements CeleryTable {
  private reader: Database.Database | undefined;
  private writer: Database.Database | undefined;
  private readonly prepared = new Map<Database.Database, Map<string, Database.Statement>>();
  private columns = new Set<string>();
  private clock: Clock = () => Date.now();

  constructor(
    private readonly path: string,
    private readonly display: string,
    private readonly injectedClock?: Clock,
  ) {}

  async open(): Promise<void> {
    if (!existsSync(this.path)) {
      throw new ConfigError(
        `No SQLite database at ${this.path} (from ${this.display}): a db+sqlite:// URL names the file Celery's database backend writes; ` +
          `three slashes after "db+sqlite:" make the path relative to the working directory, four make it absolute`,
      );
    }
    const reader = this.connect(true);
    let columns: string[];
    try {
      columns = this.sql(reader, "SELECT name FROM pragma_table_info(?)").pluck().all(TASK_TABLE) as string[];
    } catch (error) {
      reader.close();
      throw new ConfigError(
        `Cannot read ${this.display} (${this.path}): ${(error as Error).message}; a db+sqlite:// URL names the SQLite file Celery's database backend writes`,
        { cause: error },
      );
    }
    if (columns.length === 0) {
      reader.close();
      throw new ConfigError(
        `${this.display} has no ${TASK_TABLE} table: is it Celery's result database? Celery creates the table with its first stored result (Ebb's own store is sqlite://, not db+sqlite://)`,
      );
    }
    this.reader = reader;
    this.columns = new Set(columns);
    this.clock = storeClock(reader, this.injectedClock);
  }

  async now(): Promise<number> {
    return this.clock();
  }

  async get(taskId: string): Promise<CeleryRow | undefined> {
    const db = this.read();
    return this.sql(db, selectRowSql(this.columns, this.sideTables(db), "t.task_id = ?")).get(taskId) as CeleryRow | undefined;
  }

  async page(afterId: number, limit: number, doneBy: string | null): Promise<CeleryRow[]> {
    const db = this.read();
    // date_done is SQLAlchemy's fixed-width text ("2026-11-24 02:08:19.545934"), so text order is time order.
    const where = "t.id > @after AND (@doneBy IS NULL OR (t.date_done IS NOT NULL AND t.date_done <= @doneBy)) ORDER BY t.id LIMIT @limit";
    return this.sql(db, selectRowSql(this.columns, this.sideTables(db), where)).all({ after: afterId, doneBy, limit }) as CeleryRow[];
  }

  async removeChosen(taskIds: readonly string[], choose: (rows: CheckRow[]) => number[]): Promise<string[]> {
    const db = this.writable();
    return db
      .transaction((): string[] => {
        const side = this.sideTables(db);
        const held = side.holds ? `EXISTS (SELECT 1 FROM ${HOLDS_TABLE} h WHERE h.task_id = t.task_id)` : "0";
        const rows = this.sql(
          db,
          `SELECT t.id, t.task_id, t.status, t.date_done, ${held} AS held FROM ${TASK_TABLE} t WHERE t.task_id IN ${IDS}`,
        ).all(JSON.stringify(taskIds)) as CheckRow[];
        const chosen = new Set(choose(rows.map((r) => ({ ...r, held: Boolean(r.held) }))));
        const removed = rows.filter((r) => chosen.has(r.id)).map((r) => r.task_id);
        if (removed.length === 0) return [];
        this.sql(db, `DELETE FROM ${TASK_TABLE} WHERE id IN ${IDS}`).run(JSON.stringify([...chosen]));
        if (side.archived) this.sql(db, `DELETE FROM ${ARCHIVED_TABLE} WHERE task_id IN ${IDS}`).run(JSON.stringify(removed));
        return removed;
      })
      .immediate();
  }

  async markArchived(taskIds: readonly string[]): Promise<number> {
    const db = this.writable();
    return db
      .transaction((): number => {
        this.sql(db, `CREATE TABLE IF NOT EXISTS ${ARCHIVED_TABLE} (task_id VARCHAR(155) NOT NULL PRIMARY KEY)`).run();
        const ids = JSON.stringify(taskIds);
        this.sql(db, `INSERT OR IGNORE INTO ${ARCHIVED_TABLE} (task_id) SELECT task_id FROM ${TASK_TABLE} WHERE task_id IN ${IDS}`).run(
          ids,
        );
        return this.sql(db, `SELECT count(*) FROM ${TASK_TABLE} WHERE task_id IN ${IDS}`).pluck().get(ids) as number;
      })
      .immediate();
  }

  async setHeld(taskId: string, held: boolean): Promise<boolean> {
    const db = this.writable();
    return db
      .transaction((): boolean => {
        if (this.sql(db, `SELECT 1 FROM ${TASK_TABLE} WHERE task_id = ?`).get(taskId) === undefined) return false;
        if (held) {
          this.sql(db, `CREATE TABLE IF NOT EXISTS ${HOLDS_TABLE} (task_id VARCHAR(155) NOT NULL PRIMARY KEY)`).run();
          this.sql(db, `INSERT OR IGNORE INTO ${HOLDS_TABLE} (task_id) VALUES (?)`).run(taskId);
        } else if (this.sideTables(db).holds) {
          this.sql(db, `DELETE FROM ${HOLDS_TABLE} WHERE task_id = ?`).run(taskId);
        }
        return true;
      })
      .immediate();
  }

  async write(row: NewRow, replace: boolean): Promise<boolean> {
    const db = this.writable();
    const columns = ["status", "result", "date_done", "traceback", ...EXTENDED_COLUMNS.filter((c) => this.columns.has(c))] as const;
    const values = columns.map((c) => row[c]);
    return db
      .transaction((): boolean => {
        const id = this.sql(db, `SELECT id FROM ${TASK_TABLE} WHERE task_id = ?`).pluck().get(row.task_id) as number | undefined;
        if (id !== undefined && !replace) return false;
        if (id !== undefined)
          this.sql(db, `UPDATE ${TASK_TABLE} SET ${columns.map((c) => `${c} = ?`).join(", ")} WHERE id = ?`).run(...values, id);
        else
          this.sql(db, `INSERT INTO ${TASK_TABLE} (task_id, ${columns.join(", ")}) VALUES (?, ${columns.map(() => "?").join(", ")})`).run(
            row.task_id,
            ...values,
          );
        return true;
      })
      .immediate();
  }

  async forget(taskId: string): Promise<boolean> {
    return (await this.removeChosen([taskId], (rows) => rows.map((r) => r.id))).length > 0;
  }

  async close(): Promise<void> {
    this.reader?.close();
    this.writer?.close();
    this.reader = this.writer = undefined;
  }

  private sideTables(db: Database.Database): SideTables {
    const names = new Set(
      this.sql(db, `SELECT name FROM sqlite_master WHERE type = 'table' AND name IN (?, ?)`)
        .pluck()
        .all(HOLDS_TABLE, ARCHIVED_TABLE) as string[],
    );
    return { holds: names.has(HOLDS_TABLE), archived: names.has(ARCHIVED_TABLE) };
  }

  private sql(db: Database.Database, text: string): Database.Statement {
    let cache = this.prepared.get(db);
    if (!cache) {
      cache = new Map();
      this.prepared.set(db, cache);
    }
    let statement = cache.get(text);
    if (!statement) {
      statement = db.prepare(text);
      cache.set(text, statement);
    }
    return statement;
  }

  private read(): Database.Database {
    if (!this.reader)
      throw new StoreUnavailableError(`The Celery database ${this.display} is not open (closed, or open() was not awaited)`);
    return this.reader;
  }

  private writable(): Database.Database {
    this.read();
    this.writer ??= this.connect(false);
    return this.writer;
  }

  private connect(readonly: boolean): Database.Database {
    try {
      const db = new Database(this.path, { readonly, fileMustExist: true });
      // Celery's workers write the same file: wait for their locks rather than fail.
      db.pragma("busy_timeout = 5000");
      return db;
    } catch (error) {
      throw new StoreUnavailableError(
        `Cannot open ${this.display} (${this.path}): ${(error as Error).message}; check that it is a SQLite database this process may ${readonly ? "read" : "write"}`,
        { cause: error },
      );
    }
  }
}
