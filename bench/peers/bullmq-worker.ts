// A worker process for the throughput benchmark: BullMQ on the same Redis, the same no-op task.
import { Worker } from "bullmq";

const url = new URL(process.argv[2]!);
const concurrency = Number(process.argv[3] ?? 10);
const connection = { host: url.hostname, port: Number(url.port || 6379), db: Number(url.pathname.slice(1) || 0) };
const worker = new Worker("bench", async (job) => job.data.i as number, { connection, concurrency });
process.on("SIGTERM", () => void worker.close().then(() => process.exit(0)));
await worker.waitUntilReady();
process.stdout.write("ready\n");
