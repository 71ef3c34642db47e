import { RedisBackend } from "../../src/backends/redis/redis-backend.js";
import { manualClock } from "../../src/clock.js";
import { redisNamespace } from "../support/redis-namespace.js";
import { describeWithService } from "../support/services.js";
import { backendConformance } from "./backend-conformance.js";
import { scheduleStoreConformance } from "./schedule-store-conformance.js";

// Each test runs in its own key prefix on the real Redis, with a manual store clock; its keys are
// SCANned away afterwards. Redis-only behaviour (TTLs, the index, Celery's bytes) is tested in
// test/redis/redis-backend-*.test.ts, and beat's keys in test/redis/redis-schedule-store.test.ts.

await describeWithService("redis", "redis result backend", () => {
  backendConformance("redis", async () => {
    const ns = await redisNamespace();
    const clock = manualClock();
    const backend = await new RedisBackend({ url: ns.url, clock }).connect();
    return { backend, clock, cleanup: ns.cleanup };
  });

  scheduleStoreConformance("redis", async () => {
    const ns = await redisNamespace();
    const clock = manualClock();
    const backend = await new RedisBackend({ url: ns.url, clock }).connect();
    return {
      store: backend.scheduleStore(),
      clock,
      async cleanup() {
        await backend.close();
        await ns.cleanup();
      },
    };
  });
});
