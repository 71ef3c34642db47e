/**
 * Ebb's worker for the benchmarks, on Redis or SQLite (whatever URL it is given, broker and
 * backend the same): the no-op task, results stored, `app.worker({ concurrency })`.
 *
 *   ebb-worker.js URL CONCURRENCY N      prints "ready", then the bench-done line after N tasks
 *
 * Done = worker.processed (messages whose result is stored and whose message is acked) reaching
 * N, checked every millisecond in this process. EBB_BENCH_RESULT_EXPIRES sets the app's
 * resultExpires (the expired-memory bench stores results that live 2 s); EBB_BENCH_PREFETCH the
 * worker's prefetch (default: as many as its concurrency).
 */
import { createApp, silentLogger } from "../../src/index.js";
import { doneReporter } from "./done-report.js";

const url = process.argv[2]!;
const concurrency = Number(process.argv[3] ?? 50);
const n = Number(process.argv[4] ?? Number.POSITIVE_INFINITY);
const expires = process.env.EBB_BENCH_RESULT_EXPIRES;
const app = createApp({ broker: url, backend: url, ...(expires ? { resultExpires: expires } : {}) }, { log: silentLogger });
const done = doneReporter(n);
app.task("bench.noop", async (i: number) => {
  done.started();
  return i;
});
const prefetch = process.env.EBB_BENCH_PREFETCH;
const worker = await app.worker({ concurrency, ...(prefetch ? { prefetch: Number(prefetch) } : {}) });
const poll = setInterval(() => done.finishedTotal(worker.processed), 1);
process.on("SIGTERM", () => void worker.stop());
process.stdout.write("ready\n");
await worker.start();
clearInterval(poll);
await app.close();
process.exit(0);
