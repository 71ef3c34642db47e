/**
 * `npm start`: Ebb's main job on the embedded default. One SQLite file in a scratch folder
 * holds the queue and the results; a worker runs in this process with beat embedded, as
 * `ebb worker` runs it. It sends one task per expiration pattern of the guide, holds one result,
 * and lets beat's cleanup entry (moved to every 10 s here; daily at 04:00 by default) clean the
 * database by itself. It prints what each result's lifecycle was, and exits 0 only if every row
 * behaved as its policy says: expired results are gone from the file within 15 s, held and
 * permanent ones remain. Takes about 20 seconds.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApp, currentTask, every, silentLogger, type AsyncResult } from "../src/index.js";

const dir = mkdtempSync(join(tmpdir(), "ebb-demo-"));
const db = `sqlite://${join(dir, "ebb.db")}`;

const app = createApp(
  {
    broker: db,
    backend: db,
    resultExpires: "24h", // pattern 1: the global default
    tiers: { flash: { expires: "5s", action: "delete" } }, // a 5-second "realtime" tier of our own
    archiveDir: join(dir, "archives"),
    // Retention runs by itself: the built-in cleanup entry, moved from 04:00 daily to every 10 s for the demo.
    beatSchedule: { "celery.backend_cleanup": { schedule: every("10s") } },
  },
  { log: silentLogger }, // the demo prints its own table
);

const tick = app.task("dashboard.tick", async (v: number) => ({ v }), { tier: "flash" });
const report = app.task("report.build", async (name: string) => ({ report: name }), { resultExpires: "4s" }); // pattern 2
const smart = app.task(
  "smart.process",
  async (data: { priority: string }) => ({ ...data, processedAt: new Date().toISOString() }),
  { resultExpires: (r) => (r.priority === "critical" ? "30d" : "3s") }, // pattern 3, from outside
);
const inside = app.task("smart.inside", async (n: number) => {
  currentTask().setResultExpires(n > 100 ? "1h" : "3s"); // pattern 3, from inside the handler
  return n * 2;
});
const brief = app.task("session.ping", async (user: string) => `pong ${user}`, { resultExpires: "2s" });
const standard = app.task("standard.job", async (x: string) => x.toUpperCase()); // pattern 1
const notify = app.task("notify.send", async (to: string) => `sent to ${to}`, { ignoreResult: true }); // pattern 4
const audit = app.task("audit.record", async (entry: string) => ({ entry }), { tier: "critical" }); // permanent

interface Row {
  task: string;
  pattern: string;
  res: AsyncResult;
  /** The state once cleanup has run. */
  expect: "EXPIRED" | "SUCCESS" | "PENDING";
  /** Whether the row is still in the database file then. */
  inFile: boolean;
  hold?: boolean;
}

const CLEANED_WITHIN_MS = 15_000;

async function main(): Promise<number> {
  const started = Date.now();
  const worker = await app.worker({ concurrency: 4 });
  const beat = await app.beat();
  const running = Promise.all([worker.start(), beat.start()]);
  const rows: Row[] = [
    { task: "dashboard.tick", pattern: "tier flash (5s)", res: await tick.delay(42), expect: "EXPIRED", inFile: false },
    { task: "report.build", pattern: "per task (4s)", res: await report.delay("weekly"), expect: "EXPIRED", inFile: false },
    {
      task: "report.build",
      pattern: "per call (never)",
      res: await report.applyAsync(["yearly"], { resultExpires: null }),
      expect: "SUCCESS",
      inFile: true,
    },
    { task: "smart.process", pattern: "dynamic fn (3s)", res: await smart.delay({ priority: "normal" }), expect: "EXPIRED", inFile: false },
    {
      task: "smart.process",
      pattern: "dynamic fn (30d)",
      res: await smart.delay({ priority: "critical" }),
      expect: "SUCCESS",
      inFile: true,
    },
    { task: "smart.inside", pattern: "in handler (3s)", res: await inside.delay(7), expect: "EXPIRED", inFile: false },
    { task: "session.ping", pattern: "per task (2s)", res: await brief.delay("ada"), expect: "EXPIRED", inFile: false },
    { task: "session.ping", pattern: "2s, legal hold", res: await brief.delay("bob"), expect: "SUCCESS", inFile: true, hold: true },
    { task: "standard.job", pattern: "global (24h)", res: await standard.delay("hello"), expect: "SUCCESS", inFile: true },
    { task: "notify.send", pattern: "ignore result", res: await notify.delay("ops@example.com"), expect: "PENDING", inFile: false },
    { task: "audit.record", pattern: "tier critical", res: await audit.delay("login"), expect: "SUCCESS", inFile: true },
  ];

  const before = await Promise.all(
    rows.map((r) => (r.expect === "PENDING" && !r.inFile ? r.res.info() : r.res.get({ timeoutMs: 10_000 }).then(() => r.res.info()))),
  );
  for (const r of rows) if (r.hold) await app.retention.hold(r.res.id);
  const store = await app.retention.store();
  const stored = Date.now();
  console.log(
    `Stored ${rows.length} results in ${db.replace(dir, "<scratch>")}; beat's cleanup runs every 10s, waiting for it to clean the file...`,
  );
  // Beat alone cleans the file: the demo only watches, until every short-lived row is gone (or 15 s passed).
  const goneAt = new Map<string, number>();
  for (;;) {
    for (const r of rows)
      if (!r.inFile && r.expect !== "PENDING" && !goneAt.has(r.res.id) && (await store.read(r.res.id)) === null)
        goneAt.set(r.res.id, Date.now() - stored);
    if (rows.every((r) => r.inFile || r.expect === "PENDING" || goneAt.has(r.res.id)) || Date.now() - stored > CLEANED_WITHIN_MS) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const after = await Promise.all(rows.map((r) => r.res.info()));
  const inFile = await Promise.all(rows.map(async (r) => (await store.read(r.res.id)) !== null));
  const view = await app.inspectScheduled();

  await Promise.all([worker.stop(), beat.stop()]);
  await running;
  await app.close();

  const table = rows.map((r, i) => ({
    task: r.task,
    pattern: r.pattern,
    stored: before[i]!.state,
    expiresAt: r.hold ? "held" : (before[i]!.expiresAt ?? (before[i]!.state === "PENDING" ? "-" : "never")),
    now: after[i]!.state,
    "in file": inFile[i] ? "yes" : goneAt.has(r.res.id) ? `gone (${(goneAt.get(r.res.id)! / 1000).toFixed(1)}s)` : "never stored",
    ok: after[i]!.state === r.expect && inFile[i] === r.inFile ? "yes" : `NO (expected ${r.expect}, ${r.inFile ? "in the file" : "gone"})`,
  }));
  printTable(table);
  const run = view.lastCleanup;
  if (run)
    console.log(
      `\nBeat ran ${run.task} at ${run.startedAt}: removed ${run.removed} expired result(s) in ${run.durationMs} ms; held and permanent results kept.`,
    );
  const failed = table.filter((t) => t.ok !== "yes").length;
  console.log(
    `${run ? "" : "\n"}${failed === 0 ? "Every result followed its policy" : `${failed} result(s) did not follow their policy`} (${((Date.now() - started) / 1000).toFixed(1)}s).`,
  );
  rmSync(dir, { recursive: true, force: true });
  return failed === 0 && run !== null ? 0 : 1;
}

function printTable(rows: Record<string, string>[]): void {
  const cols = Object.keys(rows[0]!);
  const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => r[c]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(width[i]!)).join("  ");
  console.log(line(cols));
  console.log(line(width.map((w) => "-".repeat(w))));
  for (const r of rows) console.log(line(cols.map((c) => r[c]!)));
}

process.exitCode = await main();
