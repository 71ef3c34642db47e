/**
 * What Ebb's Redis index costs per result: MEMORY USAGE of the index keys (ebb:results:ttl,
 * ebb:results:no-ttl, ebb:results:info) divided by the number of results, for 10k results in each
 * retention shape, next to the size of the result value itself (which Celery stores too).
 *
 *   npx tsx bench/redis-index-bytes.ts [redis://127.0.0.1:6379/0] [count]
 *
 * A benchmark, not a test: it prints a table and asserts nothing. It writes under a fresh prefix
 * and removes what it wrote (SCAN + UNLINK).
 */
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import type { StoreRequest } from "../src/backends/result-backend.js";
import { RedisBackend } from "../src/backends/redis/redis-backend.js";
import { resultKeys } from "../src/backends/redis/result-keys.js";

const baseUrl = process.argv[2] ?? "redis://127.0.0.1:6379/0";
const count = Number(process.argv[3] ?? 10_000);

interface Shape {
  name: string;
  request: Pick<StoreRequest, "lifetimeMs" | "tier" | "action">;
}

const SHAPES: Shape[] = [
  { name: "no tier, delete (TTL)", request: { lifetimeMs: 3_600_000, tier: null, action: "delete" } },
  { name: "tier standard, delete (TTL)", request: { lifetimeMs: 86_400_000, tier: "standard", action: "delete" } },
  { name: "tier audit, archive (no TTL)", request: { lifetimeMs: 30 * 86_400_000, tier: "audit", action: "archive" } },
  { name: "never expires (no TTL)", request: { lifetimeMs: null, tier: null, action: "delete" } },
];

async function memoryUsage(redis: Redis, key: string): Promise<number> {
  // SAMPLES 0: count every element, not an estimate from a sample.
  return Number((await redis.call("MEMORY", "USAGE", key, "SAMPLES", "0")) ?? 0);
}

async function removePrefix(redis: Redis, prefix: string): Promise<void> {
  for (let cursor = "0"; ; ) {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
    if (keys.length > 0) await redis.unlink(...keys);
    cursor = next;
    if (cursor === "0") return;
  }
}

async function measure(redis: Redis, shape: Shape): Promise<Record<string, string | number>> {
  const prefix = `ebbbench:${randomUUID()}:`;
  const url = `${baseUrl}${baseUrl.includes("?") ? "&" : "?"}prefix=${prefix}`;
  const backend = await new RedisBackend({ url }).connect();
  const keys = resultKeys(prefix);
  const ids: string[] = [];
  try {
    for (let i = 0; i < count; i += 500) {
      const batch = Array.from({ length: Math.min(500, count - i) }, () => randomUUID());
      ids.push(...batch);
      await Promise.all(
        batch.map((taskId) =>
          backend.store({
            taskId,
            status: "SUCCESS",
            result: { ok: true, n: 42 },
            traceback: null,
            children: [],
            name: "bench.task",
            args: [1, 2],
            kwargs: {},
            worker: "w@host",
            retries: 0,
            queue: "celery",
            ...shape.request,
          }),
        ),
      );
    }
    const index = {
      ttl: await memoryUsage(redis, keys.ttlIndex),
      noTtl: await memoryUsage(redis, keys.noTtlIndex),
      info: await memoryUsage(redis, keys.info),
    };
    const total = index.ttl + index.noTtl + index.info;
    const sample = ids.slice(0, 200);
    let values = 0;
    for (const id of sample) values += await memoryUsage(redis, keys.value(id));
    const valuePer = values / sample.length;
    return {
      shape: shape.name,
      results: count,
      "ttl zset": index.ttl,
      "no-ttl zset": index.noTtl,
      "info hash": index.info,
      "index B/result": Number((total / count).toFixed(1)),
      "value B/result": Math.round(valuePer),
      "index / value": `${((total / count / valuePer) * 100).toFixed(0)}%`,
    };
  } finally {
    await backend.close();
    await removePrefix(redis, prefix);
  }
}

const redis = new Redis(baseUrl.replace(/\?.*$/, ""));
try {
  const rows = [];
  for (const shape of SHAPES) rows.push(await measure(redis, shape));
  const version = /redis_version:(\S+)/.exec(await redis.info("server"))?.[1] ?? "?";
  console.log(`Ebb Redis index: bytes per result (Redis ${version}, ${count} results per shape, task ids are UUIDs)`);
  console.table(rows);
} finally {
  redis.disconnect();
}
