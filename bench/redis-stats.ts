/**
 * What the benchmarks read from Redis itself: INFO (used_memory, CPU, per-command call counts, clients),
 * the clients on the benchmark's database, and MEMORY USAGE summed over every key in it (SCAN of
 * the whole database, on a connection of its own, only outside timed windows). Also the guard that
 * refuses a non-empty database and the FLUSHDB SYNC between runs.
 */
import { Redis } from "ioredis";
import { redactUrl } from "../src/url.js";
import { sleep } from "./harness.js";

export async function info(redis: Redis, ...sections: string[]): Promise<Map<string, string>> {
  const text = (await redis.call("INFO", ...sections)) as string;
  const out = new Map<string, string>();
  for (const line of text.split("\r\n")) {
    const i = line.indexOf(":");
    if (i > 0 && !line.startsWith("#")) out.set(line.slice(0, i), line.slice(i + 1));
  }
  return out;
}

/** Redis's CPU and commands at one moment; two of them make a window (costOf). */
export interface RedisSnapshot {
  at: number;
  /** used_cpu_sys + used_cpu_user, seconds. */
  cpuSeconds: number;
  /** INFO commandstats: calls per command (Lua's redis.call()s are counted under their own command). */
  calls: Map<string, number>;
  /** Connections the server has accepted so far (INFO stats total_connections_received). */
  connections: number;
  /** CLIENT LIST: each client's db, age and idle seconds. */
  clients: { db: number; age: number; idle: number }[];
}

export async function snapshot(redis: Redis): Promise<RedisSnapshot> {
  const all = await info(redis, "cpu", "commandstats", "stats");
  const calls = new Map<string, number>();
  for (const [key, value] of all) {
    if (!key.startsWith("cmdstat_")) continue;
    calls.set(key.slice("cmdstat_".length), Number(/calls=(\d+)/.exec(value)?.[1] ?? 0));
  }
  const list = (await redis.call("CLIENT", "LIST")) as string;
  const field = (line: string, name: string) => Number(new RegExp(` ${name}=(\\d+)`).exec(line)?.[1] ?? 0);
  return {
    at: performance.now(),
    cpuSeconds: Number(all.get("used_cpu_sys")) + Number(all.get("used_cpu_user")),
    calls,
    connections: Number(all.get("total_connections_received")),
    clients: list
      .split("\n")
      .filter((l) => l.startsWith("id="))
      .map((l) => ({ db: field(l, "db"), age: field(l, "age"), idle: field(l, "idle") })),
  };
}

/**
 * used_memory less the Lua script cache (used_memory_scripts): the cache is global, filled once
 * by whichever system first loads its scripts, and is not per result.
 */
export async function usedMemory(redis: Redis): Promise<number> {
  const m = await info(redis, "memory");
  return Number(m.get("used_memory")) - Number(m.get("used_memory_scripts") ?? 0);
}

/** used_memory once it has settled (two readings 300 ms apart within 1 KB; Redis shrinks emptied tables in its cron). */
export async function settledMemory(redis: Redis, timeoutMs = 10_000): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  let last = await usedMemory(redis);
  for (;;) {
    await sleep(300);
    const now = await usedMemory(redis);
    if (Math.abs(now - last) < 1024 || performance.now() > deadline) return now;
    last = now;
  }
}

/** Clients connected to the database `redis` is on (CLIENT LIST shows each one's db). */
export async function clientsOnDb(redis: Redis): Promise<number> {
  const db = redis.options.db ?? 0;
  const list = (await redis.call("CLIENT", "LIST")) as string;
  return list.split("\n").filter((line) => line.includes(` db=${db} `)).length;
}

/** Wait until the benchmark's database has at most `count` clients (a stopped worker's connections are gone). */
export async function waitForClients(redis: Redis, count: number, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while ((await clientsOnDb(redis)) > count && performance.now() < deadline) await sleep(50);
}

export interface KeySpace {
  keys: number;
  /** Sum of MEMORY USAGE key SAMPLES 0 (every element counted, not estimated). */
  bytes: number;
  /** Keys per pattern asked for (glob, as SCAN MATCH takes it). */
  matching: Map<string, number>;
  /** The first few key names, for notes. */
  sample: string[];
}

/** SCAN every key of the database with MEMORY USAGE, on a connection of its own (closed after). */
export async function keySpace(url: string, patterns: string[] = []): Promise<KeySpace> {
  const redis = new Redis(url);
  const globs = patterns.map((p) => [p, globToRegExp(p)] as const);
  const out: KeySpace = { keys: 0, bytes: 0, matching: new Map(patterns.map((p) => [p, 0])), sample: [] };
  try {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "COUNT", 1000);
      cursor = next;
      if (keys.length === 0) continue;
      const pipeline = redis.pipeline();
      for (const key of keys) pipeline.call("MEMORY", "USAGE", key, "SAMPLES", "0");
      const sizes = (await pipeline.exec()) ?? [];
      for (const [i, key] of keys.entries()) {
        out.keys++;
        out.bytes += Number(sizes[i]?.[1] ?? 0);
        if (out.sample.length < 8) out.sample.push(key);
        for (const [p, re] of globs) if (re.test(key)) out.matching.set(p, out.matching.get(p)! + 1);
      }
    } while (cursor !== "0");
    return out;
  } finally {
    redis.disconnect();
  }
}

/** Keys matching a glob, counted with SCAN (outside timed windows only). */
export async function countKeys(redis: Redis, match: string): Promise<number> {
  let cursor = "0";
  let count = 0;
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", match, "COUNT", 5000);
    cursor = next;
    count += keys.length;
  } while (cursor !== "0");
  return count;
}

function globToRegExp(glob: string): RegExp {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*") re += ".*";
    else if (c === "?") re += ".";
    else if (c === "[") {
      const end = glob.indexOf("]", i);
      re += glob.slice(i, end + 1);
      i = end;
    } else re += c.replace(/[.+^${}()|\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

/**
 * The benchmark empties the database it uses between runs (Python Celery and celery-node take no
 * key prefix): refuse to start on one that already holds someone's keys.
 */
export async function refuseNonEmpty(redis: Redis, url: string): Promise<void> {
  const held = await redis.dbsize();
  if (held > 0)
    throw new Error(
      `The benchmark's Redis database (${redactUrl(url)}) holds ${held} keys, and the benchmark empties the database it uses; point EBB_BENCH_REDIS at an empty database (a benchmark run that was killed leaves its keys behind: empty it with FLUSHDB if they are the benchmark's)`,
    );
}

export async function flush(redis: Redis): Promise<void> {
  await redis.call("FLUSHDB", "SYNC");
}
