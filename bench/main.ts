/**
 * `npm run bench`: Ebb against its peers on this machine, in one run. Uses Redis database 9 at
 * 127.0.0.1:6379 by default (it is emptied: point EBB_BENCH_REDIS elsewhere if 9 is in use).
 *   EBB_BENCH_N          tasks per throughput run (default 3000)
 *   EBB_BENCH_ROUNDS     throughput runs per system (default 3); tables show medians
 *   EBB_BENCH_CLEANUP_N  expired results for the cleanup comparison (default 100000)
 *   EBB_BENCH_ARCHIVE_N  results for archive and restore (default 1000000)
 *   EBB_BENCH_IDLE_MS    how long the memory benchmark's worker idles (default 600000: 10 minutes)
 *   EBB_BENCH_IDLE_SAMPLE_MS  its sampling interval (default 60000)
 *   EBB_BENCH_TASKS      tasks the memory benchmark's busy worker runs (default 1000000)
 *   EBB_BENCH_IGNORE_RESULT=1  the busy worker's task ignores its results (nothing stored: the 1M-task run)
 *   EBB_BENCH_TASKS_SAMPLE    sample every this many tasks (default 100000)
 * `npm run bench -- memory` (or throughput, cleanup, archive, memory-idle, memory-tasks; several may
 * be named) runs only those.
 * Numbers are noisy on shared machines: compare the ratios, and run twice.
 */
import { EventEmitter } from "node:events";
import { archiveBench } from "./archive-throughput.js";
import { cleanupCompare } from "./cleanup-compare.js";
import { printTable } from "./harness.js";
import { memoryRows, memoryRun } from "./memory.js";
import { throughputBench } from "./throughput.js";

// celery-node's client adds listeners to its Redis connection on every sendTask.
EventEmitter.defaultMaxListeners = 0;

const url = process.env.EBB_BENCH_REDIS ?? "redis://127.0.0.1:6379/9";
const n = Number(process.env.EBB_BENCH_N ?? 3000);
const rounds = Number(process.env.EBB_BENCH_ROUNDS ?? 3);
const cleanupN = Number(process.env.EBB_BENCH_CLEANUP_N ?? 100_000);
const archiveN = Number(process.env.EBB_BENCH_ARCHIVE_N ?? 1_000_000);
const idleMs = Number(process.env.EBB_BENCH_IDLE_MS ?? 600_000);
const idleSampleMs = Number(process.env.EBB_BENCH_IDLE_SAMPLE_MS ?? 60_000);
const tasks = Number(process.env.EBB_BENCH_TASKS ?? 1_000_000);
const tasksSample = Number(process.env.EBB_BENCH_TASKS_SAMPLE ?? 100_000);

const BENCHES = ["throughput", "cleanup", "archive", "memory", "memory-idle", "memory-tasks"] as const;
const chosen = process.argv.slice(2);
const unknown = chosen.filter((name) => !(BENCHES as readonly string[]).includes(name));
if (unknown.length > 0) {
  console.error(`Unknown benchmark ${unknown.map((n) => JSON.stringify(n)).join(", ")}; expected any of ${BENCHES.join(", ")} (none: all)`);
  process.exit(64);
}
const runs = (name: (typeof BENCHES)[number]) => chosen.length === 0 || chosen.includes(name);

console.log(`Ebb benchmarks — node ${process.version}, ${new Date().toISOString()}`);
if (runs("throughput"))
  printTable(
    `End-to-end on one Redis (${url}): ${n} no-op tasks with stored results, ${rounds} rounds; medians, drain timed first result to last`,
    await throughputBench(url, n, rounds),
  );
if (runs("cleanup"))
  printTable(
    `Cleanup of ${cleanupN} expired results among ${cleanupN} live ones on SQLite, a live writer storing every 1 ms`,
    cleanupCompare(cleanupN),
  );
if (runs("archive"))
  printTable(
    `Archive and restore on SQLite, ${archiveN} results (each step in its own process; peak RSS per step)`,
    archiveBench(archiveN),
  );
if (runs("memory") || runs("memory-idle")) {
  const idle = await memoryRun("idle", idleMs, idleSampleMs, (s) => console.error(`memory idle, ${s.label}: heap ${s.heapMB} MB`));
  printTable(
    `Memory: an idle worker with beat on SQLite for ${idleMs / 60_000} min, heap after GC every ${idleSampleMs / 1000} s`,
    memoryRows(idle),
  );
}
if (runs("memory") || runs("memory-tasks")) {
  const busy = await memoryRun("tasks", tasks, tasksSample, (s) => console.error(`memory tasks, ${s.label}: heap ${s.heapMB} MB`));
  printTable(
    `Memory: a worker with beat on SQLite running ${tasks.toLocaleString("en-US")} no-op tasks (${process.env.EBB_BENCH_IGNORE_RESULT === "1" ? "ignoreResult: nothing stored" : "results live 5 s"}, cleanup every 30 s), heap after GC every ${tasksSample.toLocaleString("en-US")} tasks; ${busy.tasksPerSecond ?? "?"} tasks/s`,
    memoryRows(busy),
  );
}
process.exit(0);
