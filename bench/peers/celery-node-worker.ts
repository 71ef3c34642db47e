// A worker process for the throughput benchmark: celery-node on the same Redis, the same no-op task.
import celery from "celery-node";

const url = process.argv[2]!;
const worker = celery.createWorker(url, url);
worker.register("bench.noop", (i: number) => i);
process.on("SIGTERM", () => process.exit(0));
process.stdout.write("ready\n");
await worker.start();
