import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { RedisBackend } from "../../src/backends/redis/redis-backend.js";
import { manualClock } from "../../src/clock.js";
import { describeWithService, SERVICES } from "../support/services.js";
import { retentionStoreConformance, storeSeeder } from "./retention-store-conformance.js";

// The shared retention-store suite on the real Redis: each fixture in its own key prefix, with a
// manual store clock and a long trim interval (trimming is tested in test/redis/); its keys are
// SCANned away afterwards. Redis-only behaviour (Celery's keys, the index, MONITOR, eviction
// policy) is in test/redis/redis-retention-*.test.ts.

/** A key prefix of its own and SCAN + UNLINK cleanup (never KEYS). */
function redisNamespace() {
  const { host, port } = SERVICES.redis;
  const prefix = `ebbtest:${randomUUID()}:`;
  const cleanup = async (): Promise<void> => {
    const redis = new Redis({ host, port });
    for (let cursor = "0"; ; ) {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
      if (keys.length > 0) await redis.unlink(...keys);
      if ((cursor = next) === "0") break;
    }
    redis.disconnect();
  };
  return { url: `redis://${host}:${port}/0?prefix=${prefix}`, cleanup };
}

await describeWithService("redis", "redis retention store", () => {
  retentionStoreConformance("redis", async () => {
    const ns = redisNamespace();
    const clock = manualClock();
    const store = await new RedisBackend({ url: ns.url, clock, trimIntervalMs: 3_600_000 }).connect();
    return { store, clock, seed: storeSeeder(store, clock), cleanup: ns.cleanup };
  });
});
