import { runEbb } from "../support/run-cli.js";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomUUID } from "node:crypto";
import { backendFromUrl } from "../../src/backends/by-url.js";
import type { ResultBackend, StoredResult } from "../../src/backends/result-backend.js";
import type { RetentionStore } from "../../src/backends/retention-store.js";
import { SqliteBackend } from "../../src/backends/sqlite/sqlite-backend.js";
import type { Clock } from "../../src/clock.js";

export type TestStore = RetentionStore & ResultBackend;

/** The real stores the archive suites run on; each gets a fresh namespace (memory URL, SQLite file). */
export const STORES: { name: string; make: (clock: Clock, dir: string) => Promise<{ store: TestStore; url: string }> }[] = [
  {
    name: "memory",
    // Through backendFromUrl, so an in-process `--backend memory://...` finds this very store.
    make: async (clock) => {
      const url = `memory://archive-${randomUUID()}`;
      return { store: (await backendFromUrl(url, { clock })) as TestStore, url };
    },
  },
  {
    name: "sqlite",
    make: async (clock, dir) => {
      const url = `sqlite://${join(dir, "ebb.db")}`;
      return { store: new SqliteBackend({ url, clock }), url };
    },
  },
];

export function scratch(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), "ebb-archive-"));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;

/** A stored SUCCESS result done `ageMs` before `now`, living `lifeMs` (null = never). */
export function done(taskId: string, now: number, ageMs: number, lifeMs: number | null, extra: Partial<StoredResult> = {}): StoredResult {
  const dateDone = now - ageMs;
  return {
    taskId,
    status: "SUCCESS",
    result: { id: taskId, n: 1.5, nested: { list: [1, "two", null, true], text: "é ✓ \n \u2028" } },
    traceback: null,
    children: [],
    dateDone,
    expiresAt: lifeMs === null ? null : dateDone + lifeMs,
    tier: null,
    action: "delete",
    held: false,
    name: "tests.add",
    args: [1, 2],
    kwargs: { k: "v" },
    worker: "w1@host",
    retries: 0,
    queue: "celery",
    ...extra,
  };
}

export async function allIds(store: RetentionStore): Promise<string[]> {
  const ids: string[] = [];
  for await (const batch of store.scan({ batchSize: 1000, includeHeld: true })) ids.push(...batch.map((r) => r.taskId));
  return ids.sort();
}

/** The archive and restore commands run in-process, with the CLI's own error mapping (program.ts's runCli does the same). */
/** `ebb ARGS` in-process through the real CLI. */
export async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await runEbb(...args);
  return { code: r.code, stdout: r.out, stderr: r.err };
}
