import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll } from "vitest";
import { RedisBroker } from "../../src/brokers/redis/redis-broker.js";
import { manualClock } from "../../src/clock.js";
import { describeWithService, SERVICES } from "../support/services.js";
import { unlinkPrefix } from "../redis/redis-broker-helpers.js";
import { brokerConformance } from "./broker-conformance.js";

const { host, port } = SERVICES.redis;

await describeWithService("redis", "redis broker", () => {
  // Only for removing each test's keys afterwards.
  const admin = new Redis({ host, port, lazyConnect: true });
  afterAll(() => admin.quit());

  brokerConformance(
    "redis",
    { delayedDelivery: false, priorityOrder: "lowest-first", clock: "store", delivery: "lease", dedupedPublish: true, events: true },
    async () => {
      // Each test gets a namespace of its own through the URL's prefix.
      const prefix = `ebbtest:${randomUUID()}:`;
      const clock = manualClock();
      const broker = await RedisBroker.connect({ url: `redis://${host}:${port}/0?prefix=${prefix}`, clock });
      return { broker, clock, cleanup: () => unlinkPrefix(admin, prefix) };
    },
  );
});
