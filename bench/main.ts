/**
 * `npm run bench`: Ebb against its peers on this machine, in one run. Uses Redis database 9 at
 * 127.0.0.1:6379 by default (it is emptied: point EBB_BENCH_REDIS elsewhere if 9 is in use).
 *   EBB_BENCH_N       tasks per run (default 3000)
 *   EBB_BENCH_ROUNDS  runs per system (default 3); tables show medians
 */
import { printTable } from "./harness.js";
import { throughputBench } from "./throughput.js";

const url = process.env.EBB_BENCH_REDIS ?? "redis://127.0.0.1:6379/9";
const n = Number(process.env.EBB_BENCH_N ?? 3000);
const rounds = Number(process.env.EBB_BENCH_ROUNDS ?? 3);

console.log(`Ebb benchmarks — node ${process.version}, ${n} tasks x ${rounds} rounds per system, Redis ${url}`);
printTable("End-to-end on one Redis: no-op task, stored result (medians; drain timed first result to last)", await throughputBench(url, n, rounds));
process.exit(0);
