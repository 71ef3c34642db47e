import { RedisBackend } from "../../src/backends/redis/redis-backend.js";
import { manualClock } from "../../src/clock.js";
import { redisNamespace } from "../support/redis-namespace.js";
import { describeWithService } from "../support/services.js";
import { retentionStoreConformance, storeSeeder } from "./retention-store-conformance.js";

// The shared retention-store suite on the real Redis: each fixture in its own key prefix, with a
// manual store clock and a long trim interval (trimming is tested in test/redis/); its keys are
// SCANned away afterwards. Redis-only behaviour (Celery's keys, the index, MONITOR, eviction
// policy) is in test/redis/redis-retention-*.test.ts.

await describeWithService("redis", "redis retention store", () => {
  retentionStoreConformance(
    "redis",
    async () => {
      const ns = await redisNamespace();
      const clock = manualClock();
      const store = await new RedisBackend({ url: ns.url, clock, trimIntervalMs: 3_600_000 }).connect();
      return { store, clock, seed: storeSeeder(store, clock), cleanup: ns.cleanup };
    },
    { tiers: true, tombstones: true, perResultExpiry: true, bulkExpiry: false, ebbResults: true },
  );
});
