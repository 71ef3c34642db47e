/**
 * pg-boss's worker for the PostgreSQL benchmark, tuned with the options pg-boss 12 documents for
 * throughput (https://pgboss.io/api/workers, work(); node_modules/pg-boss/dist/types.d.ts,
 * JobFetchOptions, JobPollingOptions, WorkConcurrencyOptions, WorkOptions):
 *   batchSize              BATCH (50): one fetch claims up to 50 jobs and hands them to the handler
 *                          together (default 1: one job a fetch)
 *   localConcurrency       LOCAL (1): "Number of workers to spawn for this queue ... Each worker
 *                          polls and processes jobs independently". Jobs in flight are batchSize x
 *                          localConcurrency, so 50 x 1 is the same 50 the other workers run at once
 *                          (bigger batches or more workers go faster here, holding more jobs)
 *   burstWhenBatchFull     true: "While each fetch returns a full batchSize batch ... the worker keeps
 *                          fetching continuously with no delay" (default false: each fetch starts
 *                          pollingIntervalSeconds after the one before, however many jobs it got)
 *   pollingIntervalSeconds 0.5, the documented minimum (default 2): the pace after a short fetch
 *   perJobResults          true: the handler returns { id, status: "completed", output } per job,
 *                          and pg-boss stores each output on its job in one statement. Without it
 *                          a batch handler's return value is stored only when the batch holds one
 *                          job (manager.js: complete(name, jobs, jobIds.length === 1 ? result : undefined))
 * Constructor: its own schema (SCHEMA, installed by start() before the clock starts), a pool of
 * max(10, LOCAL + 4) connections (default 10); queue created with createQueue defaults (standard
 * policy, completed jobs kept 7 days). Supervision, maintenance and the monitor run as by default.
 * pg-boss does not log per job.
 *
 *   pgboss-worker.js URL SCHEMA N [BATCH] [LOCAL]   prints "ready", then the bench-done line after N jobs
 *
 * Done = N jobs that pg-boss's completion statement reported settled. pg-boss has no completion
 * event (its events are error, warning, wip, stopped...), and its worker completes a batch only
 * after the handler has returned. So the instance's own database object (boss.getDb(), shared by
 * all its parts) has executeSql observed: when the job-completion UPDATE (SET completed_on = ...,
 * state = 'completed', autocommitted) resolves, the count of rows it settled counts as done.
 * Nothing extra is sent to the database.
 */
import { PgBoss } from "pg-boss";
import { doneReporter } from "./done-report.js";

const url = process.argv[2]!;
const schema = process.argv[3] ?? "pgboss";
const n = Number(process.argv[4] ?? Number.POSITIVE_INFINITY);
const batchSize = Number(process.argv[5] ?? 50);
const localConcurrency = Number(process.argv[6] ?? 1);
const QUEUE = "bench";

const done = doneReporter(n);
let committed = 0;
const COMPLETION = /SET completed_on = [^,]+,\s*state = 'completed'/;

const boss = new PgBoss({ connectionString: url, schema, max: Math.max(10, localConcurrency + 4) });
boss.on("error", (e) => console.error(`pg-boss: ${e instanceof Error ? e.message : String(e)}`));
// executeSql's third argument (signal, retire: pg-boss's own) is passed through untouched.
type ExecuteSql = (text: string, values?: unknown[], ...rest: unknown[]) => Promise<{ rows: unknown[] }>;
const db = boss.getDb() as unknown as { executeSql: ExecuteSql };
const executeSql = db.executeSql.bind(db);
db.executeSql = async (text, values, ...rest) => {
  const result = await executeSql(text, values, ...rest);
  if (COMPLETION.test(text)) {
    committed += Number((result.rows[0] as { count?: unknown } | undefined)?.count ?? 0);
    done.finishedTotal(committed);
  }
  return result;
};
await boss.start();
process.on("SIGTERM", () => void boss.stop({ graceful: false }).finally(() => process.exit(0)));
await boss.work<{ i: number }>(
  QUEUE,
  { batchSize, localConcurrency, burstWhenBatchFull: true, pollingIntervalSeconds: 0.5, perJobResults: true },
  async (jobs) => {
    done.started();
    return jobs.map((job) => ({ id: job.id, status: "completed" as const, output: { i: job.data.i } }));
  },
);
process.stdout.write("ready\n");
