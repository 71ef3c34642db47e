import { ConfigError } from "../errors.js";
import { redactUrl } from "../url.js";

/** How wide one result partition is: an hour or a day of expiry times. */
export type PartitionWidth = "hour" | "day";

export interface PostgresTarget {
  /** What pg connects with: the URL without Ebb's own query parameters. */
  connectionString: string;
  /** Where Ebb's tables are (created when missing). */
  schema: string;
  /** The partition width asked for, or null for the store's own (set when its tables were made; "hour" for a new store). */
  partition: PartitionWidth | null;
  /** The URL with its password replaced by "***", for messages. */
  display: string;
}

const EXAMPLE = `"postgresql://user:pass@host:5432/db" (or postgres://), optionally with ?schema=ebb`;

/**
 * Ebb's own PostgreSQL store: postgresql:// and postgres://. Two query parameters are Ebb's and are
 * removed before the URL reaches pg:
 *   schema=NAME        where Ebb's tables are (default "ebb"; created when missing)
 *   partition=hour|day how much expiry time one results partition covers, when the store is made
 * Everything else (sslmode, application_name, ...) passes through to pg. Celery's own table is
 * db+postgresql://, not this.
 */
export function parsePostgresUrl(url: string): PostgresTarget {
  const display = redactUrl(url);
  const m = /^(postgres(?:ql)?):\/\/([^?#]*)(?:\?([^#]*))?$/is.exec(url);
  if (!m) throw new ConfigError(`Expected a PostgreSQL URL such as ${EXAMPLE}, got ${JSON.stringify(display)}`);
  const params = new URLSearchParams(m[3] ?? "");
  const schema = params.get("schema") ?? "ebb";
  params.delete("schema");
  if (schema.length === 0 || schema.length > 40)
    throw new ConfigError(
      `Expected ?schema= in ${JSON.stringify(display)} to name a schema of 1 to 40 characters, got ${JSON.stringify(schema)}`,
    );
  const partition = params.get("partition");
  params.delete("partition");
  if (partition !== null && partition !== "hour" && partition !== "day")
    throw new ConfigError(`Expected ?partition= in ${JSON.stringify(display)} to be "hour" or "day", got ${JSON.stringify(partition)}`);
  const left = params.toString();
  return { connectionString: `postgresql://${m[2]}${left ? `?${left}` : ""}`, schema, partition, display };
}

/** A SQL identifier, double-quoted: schema and table names are never parameters. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
