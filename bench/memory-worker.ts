/**
 * The process the memory benchmark measures (run with --expose-gc): an Ebb worker with beat
 * embedded, as `ebb worker` runs it, on the SQLite default store in a scratch folder. It prints
 * one JSON line per sample, {"label", "heapMB", "rssMB", "processed"}, the heap measured after
 * two full GCs, and "done" at the end.
 *
 *   memory-worker.js idle  DIR IDLE_MS SAMPLE_MS      an idle worker, sampled every SAMPLE_MS
 *   memory-worker.js tasks DIR TASKS SAMPLE_EVERY     runs TASKS no-op tasks, sampled every SAMPLE_EVERY tasks
 *
 * The idle worker runs nothing (beat keeps its default schedule). The tasks run keeps nothing by design: a feeder keeps at most 2,000 messages queued, results
 * live 5 s (expiredGrace 10 s) and beat's built-in cleanup runs every 30 s, so the store's own
 * size stays bounded too. Uses only the public API, so it runs against an older build as well.
 */
import { join } from "node:path";
import { createApp, every, silentLogger } from "../src/index.js";

const [mode, dir, sizeArg, sampleArg] = process.argv.slice(2);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc || !dir || (mode !== "idle" && mode !== "tasks")) {
  console.error("usage: node --expose-gc memory-worker.js idle|tasks DIR SIZE SAMPLE");
  process.exit(64);
}
const size = Number(sizeArg);
const sampleEvery = Number(sampleArg);

const db = `sqlite://${join(dir, "ebb.db")}`;
const app = createApp(
  {
    broker: db,
    backend: db,
    resultExpires: "5s",
    expiredGrace: "10s",
    archiveDir: join(dir, "archives"),
    // Idle means idle: the built-in cleanup keeps its default (daily at 04:00).
    ...(mode === "tasks" ? { beatSchedule: { "celery.backend_cleanup": { schedule: every("30s") } } } : {}),
  },
  { log: silentLogger },
);
// EBB_BENCH_IGNORE_RESULT=1: results are not stored at all (the 1M-task run), so the store stays flat by construction.
const ignoreResult = process.env.EBB_BENCH_IGNORE_RESULT === "1";
const noop = app.task("bench.noop", async (i: number) => i, { ignoreResult });
const worker = await app.worker({ concurrency: 10 });
const beat = await app.beat();
const running = [worker.start(), beat.start()];

function sample(label: string): void {
  gc!();
  gc!();
  const { heapUsed, rss } = process.memoryUsage();
  const mb = (n: number) => Math.round((n / 1_048_576) * 100) / 100;
  process.stdout.write(`${JSON.stringify({ label, heapMB: mb(heapUsed), rssMB: mb(rss), processed: worker.processed })}\n`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

if (mode === "idle") {
  // Let start-up settle (migrations, beat's first look) before the first sample.
  await sleep(2_000);
  const started = performance.now();
  sample("0 min");
  for (let next = sampleEvery; next <= size; next += sampleEvery) {
    await sleep(Math.max(0, started + next - performance.now()));
    sample(`${Math.round((next / 60_000) * 100) / 100} min`);
  }
} else {
  const BACKLOG = 2_000;
  let sent = 0;
  let warmedUp = false;
  let next = sampleEvery;
  const started = performance.now();
  while (worker.processed < size) {
    // One batch per turn, so samples are taken on time.
    if (sent < size && sent - worker.processed < BACKLOG) {
      const batch = Math.min(500, size - sent);
      await Promise.all(Array.from({ length: batch }, (_, i) => noop.delay(sent + i)));
      sent += batch;
    }
    // The first sample after a short warm-up (statements prepared, code optimised).
    if (!warmedUp && worker.processed >= Math.min(1_000, size)) {
      warmedUp = true;
      sample("start");
    }
    if (worker.processed >= next) {
      sample(`${next.toLocaleString("en-US")} tasks`);
      next += sampleEvery;
    }
    await sleep(5);
  }
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(`${JSON.stringify({ label: "rate", tasksPerSecond: Math.round(size / seconds) })}\n`);
}

await worker.stop();
await beat.stop();
await Promise.all(running);
sample("end");
await app.close();
process.stdout.write("done\n");
process.exit(0);
