import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { StoreUnavailableError } from "../errors.js";
import type { PostgresPool } from "./pg-pool.js";
import { quoteIdent } from "./pg-url.js";

export interface PgMigration {
  /** The file name without .sql, e.g. "0001_results". */
  readonly id: string;
  readonly sql: string;
}

const DIR = new URL("./migrations/", import.meta.url);

/**
 * Ebb's PostgreSQL schema: the numbered .sql files in ./migrations, in order. They are
 * append-only: never edit or reorder a shipped one (databases have recorded its id); add the next
 * number instead.
 */
export function pgMigrations(): PgMigration[] {
  return readdirSync(fileURLToPath(DIR))
    .filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f))
    .sort()
    .map((f) => ({ id: f.slice(0, -4), sql: readFileSync(new URL(f, DIR), "utf8") }));
}

/**
 * Apply the migrations `schema` has not recorded, in one transaction under an advisory lock on
 * the schema's name, so several processes starting at once apply each exactly once (the others
 * wait, then find nothing to do). Creates the schema when it is missing. Returns the ids applied.
 */
export async function migrate(pg: PostgresPool, schema: string, migrations = pgMigrations()): Promise<string[]> {
  const s = quoteIdent(schema);
  return pg.transaction(async (client) => {
    await pg.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [`ebb-migrate:${schema}`], client);
    try {
      await pg.simple(`CREATE SCHEMA IF NOT EXISTS ${s}`, client);
    } catch (error) {
      if ((error as { code?: string }).code === "42501")
        throw new StoreUnavailableError(
          `PostgreSQL at ${pg.display}: the user may not create schema ${s}; create it (CREATE SCHEMA ${s}) or name one it may use with ?schema=`,
          { cause: error },
        );
      throw error;
    }
    await pg.simple(`SET LOCAL search_path TO ${s}`, client);
    await pg.simple(
      `CREATE TABLE IF NOT EXISTS ebb_migrations (id text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
      client,
    );
    const done = new Set((await pg.query<{ id: string }>(`SELECT id FROM ${s}.ebb_migrations`, [], client)).map((r) => r.id));
    const applied: string[] = [];
    for (const m of migrations) {
      if (done.has(m.id)) continue;
      await pg.simple(m.sql, client);
      await pg.query(`INSERT INTO ${s}.ebb_migrations (id) VALUES ($1)`, [m.id], client);
      applied.push(m.id);
    }
    return applied;
  });
}
