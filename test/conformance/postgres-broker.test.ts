import { PostgresBroker } from "../../src/brokers/postgres/postgres-broker.js";
import { manualClock } from "../../src/clock.js";
import { postgresSchema } from "../support/postgres-schema.js";
import { describeWithService } from "../support/services.js";
import { brokerConformance } from "./broker-conformance.js";

// Each test runs in a schema of its own on the real PostgreSQL (dropped afterwards), with a manual
// store clock. A poll interval far beyond the tests' timeouts: a waiting fetch that passes was woken
// by a notification, not by polling. PostgreSQL-only cases are in test/postgres/postgres-broker.test.ts.
const NO_POLLING = 600_000;

await describeWithService("postgres", "postgresql broker", () => {
  brokerConformance(
    "postgresql",
    { delayedDelivery: true, priorityOrder: "lowest-first", clock: "store", delivery: "lease", dedupedPublish: true, events: false },
    async () => {
      const ns = await postgresSchema();
      const clock = manualClock();
      const broker = await PostgresBroker.connect({ url: ns.url, clock, pollIntervalMs: NO_POLLING });
      return { broker, clock, cleanup: ns.cleanup };
    },
  );
});
