/**
 * How Ebb's Redis worker scales: N of 10k, 100k and 1M no-op tasks at one concurrency, and
 * concurrencies 1, 10, 50 and 200 at one N (both lists from env, see main.ts). Each run:
 * FLUSHDB SYNC, enqueue N with app.sendMany (chunks of `chunkSize`, 100k calls per sendMany so
 * this process stays small), then the worker drains it (peers/ebb-worker.ts; processed/s and
 * worker CPU timed inside the worker, first handler call to N stored and acked). Max RSS is the
 * worker's VmHWM when done; Redis memory is the used_memory delta with every result kept
 * (Lua script cache left out), measured after the worker stopped.
 */
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { createApp, silentLogger } from "../src/index.js";
import { fixed, fmt, printTable, spawnReady, timed } from "./harness.js";
import { clientsOnDb, flush, refuseNonEmpty, usedMemory, waitForClients } from "./redis-stats.js";
import { drain, type Drain } from "./worker-run.js";

export interface ScaleOptions {
  url: string;
  ns: number[];
  concurrency: number;
  concurrencies: number[];
  concurrencyN: number;
  chunkSize: number;
}

interface Point {
  enqueue: number;
  drain: Drain;
  redisBytes: number;
}

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const OTHER_CLIENTS =
  "Other clients: of this Redis server, seen in the timed window (other databases' busy clients, connections made elsewhere); Redis CPU, commands and used_memory are server-wide and count their work too.";
const SEND_SLICE = 100_000;

export async function scaleCurve(o: ScaleOptions): Promise<void> {
  const redis = new Redis(o.url);
  try {
    await refuseNonEmpty(redis, o.url);
    const byN: [number, Point][] = [];
    for (const n of o.ns) {
      byN.push([n, await point(redis, o, n, o.concurrency)]);
      console.error(`scale N=${n}: ${fmt(byN.at(-1)![1].drain.perSecond)}/s`);
    }
    const byConcurrency: [number, Point][] = [];
    for (const c of o.concurrencies) {
      byConcurrency.push([c, await point(redis, o, o.concurrencyN, c)]);
      console.error(`scale concurrency=${c}: ${fmt(byConcurrency.at(-1)![1].drain.perSecond)}/s`);
    }
    if (byN.length > 0)
      printTable(
        `Scale (Ebb on Redis): N no-op tasks at concurrency ${o.concurrency}, results kept, one run each`,
        byN.map(([n, p]) => ({
          N: n.toLocaleString("en-US"),
          "sendMany enqueue/s": fmt(p.enqueue),
          "processed/s": fmt(p.drain.perSecond),
          "worker CPU µs/task": fmt(p.drain.workerCpuUs),
          "worker max RSS MB": fixed(p.drain.maxRssMB),
          "Redis used_memory MB": fixed(p.redisBytes / 1_048_576),
          "B/result": fmt(p.redisBytes / n),
          "commands/task": fixed(p.drain.redis!.commands / n, 2),
          "other clients": String(p.drain.redis!.company),
        })),
        [OTHER_CLIENTS],
      );
    if (byConcurrency.length > 0)
      printTable(
        `Scale (Ebb on Redis): concurrency at N = ${o.concurrencyN.toLocaleString("en-US")} no-op tasks, results kept, one run each`,
        byConcurrency.map(([c, p]) => ({
          concurrency: String(c),
          "processed/s": fmt(p.drain.perSecond),
          "worker CPU µs/task": fmt(p.drain.workerCpuUs),
          "Redis CPU µs/task": fixed((p.drain.redis!.cpuSeconds * 1e6) / o.concurrencyN),
          "commands/task": fixed(p.drain.redis!.commands / o.concurrencyN, 2),
          "worker max RSS MB": fixed(p.drain.maxRssMB),
          "other clients": String(p.drain.redis!.company),
        })),
        [OTHER_CLIENTS],
      );
  } finally {
    await flush(redis).catch(() => undefined);
    redis.disconnect();
  }
}

async function point(redis: Redis, o: ScaleOptions, n: number, concurrency: number): Promise<Point> {
  await flush(redis);
  const clients = await clientsOnDb(redis);
  const before = await usedMemory(redis);
  const enqueueSeconds = await sendMany(o.url, n, o.chunkSize);
  const d = await drain(
    n,
    () => spawnReady(process.execPath, [here("./peers/ebb-worker.js"), o.url, String(concurrency), String(n)], /^ready$/m),
    redis,
  );
  await waitForClients(redis, clients);
  const redisBytes = (await usedMemory(redis)) - before;
  await flush(redis);
  return { enqueue: n / enqueueSeconds, drain: d, redisBytes };
}

/** Enqueue n no-op tasks with app.sendMany; seconds taken (after connecting). */
/** Enqueue N no-op calls with app.sendMany; the time it took (s). `ids`, when given, collects the calls' ids. */
export async function sendMany(url: string, n: number, chunkSize: number, ids?: string[]): Promise<number> {
  const app = createApp({ broker: url, backend: url }, { log: silentLogger });
  try {
    await app.broker();
    return await timed(async () => {
      for (let i = 0; i < n; i += SEND_SLICE) {
        const sent = await app.sendMany(
          "bench.noop",
          Array.from({ length: Math.min(SEND_SLICE, n - i) }, (_, j) => [i + j]),
          { chunkSize },
        );
        if (ids) for (const r of sent) ids.push(r.id);
      }
    });
  } finally {
    await app.close();
  }
}
