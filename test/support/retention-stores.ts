import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MemoryBackend } from "../../src/backends/memory/memory-backend.js";
import type { ResultBackend } from "../../src/backends/result-backend.js";
import type { RetentionStore } from "../../src/backends/retention-store.js";
import { SqliteBackend } from "../../src/backends/sqlite/sqlite-backend.js";
import { manualClock } from "../../src/clock.js";
import { storeSeeder, type ManualClock, type Seed } from "./seed-results.js";

/** A fresh, empty store whose clock is a manual clock, with a seeder that writes through the store's own contracts. */
export interface RetentionFixture {
  store: RetentionStore & ResultBackend;
  clock: ManualClock;
  seed: Seed;
  cleanup?: () => Promise<void>;
}

export type MakeRetentionFixture = () => Promise<RetentionFixture>;

export const makeMemoryRetention: MakeRetentionFixture = async () => {
  const clock = manualClock();
  const store = new MemoryBackend({ clock });
  return { store, clock, seed: storeSeeder(store, clock) };
};

/** Each fixture gets its own database file in its own temp directory. */
export const makeSqliteRetention: MakeRetentionFixture = async () => {
  const dir = mkdtempSync(join(tmpdir(), "ebb-retention-"));
  const clock = manualClock();
  const store = new SqliteBackend({ url: `sqlite://${join(dir, "ebb.db")}`, clock, pollIntervalMs: 600_000 });
  return { store, clock, seed: storeSeeder(store, clock), cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
};

/** The stores the retention suites run on here; Redis and Celery's table run the conformance suite in their own files. */
export const LOCAL_RETENTION_STORES: ReadonlyArray<[string, MakeRetentionFixture]> = [
  ["memory", makeMemoryRetention],
  ["sqlite", makeSqliteRetention],
];

/** Every record in the store (held ones too), sorted by id: for before/after comparisons. */
export async function fullScan(store: RetentionStore) {
  const all = [];
  for await (const batch of store.scan({ batchSize: 100, includeHeld: true })) all.push(...batch);
  return all.sort((a, b) => (a.taskId < b.taskId ? -1 : 1));
}
