import { randomUUID } from "node:crypto";
import pg from "pg";
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

export async function postgresSchema(databaseUrl = TEST_DATABASE_URL): Promise<PostgresSchema> {
  const schema = `ebbtest_${randomUUID().replace(/-/g, "").slice(0, 20)}`;
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
