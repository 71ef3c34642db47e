import { createHash } from "node:crypto";
import type { Pool, PoolClient, QueryResultRow } from "pg";
import { ConfigError, EbbError, StoreUnavailableError } from "../../errors.js";

/** Connections per backend: retention works one batch at a time, so a few are plenty. */
const POOL_MAX = 3;

/** Something that runs queries: the pool (autocommit) or one client inside a transaction. */
export type Queryable = Pick<Pool, "query"> | PoolClient;

/**
 * PostgreSQL access for the Celery-table driver: pg is imported only here, and only when a
 * db+postgresql:// URL is opened, so SQLite and Redis users never load it. Every statement that
 * takes parameters runs as a named prepared statement (parsed once per connection); values are
 * always parameters, never spliced into SQL.
 */
export class PostgresPool {
  private pool: Pool | undefined;

  constructor(
    private readonly connectionString: string,
    private readonly display: string,
  ) {}

  async open(): Promise<void> {
    const { default: pg } = await import("pg");
    const pool = new pg.Pool({
      connectionString: this.connectionString,
      max: POOL_MAX,
      idleTimeoutMillis: 10_000,
      connectionTimeoutMillis: 10_000,
      application_name: "ebb",
    });
    // An idle connection that dies (server restart) must not crash the process; the next query reconnects.
    pool.on("error", () => undefined);
    this.pool = pool;
  }

  /** One statement, prepared once per connection under a name derived from its text. */
  async query<R extends QueryResultRow>(text: string, values: unknown[] = [], on?: Queryable): Promise<R[]> {
    try {
      const result = await (on ?? this.connected()).query<R>({ name: statementName(text), text, values });
      return result.rows;
    } catch (error) {
      throw this.mapError(error);
    }
  }

  /** DDL cannot be prepared: run as a simple statement. A concurrent CREATE ... IF NOT EXISTS that lost the race is fine. */
  async ddl(text: string): Promise<void> {
    try {
      await this.connected().query(text);
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === "23505" || code === "42P07") return; // duplicate key in pg_type / relation exists: someone else made it
      throw this.mapError(error);
    }
  }

  /** One short transaction on one connection; rolled back when fn throws. */
  async transaction<T>(fn: (client: PoolClient) => Promise<T>): Promise<T> {
    let client: PoolClient;
    try {
      client = await this.connected().connect();
    } catch (error) {
      throw this.mapError(error);
    }
    try {
      await client.query("BEGIN");
      const value = await fn(client);
      await client.query("COMMIT");
      return value;
    } catch (error) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw this.mapError(error);
    } finally {
      client.release();
    }
  }

  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    await pool?.end();
  }

  private connected(): Pool {
    if (!this.pool) throw new StoreUnavailableError(`The Celery database ${this.display} is not open (closed, or open() was not awaited)`);
    return this.pool;
  }

  /** Connection-level failures become StoreUnavailableError / ConfigError naming the (redacted) URL; SQL errors pass through. */
  private mapError(error: unknown): unknown {
    if (error instanceof EbbError) return error;
    const e = error as { code?: string; message?: string };
    const code = e.code ?? "";
    const why = e.message ?? String(error);
    if (code === "3D000") return new ConfigError(`${this.display}: ${why}; check the database name in the URL`, { cause: error });
    if (code === "28P01" || code === "28000")
      return new ConfigError(`${this.display}: ${why}; check the user and password in the URL`, { cause: error });
    if (/^(E[A-Z]+|08...|57P0[1-3])$/.test(code) || /timeout|terminated|Connection/i.test(why)) {
      return new StoreUnavailableError(
        `Cannot reach PostgreSQL at ${this.display}: ${why}; check that the server is running and the URL's host and port`,
        { cause: error },
      );
    }
    return error;
  }
}

function statementName(text: string): string {
  return `ebb-celery-${createHash("sha1").update(text).digest("hex").slice(0, 16)}`;
}
