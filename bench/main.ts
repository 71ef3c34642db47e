/**
 * `npm run bench`: Ebb against its peers on this machine, in one run. Uses Redis database 9 at
 * 127.0.0.1:6379 by default (it is emptied: point EBB_BENCH_REDIS elsewhere if 9 is in use).
 *   EBB_BENCH_N          tasks per throughput run (default 3000)
 *   EBB_BENCH_ROUNDS     throughput runs per system (default 3); tables show medians
 *   EBB_BENCH_CLEANUP_N  expired results for the cleanup comparison (default 100000)
 *   EBB_BENCH_ARCHIVE_N  results for archive and restore (default 1000000)
 * Numbers are noisy on shared machines: compare the ratios, and run twice.
 */
import { EventEmitter } from "node:events";
import { archiveBench } from "./archive-throughput.js";
import { cleanupCompare } from "./cleanup-compare.js";
import { printTable } from "./harness.js";
import { throughputBench } from "./throughput.js";

// celery-node's client adds listeners to its Redis connection on every sendTask.
EventEmitter.defaultMaxListeners = 0;

const url = process.env.EBB_BENCH_REDIS ?? "redis://127.0.0.1:6379/9";
const n = Number(process.env.EBB_BENCH_N ?? 3000);
const rounds = Number(process.env.EBB_BENCH_ROUNDS ?? 3);
const cleanupN = Number(process.env.EBB_BENCH_CLEANUP_N ?? 100_000);
const archiveN = Number(process.env.EBB_BENCH_ARCHIVE_N ?? 1_000_000);

console.log(`Ebb benchmarks — node ${process.version}, ${new Date().toISOString()}`);
printTable(`End-to-end on one Redis (${url}): ${n} no-op tasks with stored results, ${rounds} rounds; medians, drain timed first result to last`, await throughputBench(url, n, rounds));
printTable(`Cleanup of ${cleanupN} expired results among ${cleanupN} live ones on SQLite, a live writer storing every 1 ms`, cleanupCompare(cleanupN));
printTable(`Archive and restore on SQLite, ${archiveN} results (each step in its own process; peak RSS per step)`, archiveBench(archiveN));
process.exit(0);
