import { ConfigError } from "../errors.js";
import { redactUrl } from "../url.js";

/**
 * Redis URLs as Celery users write them: redis://[[user]:password@]host[:port][/db], rediss://
 * for TLS. One Ebb-only query parameter: `prefix=NAME` puts every key and channel Ebb uses
 * under NAME (tests use it to get a namespace each; Python Celery does not see prefixed keys).
 */
export interface RedisTarget {
  host: string;
  port: number;
  db: number;
  username?: string;
  password?: string;
  tls: boolean;
  prefix: string;
  /** The URL with its password hidden, for messages. */
  display: string;
}

export function parseRedisUrl(url: string): RedisTarget {
  const display = redactUrl(url);
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ConfigError(`Expected a Redis URL such as "redis://localhost:6379/0", got ${JSON.stringify(display)}`);
  }
  const scheme = u.protocol.replace(/:$/, "");
  if (scheme !== "redis" && scheme !== "rediss")
    throw new ConfigError(`Expected a redis:// or rediss:// URL, got ${JSON.stringify(display)}`);
  const dbText = u.pathname.replace(/^\//, "");
  const db = dbText === "" ? 0 : Number(dbText);
  if (!Number.isInteger(db) || db < 0)
    throw new ConfigError(
      `Expected the Redis database in ${JSON.stringify(display)} to be a number such as /0, got ${JSON.stringify(dbText)}`,
    );
  const port = u.port === "" ? 6379 : Number(u.port);
  for (const key of u.searchParams.keys()) {
    if (key !== "prefix")
      throw new ConfigError(`Unknown Redis URL parameter "${key}" in ${JSON.stringify(display)}; the only one Ebb reads is "prefix"`);
  }
  const target: RedisTarget = {
    host: u.hostname || "localhost",
    port,
    db,
    tls: scheme === "rediss",
    prefix: u.searchParams.get("prefix") ?? "",
    display,
  };
  if (u.username) target.username = decodeURIComponent(u.username);
  if (u.password) target.password = decodeURIComponent(u.password);
  return target;
}
