/**
 * `npm start`: Ebb's main job on the embedded default. One SQLite file in a scratch folder
 * holds the queue and the results; a worker runs in this process. It sends one task per
 * expiration pattern of the guide, waits for the short-lived results to expire, and prints
 * what each result's lifecycle was. Takes about 15 seconds; exits 0 only if every row
 * behaved as its policy says.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApp, currentTask, silentLogger, type AsyncResult } from "../src/index.js";

const dir = mkdtempSync(join(tmpdir(), "ebb-demo-"));
const db = `sqlite://${join(dir, "ebb.db")}`;

const app = createApp(
  {
    broker: db,
    backend: db,
    resultExpires: "24h", // pattern 1: the global default
    tiers: { flash: { expires: "5s", action: "delete" } }, // a 5-second "realtime" tier of our own
  },
  { log: silentLogger } // the demo prints its own table,
);

const tick = app.task("dashboard.tick", async (v: number) => ({ v }), { tier: "flash" });
const report = app.task("report.build", async (name: string) => ({ report: name }), { resultExpires: "7s" }); // pattern 2
const smart = app.task(
  "smart.process",
  async (data: { priority: string }) => ({ ...data, processedAt: new Date().toISOString() }),
  { resultExpires: (r) => (r.priority === "critical" ? "30d" : "6s") }, // pattern 3, from outside
);
const inside = app.task("smart.inside", async (n: number) => {
  currentTask().setResultExpires(n > 100 ? "1h" : "4s"); // pattern 3, from inside the handler
  return n * 2;
});
const standard = app.task("standard.job", async (x: string) => x.toUpperCase()); // pattern 1
const notify = app.task("notify.send", async (to: string) => `sent to ${to}`, { ignoreResult: true }); // pattern 4
const audit = app.task("audit.record", async (entry: string) => ({ entry }), { tier: "critical" }); // permanent

interface Row {
  task: string;
  pattern: string;
  res: AsyncResult;
  expect: "EXPIRED" | "SUCCESS" | "PENDING";
}

async function main(): Promise<number> {
  const started = Date.now();
  const worker = await app.worker({ concurrency: 4 });
  const running = worker.start();
  const rows: Row[] = [
    { task: "dashboard.tick", pattern: "tier flash (5s)", res: await tick.delay(42), expect: "EXPIRED" },
    { task: "report.build", pattern: "per task (7s)", res: await report.delay("weekly"), expect: "EXPIRED" },
    { task: "report.build", pattern: "per call (never)", res: await report.applyAsync(["yearly"], { resultExpires: null }), expect: "SUCCESS" },
    { task: "smart.process", pattern: "dynamic fn (6s)", res: await smart.delay({ priority: "normal" }), expect: "EXPIRED" },
    { task: "smart.process", pattern: "dynamic fn (30d)", res: await smart.delay({ priority: "critical" }), expect: "SUCCESS" },
    { task: "smart.inside", pattern: "in handler (4s)", res: await inside.delay(7), expect: "EXPIRED" },
    { task: "standard.job", pattern: "global (24h)", res: await standard.delay("hello"), expect: "SUCCESS" },
    { task: "notify.send", pattern: "ignore result", res: await notify.delay("ops@example.com"), expect: "PENDING" },
    { task: "audit.record", pattern: "tier critical", res: await audit.delay("login"), expect: "SUCCESS" },
  ];

  const before = await Promise.all(rows.map((r) => (r.expect === "PENDING" ? r.res.info() : r.res.get({ timeoutMs: 10_000 }).then(() => r.res.info()))));
  // Wait until every short lifetime has passed; the store's clock decides, the demo only waits.
  const lastExpiry = Math.max(...before.filter((i, n) => rows[n]!.expect === "EXPIRED").map((i) => Date.parse(i.expiresAt!)));
  console.log(`Stored ${rows.length} results in ${db.replace(dir, "<scratch>")}; waiting ${Math.ceil((lastExpiry - Date.now()) / 1000)}s for the short ones to expire...`);
  await new Promise((r) => setTimeout(r, Math.max(0, lastExpiry - Date.now()) + 250));
  const after = await Promise.all(rows.map((r) => r.res.info()));

  await worker.stop();
  await running;
  await app.close();

  const table = rows.map((r, i) => ({
    task: r.task,
    pattern: r.pattern,
    stored: before[i]!.state,
    expiresAt: before[i]!.expiresAt ?? (before[i]!.state === "PENDING" ? "-" : "never"),
    now: after[i]!.state,
    ok: after[i]!.state === r.expect ? "yes" : `NO (expected ${r.expect})`,
  }));
  printTable(table);
  const failed = table.filter((t) => t.ok !== "yes").length;
  console.log(`\n${failed === 0 ? "Every result followed its policy" : `${failed} result(s) did not follow their policy`} (${((Date.now() - started) / 1000).toFixed(1)}s).`);
  rmSync(dir, { recursive: true, force: true });
  return failed === 0 ? 0 : 1;
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
