import { randomUUID } from "node:crypto";
import pg from "pg";
import { onTestFinished } from "vitest";
import type { PostgresPool } from "../../src/postgres/pg-pool.js";
import { SERVICES } from "./services.js";

/**
 * A schema of its own on the shared test PostgreSQL (the URL's ?schema=), a plain client to look
 * at it, and cleanup that drops that schema only: tests never see each other's tables, and no
 * database or schema the tests did not create is touched.
 */
export interface PostgresSchema {
  schema: string;
  url: string;
  /** The URL of the database without ?schema= (for tools that take a plain one). */
  databaseUrl: string;
  /** For reading and writing by hand (qualify names with the schema yourself). */
  sql(text: string, values?: unknown[]): Promise<Record<string, unknown>[]>;
  cleanup(): Promise<void>;
}

export const TEST_DATABASE_URL = `postgresql://postgres@${SERVICES.postgres.host}:${SERVICES.postgres.port}/test`;

/** A schema name no other test run uses. */
function newSchemaName(): string {
  return `ebbtest_${randomUUID().replace(/-/g, "").slice(0, 20)}`;
}

export async function postgresSchema(databaseUrl = TEST_DATABASE_URL): Promise<PostgresSchema> {
  const schema = newSchemaName();
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  return {
    schema,
    url: `${databaseUrl}?schema=${schema}`,
    databaseUrl,
    async sql(text, values = []) {
      return (await client.query(text, values)).rows;
    },
    async cleanup() {
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await client.end();
    },
  };
}

/**
 * postgresSchema() for the running test, dropped when it ends. Everything a test opens after it
 * and closes with onTestFinished is closed first (those hooks run last in, first out).
 */
export async function testSchema(): Promise<PostgresSchema> {
  const ns = await postgresSchema();
  onTestFinished(() => ns.cleanup());
  return ns;
}

/**
 * For a factory that cannot wait: the URL of a schema named now, made by whatever connects to it
 * first, and dropped when the running test ends.
 */
export function testSchemaUrl(): string {
  const schema = newSchemaName();
  onTestFinished(async () => {
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await client.connect();
    try {
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    } finally {
      await client.end();
    }
  });
  return `${TEST_DATABASE_URL}?schema=${schema}`;
}

/** A PostgreSQL broker's or store's pool, to watch or stub the statements it runs. */
export function poolOf(store: object): PostgresPool {
  return (store as { pg: PostgresPool }).pg;
}
