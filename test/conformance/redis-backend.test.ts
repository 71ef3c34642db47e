import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { RedisBackend } from "../../src/backends/redis/redis-backend.js";
import { manualClock } from "../../src/clock.js";
import { describeWithService, SERVICES } from "../support/services.js";
import { backendConformance } from "./backend-conformance.js";

// Each test runs in its own key prefix on the real Redis, with a manual store clock; its keys are
// SCANned away afterwards. Redis-only behaviour (TTLs, the index, Celery's bytes) is tested in
// test/redis/redis-backend-*.test.ts.

/** A key prefix of its own, a plain client to look at it, and SCAN + UNLINK cleanup (never KEYS). */
async function redisNamespace() {
  const { host, port } = SERVICES.redis;
  const prefix = `ebbtest:${randomUUID()}:`;
  const redis = new Redis({ host, port });
  const cleanup = async (): Promise<void> => {
    for (let cursor = "0"; ; ) {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
      if (keys.length > 0) await redis.unlink(...keys);
      if ((cursor = next) === "0") break;
    }
    redis.disconnect();
  };
  return { prefix, url: `redis://${host}:${port}/0?prefix=${prefix}`, redis, cleanup };
}

await describeWithService("redis", "redis result backend", () => {
  backendConformance("redis", async () => {
    const ns = await redisNamespace();
    const clock = manualClock();
    const backend = await new RedisBackend({ url: ns.url, clock }).connect();
    return { backend, clock, cleanup: ns.cleanup };
  });
});
