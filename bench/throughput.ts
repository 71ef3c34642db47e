/**
 * End-to-end throughput on one Redis, the same no-op task with a stored result, for Ebb and its
 * peers: BullMQ and celery-node (npm) and Python Celery (Debian's python3-celery). Each run:
 * empty the bench database, enqueue N tasks with the system's own client (no worker running),
 * then start that system's worker in its own process and time the drain from the first result
 * to the last. Runs alternate between systems; the table shows medians and ratios to Ebb.
 * Bytes per result = what Redis spends per stored result (MEMORY USAGE), including Ebb's index.
 */
import { fileURLToPath } from "node:url";
import { Queue } from "bullmq";
import celery from "celery-node";
import { Redis } from "ioredis";
import { createApp, silentLogger } from "../src/index.js";
import { median, spawnReady, waitForCount, type Child } from "./harness.js";
import { redactUrl } from "../src/url.js";

interface System {
  name: string;
  enqueue(n: number): Promise<number>;
  worker(): Promise<Child>;
  done(): Promise<number>;
  bytesPerResult(n: number): Promise<number>;
}

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export async function throughputBench(url: string, n: number, rounds: number): Promise<Record<string, string>[]> {
  const redis = new Redis(url);
  const countResults = async (match: string) => {
    let cursor = "0";
    let count = 0;
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", match, "COUNT", 5000);
      cursor = next;
      count += keys.length;
    } while (cursor !== "0");
    return count;
  };
  const memoryOf = async (match: string, sample: number) => {
    let cursor = "0";
    const keys: string[] = [];
    do {
      const [next, found] = await redis.scan(cursor, "MATCH", match, "COUNT", 5000);
      cursor = next;
      keys.push(...found);
    } while (cursor !== "0" && keys.length < sample);
    const sizes = await Promise.all(keys.slice(0, sample).map((k) => redis.memory("USAGE", k)));
    return sizes.reduce<number>((a, b) => a + Number(b ?? 0), 0) / Math.max(1, Math.min(sample, keys.length));
  };
  const keyBytes = async (key: string) => Number((await redis.memory("USAGE", key)) ?? 0);
  const timed = async (fn: () => Promise<unknown>) => {
    const t = performance.now();
    await fn();
    return (performance.now() - t) / 1000;
  };
  const inChunks = async (total: number, fn: (i: number) => Promise<unknown>) => {
    for (let i = 0; i < total; i += 200) await Promise.all(Array.from({ length: Math.min(200, total - i) }, (_, j) => fn(i + j)));
  };

  const systems: System[] = [
    {
      name: "Ebb",
      enqueue: async (k) => {
        const app = createApp({ broker: url, backend: url }, { log: silentLogger });
        try {
          return await timed(() => inChunks(k, (i) => app.sendTask("bench.noop", [i])));
        } finally {
          await app.close();
        }
      },
      worker: () => spawnReady(process.execPath, [here("./peers/ebb-worker.js"), url, "10"], /ready/),
      // Ebb's expiry index counts stored results without a SCAN (the others need one).
      done: async () => redis.zcard("ebb:results:ttl"),
      bytesPerResult: async (k) =>
        (await memoryOf("celery-task-meta-*", 200)) + ((await keyBytes("ebb:results:ttl")) + (await keyBytes("ebb:results:info"))) / k,
    },
    {
      name: "BullMQ",
      enqueue: async (k) => {
        const u = new URL(url);
        const queue = new Queue("bench", {
          connection: { host: u.hostname, port: Number(u.port || 6379), db: Number(u.pathname.slice(1) || 0) },
        });
        try {
          return await timed(() => inChunks(k, (i) => queue.add("noop", { i })));
        } finally {
          await queue.close();
        }
      },
      worker: () => spawnReady(process.execPath, [here("./peers/bullmq-worker.js"), url, "10"], /ready/),
      done: async () => redis.zcard("bull:bench:completed"),
      bytesPerResult: async (k) => (await memoryOf("bull:bench:[0-9]*", 200)) + (await keyBytes("bull:bench:completed")) / k,
    },
    {
      name: "celery-node",
      enqueue: async (k) => {
        const client = celery.createClient(url, url);
        const t = await timed(async () => {
          for (let i = 0; i < k; i++) client.sendTask("bench.noop", [i]);
          await waitForCount(() => redis.llen("celery"), k, 120_000);
        });
        await client.disconnect();
        return t;
      },
      worker: () => spawnReady(process.execPath, [here("./peers/celery-node-worker.js"), url], /ready/),
      done: () => countResults("celery-task-meta-*"),
      bytesPerResult: () => memoryOf("celery-task-meta-*", 200),
    },
    {
      name: "Python Celery",
      enqueue: async (k) => {
        const { execFileSync } = await import("node:child_process");
        const out = execFileSync("/usr/bin/python3", [here("../../bench/peers/celery_client.py"), String(k)], {
          env: { ...process.env, BENCH_REDIS_URL: url },
        });
        return Number(out.toString().trim());
      },
      worker: () =>
        spawnReady(
          "/usr/bin/python3",
          [
            "-m",
            "celery",
            "-A",
            "celery_worker",
            "worker",
            "--pool=prefork",
            "--concurrency=2",
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
            "-l",
            "info",
          ],
          /ready\./,
          { BENCH_REDIS_URL: url },
          here("../../bench/peers"),
        ),
      done: () => countResults("celery-task-meta-*"),
      bytesPerResult: () => memoryOf("celery-task-meta-*", 200),
    },
  ];

  // The benchmark empties the database it uses between systems (Python Celery and celery-node
  // take no key prefix): refuse to start on one that already holds someone's keys.
  const held = await redis.dbsize();
  if (held > 0) {
    redis.disconnect();
    throw new Error(
      `The benchmark's Redis database (${redactUrl(url)}) holds ${held} keys, and the benchmark empties the database it uses; point EBB_BENCH_REDIS at an empty database`,
    );
  }
  const samples = new Map<string, { enqueue: number[]; drain: number[]; bytes: number[] }>();
  for (let round = 0; round < rounds; round++) {
    for (const s of systems) {
      await redis.flushdb();
      const enqueueS = await s.enqueue(n);
      const worker = await s.worker();
      try {
        const { firstAt, lastAt } = await waitForCount(s.done, n, 300_000);
        const entry = samples.get(s.name) ?? { enqueue: [], drain: [], bytes: [] };
        entry.enqueue.push(n / enqueueS);
        entry.drain.push((n - 1) / Math.max(0.001, (lastAt - firstAt) / 1000));
        entry.bytes.push(await s.bytesPerResult(n));
        samples.set(s.name, entry);
      } finally {
        await worker.stop();
      }
    }
  }
  await redis.flushdb();
  redis.disconnect();
  const ebb = samples.get("Ebb")!;
  const fmt = (x: number) => Math.round(x).toLocaleString("en-US");
  return systems.map((s) => {
    const m = samples.get(s.name)!;
    return {
      system: s.name,
      "enqueue/s": fmt(median(m.enqueue)),
      "vs Ebb": `${(median(m.enqueue) / median(ebb.enqueue)).toFixed(2)}x`,
      "processed/s": fmt(median(m.drain)),
      "vs Ebb ": `${(median(m.drain) / median(ebb.drain)).toFixed(2)}x`,
      "bytes/result": fmt(median(m.bytes)),
    };
  });
}
