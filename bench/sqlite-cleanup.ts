/**
 * Cleanup rate on SQLite: N expired results among N live ones, removed in batches of 500 while
 * another thread (its own connection, like a worker process) stores a result every millisecond;
 * prints results/s and the live writes' p99 latency during cleanup against idle. Run: node dist/bench/sqlite-cleanup.js [N] [BATCH] (defaults 100000, 500).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { SqliteBackend } from "../src/backends/sqlite/sqlite-backend.js";
import type { StoredResult } from "../src/backends/result-backend.js";
import { cleanup } from "../src/retention/cleanup.js";

if (!isMainThread) await writeLive(workerData.url as string);

async function writeLive(url: string): Promise<never> {
  const live = new SqliteBackend({ url });
  let stop = false;
  parentPort!.on("message", () => (stop = true));
  for (let k = 0; !stop; k++) {
    const t = performance.now();
    await live.store({
      taskId: `live-${k}`,
      status: "SUCCESS",
      result: k,
      traceback: null,
      children: [],
      lifetimeMs: 86_400_000,
      tier: null,
      action: "delete",
    });
    parentPort!.postMessage(performance.now() - t);
    await new Promise((r) => setTimeout(r, 1));
  }
  await live.close();
  process.exit(0);
}

const n = Number(process.argv[2] ?? 100_000);
const batchSize = Number(process.argv[3] ?? 500);
const dir = mkdtempSync(join(tmpdir(), "ebb-bench-cleanup-"));
const store = new SqliteBackend({ url: `sqlite://${join(dir, "ebb.db")}` });
const now = await store.now();

const seedStart = performance.now();
for (let i = 0; i < 2 * n; i++) {
  const expired = i % 2 === 0;
  const r: StoredResult = {
    taskId: `bench-${i}`,
    status: "SUCCESS",
    result: { i, payload: "x".repeat(64) },
    traceback: null,
    children: [],
    dateDone: now - 7_200_000,
    expiresAt: expired ? now - 3_600_000 : now + 86_400_000,
    tier: "standard",
    action: "delete",
    held: false,
    name: "bench.task",
    args: [i],
    kwargs: {},
    worker: "bench@host",
    retries: 0,
    queue: "celery",
  };
  await store.put(r, { replace: false });
}
console.log(`seeded ${2 * n} results (${n} expired) in ${((performance.now() - seedStart) / 1000).toFixed(1)}s`);

/**
 * Live traffic from another thread with its own connection, as a worker process would be: one
 * store() every ms; its latency includes waiting for cleanup's write lock (busy_timeout).
 */
function liveWriter() {
  const worker = new Worker(new URL(import.meta.url), { workerData: { url: store.url } });
  const latencies: number[] = [];
  worker.on("message", (ms: number) => latencies.push(ms));
  return {
    latencies,
    stop: async () => {
      worker.postMessage("stop");
      await new Promise((r) => worker.once("exit", r));
    },
  };
}
const p99 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.99)] ?? 0;

const idle = liveWriter();
await new Promise((r) => setTimeout(r, 2_000));
await idle.stop();

const dryStart = performance.now();
const dry = await cleanup(store, { dryRun: true });
const dryS = (performance.now() - dryStart) / 1000;

const busy = liveWriter();
const start = performance.now();
const report = await cleanup(store, { batchSize });
const seconds = (performance.now() - start) / 1000;
await busy.stop();

console.log(`dry run: matched ${dry.matched} in ${dryS.toFixed(2)}s (${Math.round(dry.matched / dryS)} results/s)`);
console.log(
  `cleanup (batches of ${batchSize}): deleted ${report.deleted} (${report.bytes} bytes) in ${seconds.toFixed(2)}s (${Math.round(report.deleted / seconds)} results/s)`,
);
console.log(
  `live store() p99: idle ${p99(idle.latencies).toFixed(2)} ms (${idle.latencies.length} writes), during cleanup ${p99(busy.latencies).toFixed(2)} ms (${busy.latencies.length} writes)`,
);
// One machine-readable line for npm run bench's table.
console.log(
  `RESULT ${JSON.stringify({ seconds, deleted: report.deleted, p99IdleMs: p99(idle.latencies), p99BusyMs: p99(busy.latencies), dryRunPerS: dry.matched / dryS })}`,
);
await store.close();
rmSync(dir, { recursive: true, force: true });
process.exit(0);
