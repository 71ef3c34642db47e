import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { SERVICES } from "./services.js";

/**
 * A key prefix of its own on the shared test Redis (the URL's ?prefix=), a plain client to look
 * at it, and cleanup by SCAN + UNLINK (never KEYS), so tests never see each other's keys.
 */
export interface RedisNamespace {
  prefix: string;
  url: string;
  /** For reading and writing keys by hand (prefix them yourself). */
  redis: Redis;
  cleanup(): Promise<void>;
}

/** On the shared test Redis, or on a private redis-server's port (MONITOR tests). */
export async function redisNamespace(port: number = SERVICES.redis.port): Promise<RedisNamespace> {
  return redisNamespaceNow(port);
}

/** The same, for callers that cannot wait (an app factory): nothing here waits for the server. */
export function redisNamespaceNow(port: number = SERVICES.redis.port): RedisNamespace {
  const { host } = SERVICES.redis;
  const prefix = `ebbtest:${randomUUID()}:`;
  const redis = new Redis({ host, port });
  return {
    prefix,
    url: `redis://${host}:${port}/0?prefix=${prefix}`,
    redis,
    async cleanup() {
      await unlinkPrefix(redis, prefix);
      redis.disconnect();
    },
  };
}

/** Every key matching a pattern, by SCAN to the end of its cursor (one SCAN call sees only part of a busy database). */
export async function scanAll(client: Redis, pattern: string): Promise<string[]> {
  const out: string[] = [];
  for (let cursor = "0"; ; ) {
    const [next, keys] = await client.scan(cursor, "MATCH", pattern, "COUNT", 1000);
    out.push(...keys);
    cursor = next;
    if (cursor === "0") return out;
  }
}

/** SCAN + UNLINK everything under a prefix. */
export async function unlinkPrefix(client: Redis, prefix: string): Promise<void> {
  for (let cursor = "0"; ; ) {
    const [next, keys] = await client.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
    if (keys.length > 0) await client.unlink(...keys);
    cursor = next;
    if (cursor === "0") break;
  }
}
