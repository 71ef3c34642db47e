/**
 * BullMQ's worker for the Redis benchmark: the same no-op task (its return value is the job's
 * returnvalue), concurrency as given. Jobs are added with removeOnComplete: false, so every
 * completed job and its result stay in Redis.
 *
 *   bullmq-worker.js URL CONCURRENCY N   prints "ready", then the bench-done line after N jobs
 *
 * Done = N "completed" events: BullMQ emits one after its moveToFinished script has stored the
 * return value and moved the job to the completed set.
 */
import { Worker } from "bullmq";
import { doneReporter } from "./done-report.js";

const url = new URL(process.argv[2]!);
const concurrency = Number(process.argv[3] ?? 50);
const n = Number(process.argv[4] ?? Number.POSITIVE_INFINITY);
const connection = { host: url.hostname, port: Number(url.port || 6379), db: Number(url.pathname.slice(1) || 0) };
const done = doneReporter(n);
const worker = new Worker(
  "bench",
  async (job) => {
    done.started();
    return job.data.i as number;
  },
  { connection, concurrency },
);
worker.on("completed", () => done.finished());
process.on("SIGTERM", () => void worker.close().then(() => process.exit(0)));
await worker.waitUntilReady();
process.stdout.write("ready\n");
