/**
 * celery-node's worker for the Redis benchmark: the same no-op task, result stored by its Redis
 * backend (SETEX celery-task-meta-<id> + PUBLISH, as Celery does).
 *
 *   celery-node-worker.js URL N          prints "ready", then the bench-done line after N tasks
 *
 * celery-node has no concurrency setting: its consumer BRPOPs one message at a time and starts
 * the handler without waiting for it, so any number run at once. There is no ack (BRPOP removes
 * the message), so done = N results stored: its backend's storeResult() is wrapped to count the
 * stores that resolved (exact, in this process). It logs two lines per task with console.info;
 * those are silenced here, as every other worker in the benchmark runs without per-task logs.
 */
import celery from "celery-node";
import { doneReporter } from "./done-report.js";

const url = process.argv[2]!;
const n = Number(process.argv[3] ?? Number.POSITIVE_INFINITY);
console.info = () => undefined;
const done = doneReporter(n);
const worker = celery.createWorker(url, url);
const backend = worker.backend as unknown as { storeResult(id: string, result: unknown, state: string): Promise<unknown> };
const storeResult = backend.storeResult.bind(backend);
backend.storeResult = (id, result, state) =>
  storeResult(id, result, state).then((r) => {
    done.finished();
    return r;
  });
worker.register("bench.noop", (i: number) => {
  done.started();
  return i;
});
process.on("SIGTERM", () => process.exit(0));
process.stdout.write("ready\n");
await worker.start();
