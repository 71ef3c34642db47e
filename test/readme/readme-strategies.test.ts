import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { App } from "../../src/app.js";
import type { StoredResult } from "../../src/backends/result-backend.js";
import type { RetentionStore } from "../../src/backends/retention-store.js";
import { decodeTaskMessage } from "../../src/protocol/task-message.js";
import { readBeatHeaders } from "../../src/protocol/beat-headers.js";
import { silentLogger } from "../../src/logger.js";

/**
 * The guide's strategy 1 and strategy 4, as the README writes them for Ebb: each block is taken
 * from README.md as it is, written to a module, imported like a user's app (`import ... from
 * "ebb"`), and its schedule run by a beat over simulated days (an injected clock), then its
 * messages run by a real worker on a SQLite store seeded with results of every kind.
 */
const REPO = fileURLToPath(new URL("../../", import.meta.url));
const DAY = 86_400_000;

function readmeBlock(name: string): string {
  const readme = readFileSync(join(REPO, "README.md"), "utf8");
  const at = readme.indexOf(`<!-- readme-test: ${name} -->`);
  if (at < 0) throw new Error(`README.md has no block marked readme-test: ${name}`);
  const m = /```ts\n([\s\S]*?)```/.exec(readme.slice(at));
  return m![1]!;
}

let dir: string;
let cwd: string;
beforeAll(() => {
  cwd = process.cwd();
  dir = mkdtempSync(join(tmpdir(), "ebb-readme-"));
  // The README apps name no store and no archive folder: they take EBB_BROKER_URL and ./ebb-archives.
  process.chdir(dir);
});
afterAll(() => {
  process.chdir(cwd);
  delete process.env.EBB_BROKER_URL;
  rmSync(dir, { recursive: true, force: true });
});

async function loadReadmeApp(name: string): Promise<App> {
  // Each app in a folder of its own, so each has its own ./ebb-archives.
  const home = join(dir, name);
  mkdirSync(home);
  process.chdir(home);
  const db = join(home, "ebb.db");
  process.env.EBB_BROKER_URL = `sqlite://${db}`;
  const genDir = join(REPO, "test/readme/.generated");
  mkdirSync(genDir, { recursive: true });
  const file = join(genDir, `${name}.ts`);
  writeFileSync(file, readmeBlock(name));
  const mod = (await import(/* @vite-ignore */ `${pathToFileURL(file).href}?t=${Date.now()}`)) as { app: App };
  return mod.app;
}

/** Run the app's beat from `from` for `days`, waking at each next tick: what it sent, by entry. */
async function simulate(app: App, from: number, days: number): Promise<Map<string, number[]>> {
  let now = from;
  const beat = await app.beat({ now: () => now });
  const sent = new Map<string, number[]>();
  for (let guard = 0; now <= from + days * DAY && guard < 10_000; guard++) {
    const r = await beat.tick();
    for (const s of r.sent) sent.set(s.entry, [...(sent.get(s.entry) ?? []), s.tick]);
    now = r.nextCheckAt!;
  }
  return sent;
}

async function runQueue(app: App, expected: number): Promise<void> {
  const worker = await app.worker({ concurrency: 1, fetchWaitMs: 50 });
  const running = worker.start();
  const store = await app.scheduleStore();
  await expect.poll(async () => (await store.runs(1000)).length, { timeout: 60_000, interval: 200 }).toBe(expected);
  await worker.stop();
  await running;
}

function result(taskId: string, over: Partial<StoredResult>): StoredResult {
  return { taskId, status: "SUCCESS", result: taskId, traceback: null, children: [], dateDone: null, expiresAt: null, tier: null, action: "delete", held: false, name: "seed", ...over };
}

async function seed(store: RetentionStore, rows: StoredResult[]): Promise<void> {
  for (const r of rows) await store.put(r, { replace: true });
}

describe("README strategy 1: automatic cleanup with beat", () => {
  it("runs the daily cleanup at 04:00 (message expiring after 1 h) and the frequent one every 15 minutes; each run cleans", async () => {
    const app = await loadReadmeApp("strategy-1");
    try {
      expect(app.config.beatSchedule.map((e) => [e.name, e.task, String(e.schedule)])).toEqual([
        ["celery.backend_cleanup", "celery.backend_cleanup", 'crontab(minute="0", hour="4")'],
        ["frequent-cleanup", "celery.backend_cleanup", 'crontab(minute="*/15")'],
      ]);
      const store = await app.retention.store();
      const now = await store.now();
      await seed(store, [
        result("expired", { dateDone: now - DAY, expiresAt: now - 1_000 }),
        result("audit-expired", { dateDone: now - 40 * DAY, expiresAt: now - DAY, tier: "audit", action: "archive" }),
        result("held", { dateDone: now - DAY, expiresAt: now - 1_000, held: true }),
        result("permanent", { dateDone: now - DAY, expiresAt: null }),
        result("young", { dateDone: now, expiresAt: now + DAY }),
      ]);
      // One simulated day from the next whole hour.
      const from = Math.ceil(now / 3_600_000) * 3_600_000;
      const sent = await simulate(app, from, 1);
      expect(sent.get("frequent-cleanup")).toHaveLength(96);
      expect(sent.get("frequent-cleanup")!.every((t) => new Date(t).getUTCMinutes() % 15 === 0)).toBe(true);
      expect(sent.get("celery.backend_cleanup")!.map((t) => new Date(t).toISOString().slice(11))).toEqual(["04:00:00.000Z"]);
      const broker = await app.broker();
      const queued = await broker.fetch(["celery"], 1000, { visibilityTimeoutMs: 60_000, waitMs: 0 });
      const daily = queued.map((d) => decodeTaskMessage(d.message!, d.queue)).filter((m) => readBeatHeaders(m.headers)?.entry === "celery.backend_cleanup");
      expect(daily).toHaveLength(1);
      expect(daily[0]!.expires! - readBeatHeaders(daily[0]!.headers)!.tick.getTime()).toBe(3_600_000);
      for (const d of queued) await broker.release(d, null);

      await runQueue(app, 97);
      expect(await store.read("expired")).toBeNull();
      expect(await store.read("audit-expired")).toBeNull();
      expect(readdirSync(join(dir, "strategy-1", "ebb-archives")).some((f) => f.endsWith(".jsonl.gz"))).toBe(true);
      for (const kept of ["held", "permanent", "young"]) expect(await store.read(kept)).not.toBeNull();
      expect((await app.asyncResult("expired").state())).toBe("EXPIRED");
      const runs = await (await app.scheduleStore()).runs(1000);
      expect(runs.every((r) => r.task === "celery.backend_cleanup" && r.errors.length === 0)).toBe(true);
      expect(runs.reduce((n, r) => n + r.removed, 0)).toBe(2);
    } finally {
      await app.close();
    }
  }, 90_000);
});

describe("README strategy 4: tiered retention", () => {
  it("cleans each tier on its own schedule: realtime daily, standard weekly (older than 7 days), audit monthly with an archive", async () => {
    const app = await loadReadmeApp("strategy-4");
    try {
      expect(app.config.beatSchedule.map((e) => e.name)).toEqual(["cleanup-temporary", "cleanup-standard", "archive-audit-logs"]);
      const store = await app.retention.store();
      const now = await store.now();
      await seed(store, [
        result("rt-expired", { dateDone: now - 3_600_000, expiresAt: now - 1_000, tier: "realtime" }),
        result("rt-live", { dateDone: now, expiresAt: now + 3_600_000, tier: "realtime" }),
        result("std-old", { dateDone: now - 8 * DAY, expiresAt: now + 30 * DAY, tier: "standard" }),
        result("std-young", { dateDone: now - DAY, expiresAt: now + 30 * DAY, tier: "standard" }),
        result("audit-expired", { dateDone: now - 31 * DAY, expiresAt: now - DAY, tier: "audit", action: "archive" }),
        result("audit-held", { dateDone: now - 31 * DAY, expiresAt: now - DAY, tier: "audit", action: "archive", held: true }),
        result("api-expired", { dateDone: now - DAY, expiresAt: now - 1_000, tier: "api" }),
      ]);
      // From the start of next month, for 35 days: 35 dailies, 5 Sundays, 2 firsts of the month.
      const d = new Date(now);
      const from = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
      const sent = await simulate(app, from, 35);
      const counts = Object.fromEntries([...sent].map(([k, v]) => [k, v.length]));
      expect(counts["cleanup-temporary"]).toBe(35);
      expect(sent.get("cleanup-standard")!.every((t) => new Date(t).getUTCDay() === 0 && new Date(t).getUTCHours() === 3)).toBe(true);
      expect(counts["cleanup-standard"]).toBe(5);
      expect(sent.get("archive-audit-logs")!.map((t) => new Date(t).getUTCDate())).toEqual([1, 1]);

      const total = counts["cleanup-temporary"]! + counts["cleanup-standard"]! + counts["archive-audit-logs"]!;
      await runQueue(app, total);
      expect(await store.read("rt-expired")).toBeNull();
      expect(await store.read("std-old")).toBeNull();
      expect(await store.read("audit-expired")).toBeNull();
      for (const kept of ["rt-live", "std-young", "audit-held", "api-expired"]) expect(await store.read(kept), kept).not.toBeNull();
      const runs = await (await app.scheduleStore()).runs(1000);
      const byTier = (tier: string) => runs.filter((r) => r.tier === tier);
      expect([byTier("realtime").length, byTier("standard").length, byTier("audit").length]).toEqual([35, 5, 2]);
      expect(byTier("standard")[0]!.olderThanMs).toBe(7 * DAY);
      expect(byTier("audit").reduce((n, r) => n + r.archived, 0)).toBe(1);
      expect(runs.every((r) => r.task === "ebb.cleanup" && r.errors.length === 0)).toBe(true);
    } finally {
      await app.close();
    }
  }, 90_000);
});

// Keep the log quiet: the README apps log to stderr through the default logger.
void silentLogger;
