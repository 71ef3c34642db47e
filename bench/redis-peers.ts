/**
 * Ebb and its peers on one Redis, each set up the way its own docs set it up, all running the
 * same no-op task whose return value is kept in Redis:
 *   Ebb            app.sendTask / app.sendMany; worker app.worker({ concurrency }) (peers/ebb-worker.ts)
 *   BullMQ         queue.add / queue.addBulk with removeOnComplete: false; new Worker(..., { concurrency })
 *   celery-node    its client's message and publish (what sendTask does, awaited); createWorker (no
 *                  concurrency setting: one BRPOP at a time, handlers not awaited)
 *   Python Celery  Debian's python3-celery 5.2: send_task on one producer (a synchronous client, so one
 *                  publish in flight); worker --pool threads --concurrency C, without heartbeat,
 *                  mingle and gossip (cluster chatter a single worker does not need), -l warning
 * One-at-a-time enqueue keeps `inFlight` calls in flight (a sliding window); bulk enqueue sends
 * chunks of `chunkSize`, one chunk at a time. Timings start after the client has connected.
 */
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { Queue } from "bullmq";
import celery from "celery-node";
import { createApp, silentLogger } from "../src/index.js";
import { inFlight, spawnReady, timed, type Child } from "./harness.js";

export interface RedisPeer {
  name: string;
  /** Seconds to enqueue n tasks one call at a time, `width` in flight. */
  enqueue(n: number): Promise<number>;
  /** Bulk enqueue, where the system has an API for it: seconds for n tasks. */
  bulk?: { api: string; run(n: number): Promise<number> };
  /** Start the worker; it prints the bench-done line after n tasks. */
  worker(n: number): Promise<Child>;
  /** Glob of the keys that each hold one kept result (checked after every run). */
  resultKeys: string;
}

export interface RedisPeerOptions {
  concurrency: number;
  /** One-at-a-time enqueue: calls in flight. */
  width: number;
  /** Bulk enqueue: calls per chunk. */
  chunkSize: number;
}

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
/** The Python files are not compiled: they stay in the source tree (dist/bench/../../bench/peers). */
const PY_PEERS = here("../../bench/peers");

export const PYTHON = "/usr/bin/python3";
export const CELERY_POOL = "threads";

export function redisPeers(url: string, o: RedisPeerOptions): RedisPeer[] {
  const bullConnection = () => {
    const u = new URL(url);
    return {
      host: u.hostname,
      port: Number(u.port || 6379),
      db: Number(u.pathname.slice(1) || 0),
      ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    };
  };
  const range = (n: number) => Array.from({ length: n }, (_, i) => i);
  const nodeWorker = (script: string, args: string[]) => spawnReady(process.execPath, [here(script), url, ...args], /^ready$/m);

  return [
    {
      name: "Ebb",
      enqueue: async (n) => {
        const app = createApp({ broker: url, backend: url }, { log: silentLogger });
        try {
          await app.broker();
          return await timed(() => inFlight(n, o.width, (i) => app.sendTask("bench.noop", [i])));
        } finally {
          await app.close();
        }
      },
      bulk: {
        api: `app.sendMany(name, argsList, { chunkSize: ${o.chunkSize} })`,
        run: async (n) => {
          const app = createApp({ broker: url, backend: url }, { log: silentLogger });
          try {
            await app.broker();
            return await timed(() =>
              app.sendMany(
                "bench.noop",
                range(n).map((i) => [i]),
                { chunkSize: o.chunkSize },
              ),
            );
          } finally {
            await app.close();
          }
        },
      },
      worker: (n) => nodeWorker("./peers/ebb-worker.js", [String(o.concurrency), String(n)]),
      resultKeys: "celery-task-meta-*",
    },
    {
      name: "BullMQ",
      enqueue: async (n) => {
        const queue = new Queue("bench", { connection: bullConnection() });
        try {
          await queue.waitUntilReady();
          return await timed(() => inFlight(n, o.width, (i) => queue.add("noop", { i }, { removeOnComplete: false })));
        } finally {
          await queue.close();
        }
      },
      bulk: {
        api: `queue.addBulk(jobs), ${o.chunkSize} jobs a call`,
        run: async (n) => {
          const queue = new Queue("bench", { connection: bullConnection() });
          try {
            await queue.waitUntilReady();
            return await timed(async () => {
              for (let i = 0; i < n; i += o.chunkSize)
                await queue.addBulk(
                  range(Math.min(o.chunkSize, n - i)).map((j) => ({ name: "noop", data: { i: i + j }, opts: { removeOnComplete: false } })),
                );
            });
          } finally {
            await queue.close();
          }
        },
      },
      worker: (n) => nodeWorker("./peers/bullmq-worker.js", [String(o.concurrency), String(n)]),
      resultKeys: "bull:bench:[0-9]*",
    },
    {
      name: "celery-node",
      enqueue: async (n) => {
        const client = celery.createClient(url, url);
        try {
          await client.isReady();
          // client.sendTask() publishes without returning the publish: the same two steps, awaited.
          const send = (i: number) => {
            const m = client.createTaskMessage(randomUUID(), "bench.noop", [i], {});
            return client.broker.publish(m.body, "", client.conf.CELERY_QUEUE, m.headers, m.properties);
          };
          return await timed(() => inFlight(n, o.width, send));
        } finally {
          await client.disconnect();
        }
      },
      worker: (n) => nodeWorker("./peers/celery-node-worker.js", [String(n)]),
      resultKeys: "celery-task-meta-*",
    },
    {
      name: "Python Celery",
      enqueue: async (n) => {
        const out = execFileSync(PYTHON, [`${PY_PEERS}/celery_client.py`, String(n)], { env: { ...process.env, BENCH_REDIS_URL: url } });
        return Number(out.toString().trim());
      },
      worker: (n) =>
        spawnReady(
          PYTHON,
          [
            "-m",
            "celery",
            "-A",
            "celery_worker",
            "worker",
            `--pool=${CELERY_POOL}`,
            `--concurrency=${o.concurrency}`,
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
            "-l",
            "warning",
          ],
          /^ready$/m,
          { BENCH_REDIS_URL: url, BENCH_N: String(n) },
          PY_PEERS,
        ),
      resultKeys: "celery-task-meta-*",
    },
  ];
}
