import { parseDuration } from "../../duration.js";
import { isAbsolute, resolve } from "node:path";
import { ConfigError } from "../../errors.js";
import { redactUrl } from "../../url.js";

/**
 * Celery's database result-backend URLs, accepted as Celery users write them (SQLAlchemy style,
 * behind "db+"), so a deployment's URL can be pasted as it is:
 *
 *   db+sqlite:///relative/celery.db        three slashes: relative to the working directory
 *   db+sqlite:////var/lib/celery.db        four: absolute
 *   db+postgresql://user:pass@host:5432/db db+postgresql+psycopg2://... too
 *
 * Two query parameters are Ebb's own and are removed before the URL reaches a driver:
 *   schema=NAME          where Celery's tables are (Celery's database_table_schemas), e.g.
 *                        ?schema=celery_probe; without it, the connection's search_path decides
 *   result_expires=DUR   Celery's result_expires for these rows (seconds, or "1d", or "never"): a
 *                        row expires that long after its date_done, as Celery's own cleanup
 *                        counts. Default 86400 s, Celery's default, so `ebb cleanup` on a Celery
 *                        table removes what Celery's backend_cleanup would. With "never" rows
 *                        carry no expiry and only --older-than with --include-permanent selects them.
 * Other PostgreSQL parameters (sslmode, options=-csearch_path=..., application_name) pass through.
 */
export type CeleryDbTarget =
  | { kind: "sqlite"; path: string; display: string; resultExpiresMs: number | null }
  | { kind: "postgres"; connectionString: string; schema: string | null; display: string; resultExpiresMs: number | null };

const EXAMPLES = `"db+sqlite:///celery.db" (relative), "db+sqlite:////var/lib/celery.db" (absolute) or "db+postgresql://user:pass@host:5432/db?schema=public"`;

export function parseCeleryDbUrl(url: string): CeleryDbTarget {
  const display = redactUrl(url);
  const m = /^db\+(sqlite|postgresql(?:\+psycopg2)?):\/\/(.*)$/is.exec(url);
  if (!m) throw new ConfigError(`Expected a Celery database URL such as ${EXAMPLES}, got ${JSON.stringify(display)}`);
  const [rest, query = ""] = splitQuery(m[2]!);
  const params = new URLSearchParams(query);
  const resultExpiresMs = expiresParam(params.get("result_expires"), display);
  params.delete("result_expires");
  if (m[1]!.toLowerCase() === "sqlite") {
    // SQLAlchemy: sqlite:/// + "relative.db", sqlite:/// + "/abs.db"; sqlite:// alone is in-memory.
    if (!rest.startsWith("/") || rest.length === 1) {
      throw new ConfigError(`${JSON.stringify(display)} names no database file: Celery's SQLite database is ${EXAMPLES.split(" or ")[0]}`);
    }
    const path = rest.slice(1);
    return { kind: "sqlite", path: isAbsolute(path) ? path : resolve(process.cwd(), path), display, resultExpiresMs };
  }
  const schema = params.get("schema");
  params.delete("schema");
  if (schema !== null && schema.length === 0)
    throw new ConfigError(`Expected ?schema= in ${JSON.stringify(display)} to name a schema, got ""`);
  const left = params.toString();
  return { kind: "postgres", connectionString: `postgresql://${rest}${left ? `?${left}` : ""}`, schema, display, resultExpiresMs };
}

function splitQuery(text: string): [string, string?] {
  const q = text.indexOf("?");
  return q < 0 ? [text] : [text.slice(0, q), text.slice(q + 1)];
}

/** Celery's default result_expires (1 day). */
const CELERY_DEFAULT_RESULT_EXPIRES_MS = 86_400_000;

function expiresParam(value: string | null, display: string): number | null {
  if (value === null) return CELERY_DEFAULT_RESULT_EXPIRES_MS;
  try {
    return parseDuration(value === "none" ? "never" : value, { option: "?result_expires=", numberUnit: "s" });
  } catch {
    throw new ConfigError(
      `Expected ?result_expires= in ${JSON.stringify(display)} to be Celery's result_expires: seconds, a duration such as "1d", or "never"; got ${JSON.stringify(value)}`,
    );
  }
}
