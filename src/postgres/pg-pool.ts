import { createHash } from "node:crypto";
import type { ClientConfig, Pool, PoolClient, QueryResultRow } from "pg";
import { EbbError, StoreUnavailableError } from "../errors.js";

/** Something that runs queries: the pool (autocommit) or one client inside a transaction. */
export type Queryable = Pick<Pool, "query"> | PoolClient;

export interface PostgresPoolOptions {
  connectionString: string;
  /** The URL with its password replaced, for messages. */
  display: string;
  /** Connections at most (default 3). */
  max?: number;
  /** Prefix of prepared statement names, so two users of one connection never collide. */
  statementPrefix: string;
  /** A statement running longer is cancelled and surfaces as an error, not a hang (default 30 s; 0 = none). */
  statementTimeoutMs?: number;
  /** Waiting longer for a lock is an error (default 5 s; 0 = none). */
  lockTimeoutMs?: number;
}

const INT8_OID = 20;

/**
 * PostgreSQL access: pg is imported only here, and only when a PostgreSQL URL is opened, so SQLite
 * and Redis users never load it. Every statement that takes parameters runs as a named prepared
 * statement (parsed once per connection); values are always parameters, never spliced into SQL.
 * Each connection carries statement_timeout and lock_timeout, so a stuck query or a lock held by
 * someone else ends in an error that says so. bigint columns (epoch milliseconds) read as numbers.
 * Failures to connect become one StoreUnavailableError line naming the redacted URL and what to
 * check: the password is never printed.
 */
export class PostgresPool {
  private pool: Pool | undefined;
  private readonly config: ClientConfig;

  constructor(private readonly options: PostgresPoolOptions) {
    this.config = {
      connectionString: options.connectionString,
      application_name: "ebb",
      connectionTimeoutMillis: 10_000,
      statement_timeout: options.statementTimeoutMs ?? 30_000,
      lock_timeout: options.lockTimeoutMs ?? 5_000,
    };
  }

  get display(): string {
    return this.options.display;
  }

  async open(): Promise<void> {
    const { default: pg } = await import("pg");
    const int8 = (text: string) => Number(text);
    const pool = new pg.Pool({
      ...this.config,
      max: this.options.max ?? 3,
      idleTimeoutMillis: 10_000,
      types: {
        getTypeParser: ((oid: number, format?: "text" | "binary") =>
          oid === INT8_OID ? int8 : pg.types.getTypeParser(oid, format)) as never,
      },
    });
    // An idle connection that dies (server restart) must not crash the process; the next query reconnects.
    pool.on("error", () => undefined);
    this.pool = pool;
  }

  /** A connection of its own, outside the pool (LISTEN): the caller ends it. */
  async dedicated(): Promise<import("pg").Client> {
    const { default: pg } = await import("pg");
    const client = new pg.Client(this.config);
    client.on("error", () => undefined);
    try {
      await client.connect();
    } catch (error) {
      throw this.mapError(error);
    }
    return client;
  }

  /** One statement, prepared once per connection under a name derived from its text. */
  async query<R extends QueryResultRow>(text: string, values: unknown[] = [], on?: Queryable): Promise<R[]> {
    try {
      const result = await (on ?? this.connected()).query<R>({ name: this.statementName(text), text, values });
      return result.rows;
    } catch (error) {
      throw this.mapError(error);
    }
  }

  /** Statements without parameters that cannot be prepared (DDL, several at once). */
  async simple(text: string, on?: Queryable): Promise<void> {
    try {
      await (on ?? this.connected()).query(text);
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
    let broken = false;
    try {
      await client.query("BEGIN");
      const value = await fn(client);
      await client.query("COMMIT");
      return value;
    } catch (error) {
      await client.query("ROLLBACK").catch(() => {
        broken = true;
      });
      throw this.mapError(error);
    } finally {
      client.release(broken);
    }
  }

  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    await pool?.end();
  }

  private connected(): Pool {
    if (!this.pool)
      throw new StoreUnavailableError(`The PostgreSQL database ${this.display} is not open (closed, or open() was not awaited)`);
    return this.pool;
  }

  private statementName(text: string): string {
    return `${this.options.statementPrefix}-${createHash("sha1").update(text).digest("hex").slice(0, 16)}`;
  }

  /** Connection-level failures and timeouts become StoreUnavailableError naming the (redacted) URL; SQL errors pass through. */
  mapError(error: unknown): unknown {
    return postgresError(error, this.display, this.config);
  }
}

/** See PostgresPool.mapError(). */
export function postgresError(
  error: unknown,
  display: string,
  config: Pick<ClientConfig, "statement_timeout" | "lock_timeout"> = {},
): unknown {
  if (error instanceof EbbError) return error;
  const e = error as { code?: string; message?: string };
  const code = e.code ?? "";
  const why = redactMessage(e.message ?? String(error));
  const fail = (hint: string) => new StoreUnavailableError(`PostgreSQL at ${display}: ${why}; ${hint}`, { cause: error });
  if (code === "3D000") return fail("check the database name in the URL, or create the database");
  if (code === "28P01" || code === "28000") return fail("check the user and password in the URL");
  if (code === "57014" && /statement timeout/i.test(why))
    return fail(`a statement ran past statement_timeout (${config.statement_timeout} ms); look for a long lock or an overloaded server`);
  if (code === "55P03") return fail(`a lock was held past lock_timeout (${config.lock_timeout} ms) by another session; see pg_locks`);
  if (/^(E[A-Z]+|08...|57P0[1-3])$/.test(code) || /timeout|terminated|Connection/i.test(why))
    return fail("check that the server is running and the URL's host and port");
  return error;
}

/** pg's messages can quote a connection string: never pass a password on. */
function redactMessage(message: string): string {
  return message.replace(/(postgres(?:ql)?:\/\/[^:/@\s]*):[^@\s]*@/gi, "$1:***@");
}
