import { PostgresBackend } from "../../src/backends/postgres/postgres-backend.js";
import { manualClock } from "../../src/clock.js";
import { storeSeeder } from "../support/seed-results.js";
import { postgresSchema } from "../support/postgres-schema.js";
import { describeWithService } from "../support/services.js";
import { backendConformance } from "./backend-conformance.js";
import { retentionStoreConformance } from "./retention-store-conformance.js";
import { scheduleStoreConformance } from "./schedule-store-conformance.js";

// Each test runs in a schema of its own on the real PostgreSQL (dropped afterwards), with a manual
// store clock. PostgreSQL-only behaviour (partitions, drops, the ledger) is in test/postgres/.

const NO_POLLING = 600_000;

await describeWithService("postgres", "postgresql result backend", () => {
  backendConformance("postgresql", async () => {
    const ns = await postgresSchema();
    const clock = manualClock();
    const backend = await new PostgresBackend({ url: ns.url, clock, pollIntervalMs: NO_POLLING }).connect();
    return { backend, clock, cleanup: ns.cleanup };
  });

  scheduleStoreConformance("postgresql", async () => {
    const ns = await postgresSchema();
    const clock = manualClock();
    const backend = await new PostgresBackend({ url: ns.url, clock }).connect();
    return {
      store: backend.scheduleStore(),
      clock,
      async cleanup() {
        await backend.close();
        await ns.cleanup();
      },
    };
  });

  retentionStoreConformance(
    "postgresql",
    async () => {
      const ns = await postgresSchema();
      const clock = manualClock();
      const store = await new PostgresBackend({ url: ns.url, clock, pollIntervalMs: NO_POLLING }).connect();
      return { store, clock, seed: storeSeeder(store, clock), cleanup: ns.cleanup };
    },
    { tiers: true, tombstones: true, perResultExpiry: true, bulkExpiry: true, ebbResults: true },
  );
});
