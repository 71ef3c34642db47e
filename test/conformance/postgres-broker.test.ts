import { onTestFinished } from "vitest";
import { createApp, type App } from "../../src/app.js";
import { PostgresBroker } from "../../src/brokers/postgres/postgres-broker.js";
import { manualClock } from "../../src/clock.js";
import type { AppConfig } from "../../src/config.js";
import { silentLogger } from "../../src/logger.js";
import { postgresSchema, testSchemaUrl } from "../support/postgres-schema.js";
import { describeWithService } from "../support/services.js";
import { brokerConformance } from "./broker-conformance.js";
import { controlConformance } from "./control-conformance.js";

// Each test runs in a schema of its own on the real PostgreSQL (dropped afterwards), with a manual
// store clock. A poll interval far beyond the tests' timeouts: a waiting fetch that passes was woken
// by a notification, not by polling. PostgreSQL-only cases are in test/postgres/postgres-broker.test.ts
// and (remote control) test/postgres/postgres-control.test.ts.
const NO_POLLING = 600_000;

/**
 * An app (broker and backend) in a schema of its own, dropped when the test ends. The control
 * suite's factory cannot wait, so the schema is named here and made by the app's first connect.
 */
function postgresApp(config: AppConfig = {}): App {
  const url = testSchemaUrl();
  const app = createApp({ broker: url, backend: url, ...config }, { log: silentLogger });
  onTestFinished(() => app.close()); // before the schema is dropped (hooks run last in, first out)
  return app;
}

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

  controlConformance("postgresql", { app: postgresApp, heldEta: null, events: false, kept: true });
});
