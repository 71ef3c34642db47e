/**
 * plainjob's worker for the SQLite benchmark, as its README sets one up (better-sqlite3
 * connection, defineQueue, defineWorker, start): one worker in one process runs one job at a time
 * (its model; the README scales out with more processes). Options are its defaults (polls every
 * 1 s when idle, done jobs kept 7 days; a job's return value is not stored), except the logger:
 * plainjob logs five debug lines per job to the console by default, silenced here as every other
 * worker in the benchmark runs without per-task logs.
 *
 *   plainjob-worker.js DB_PATH N         prints "ready", then the bench-done line after N jobs
 *
 * Done = N onCompleted calls: plainjob calls it after markJobAsDone has committed.
 */
import Database from "better-sqlite3";
import { better, defineQueue, defineWorker, type Logger } from "plainjob";
import { doneReporter } from "./done-report.js";

const path = process.argv[2]!;
const n = Number(process.argv[3] ?? Number.POSITIVE_INFINITY);
const silent: Logger = { error: () => undefined, warn: () => undefined, info: () => undefined, debug: () => undefined };
const queue = defineQueue({ connection: better(new Database(path)), logger: silent });
const done = doneReporter(n);
const worker = defineWorker(
  "bench.noop",
  async (job) => {
    done.started();
    JSON.parse(job.data);
  },
  { queue, logger: silent, onCompleted: () => done.finished() },
);
process.on("SIGTERM", () => void worker.stop().then(() => process.exit(0)));
process.stdout.write("ready\n");
await worker.start();
