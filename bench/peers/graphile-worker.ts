/**
 * graphile-worker's runner for the PostgreSQL benchmark, tuned the way its performance page tunes
 * it (https://worker.graphile.org/docs/performance, "Quick stats" and "Batching"; the option docs
 * are in node_modules/graphile-worker/dist/index.d.ts, GraphileConfig.WorkerOptions):
 *   concurrentJobs         CONCURRENCY (50)
 *   localQueue.size        500: the pool fetches and locks 500 jobs a query and hands them to its
 *                          workers locally (the docs' perf-test value; the default -1 fetches one
 *                          job a query per worker)
 *   completeJobBatchDelay  0, failJobBatchDelay 0: completions (and failures) queued within one
 *                          tick go to the database as one statement (docs: "Even setting this to
 *                          `0` can be impactful"; their perf test uses 0; the default -1 sends one
 *                          DELETE per job)
 *   pool                   max CONCURRENCY + 2 connections (the maxPoolSize the option docs
 *                          recommend: "10 or concurrentJobs + 2, whichever is larger")
 *   pollInterval           left at 2000 ms: it only matters when the queue is empty (new jobs arrive
 *                          by LISTEN/NOTIFY, and a full local queue refetches at once)
 * Everything else is default: its own schema (SCHEMA, created by migrate before the clock starts),
 * prepared statements on, no crontab. Its logger is silenced (it logs a line per completed job by
 * default), as every other worker in the benchmark runs without per-task logs. graphile-worker
 * stores no result: a completed job's row is deleted, and a task's return value is discarded.
 *
 *   graphile-worker.js URL SCHEMA CONCURRENCY N   prints "ready", then the bench-done line after N jobs
 *
 * Done = N jobs whose completion the database has acknowledged. graphile-worker has no event for
 * that: its "job:success" and "job:complete" events fire when the task returns, before the batched
 * completeJob has even been sent (main.js: completeJob(job) is called without being awaited). So
 * the runner gets a pg.Pool of our own (the documented `pgPool` option, sized as above), and each
 * pooled client's query() is observed: when one of graphile-worker's named completion statements
 * (complete_job/, complete_jobs/, complete_job_q/ + schema: a DELETE of the job rows, autocommitted)
 * resolves, the job ids it carried count as done. Nothing extra is sent to the database.
 */
import pg from "pg";
import { Logger, run } from "graphile-worker";
import { doneReporter } from "./done-report.js";

const url = process.argv[2]!;
const schema = process.argv[3] ?? "graphile_worker";
const concurrency = Number(process.argv[4] ?? 50);
const n = Number(process.argv[5] ?? Number.POSITIVE_INFINITY);

const LOCAL_QUEUE = 500;
const BATCH_DELAY_MS = 0;

const done = doneReporter(n);
let committed = 0;

/** How many jobs a query marks complete, if it is one of graphile-worker's completion statements. */
function completions(config: unknown): number {
  if (typeof config !== "object" || config === null) return 0;
  const { name, values } = config as { name?: unknown; values?: unknown[] };
  if (typeof name !== "string" || !/^complete_job(s|_q)?\//.test(name)) return 0;
  const ids = values?.[0];
  return Array.isArray(ids) ? ids.length : 1;
}

const pool = new pg.Pool({ connectionString: url, max: concurrency + 2 });
pool.on("error", (e) => console.error(`pg pool: ${e.message}`));
pool.on("connect", (client) => {
  client.on("error", (e) => console.error(`pg client: ${e.message}`));
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
    const result = query(...args);
    const count = completions(args[0]);
    if (count > 0 && result instanceof Promise)
      result.then(
        () => {
          committed += count;
          done.finishedTotal(committed);
        },
        () => undefined,
      );
    return result;
  };
});

const silent = new Logger(() => () => undefined);
const runner = await run({
  pgPool: pool,
  schema,
  logger: silent,
  noHandleSignals: true,
  crontab: "",
  taskList: {
    // A task returns nothing (an array return is read as per-payload results of a batch job).
    bench_noop: async () => {
      done.started();
    },
  },
  preset: {
    worker: {
      concurrentJobs: concurrency,
      localQueue: { size: LOCAL_QUEUE },
      completeJobBatchDelay: BATCH_DELAY_MS,
      failJobBatchDelay: BATCH_DELAY_MS,
    },
  },
});
process.on("SIGTERM", () => void runner.stop().then(() => pool.end().finally(() => process.exit(0))));
process.stdout.write("ready\n");
await runner.promise;
