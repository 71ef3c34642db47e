// A worker process for the throughput benchmark: Ebb on Redis, a no-op task that stores its result.
import { createApp, silentLogger } from "../../src/index.js";

const url = process.argv[2]!;
const concurrency = Number(process.argv[3] ?? 10);
const app = createApp({ broker: url, backend: url }, { log: silentLogger });
app.task("bench.noop", async (i: number) => i);
const worker = await app.worker({ concurrency });
process.on("SIGTERM", () => void worker.stop());
process.stdout.write("ready\n");
await worker.start();
await app.close();
process.exit(0);
