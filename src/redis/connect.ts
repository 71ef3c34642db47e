import { Redis } from "ioredis";
import { ConfigError, StoreUnavailableError } from "../errors.js";
import type { Logger } from "../logger.js";
import { storeHealth, type StoreHealth } from "../store-health.js";
import type { RedisTarget } from "./redis-url.js";

/**
 * Open one ioredis connection. The first connect must succeed within connectTimeoutMs or the
 * caller gets a StoreUnavailableError naming the (redacted) URL. After that, a dropped
 * connection is retried forever with capped backoff, and commands issued meanwhile wait in
 * ioredis's offline queue: a Redis restart is a pause, not a crash.
 */
export async function connectRedis(
  target: RedisTarget,
  options: { name: string; connectTimeoutMs?: number; autoPipelining?: boolean; health?: StoreHealth } = { name: "ebb" },
): Promise<Redis> {
  const client = new Redis({
    host: target.host,
    port: target.port,
    db: target.db,
    ...(target.username ? { username: target.username } : {}),
    ...(target.password ? { password: target.password } : {}),
    ...(target.tls ? { tls: {} } : {}),
    connectionName: options.name,
    lazyConnect: true,
    connectTimeout: options.connectTimeoutMs ?? 5_000,
    maxRetriesPerRequest: null,
    enableOfflineQueue: true,
    // Commands issued in the same tick (many concurrent tasks storing and acking) share one write.
    enableAutoPipelining: options.autoPipelining ?? true,
    retryStrategy: (times) => Math.min(2_000, 50 * 2 ** Math.min(times, 6)),
  });
  // Errors while reconnecting are expected; they surface as slow commands, not as crashes.
  // The last one is kept: "Connection is closed" alone hides the cause (ECONNREFUSED, auth).
  let lastError: Error | null = null;
  client.on("error", (e: Error) => {
    lastError = e;
  });
  try {
    await client.connect();
  } catch (cause) {
    client.disconnect();
    const why = ((lastError as Error | null) ?? (cause as Error)).message.replace(/\.$/, "");
    throw new StoreUnavailableError(
      `Cannot connect to Redis at ${target.display}: ${why}; check that Redis is running and the URL is right`,
      { cause },
    );
  }
  if (target.db !== 0) await selectOrThrow(client, target);
  // From now on an outage is logged once, when the first connection notices it, and its end once.
  options.health?.follow(client, options.name);
  return client;
}

/**
 * ioredis selects the URL's database on connect, but a SELECT that fails ("ERR DB index is out of
 * range") only reaches the error listener, and every command then runs in database 0. So the
 * database is selected once more here, where a refusal can stop the caller with the URL's name.
 */
async function selectOrThrow(client: Redis, target: RedisTarget): Promise<void> {
  try {
    await client.select(target.db);
  } catch (cause) {
    client.disconnect();
    const why = (cause as Error).message.replace(/\.$/, "");
    throw new ConfigError(
      `Redis at ${target.display} has no database ${target.db} (${why}); use a database number the server has (0..databases-1 in redis.conf, 16 by default)`,
      { cause },
    );
  }
}

/** The app log's view of this Redis server, shared by every connection to it that logs to `log`. */
export function redisHealth(log: Logger, target: RedisTarget): StoreHealth {
  return storeHealth(log, `Redis at ${target.host}:${target.port}`);
}
