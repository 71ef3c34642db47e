import type { Redis } from "ioredis";
import type { ResultKeys } from "./result-keys.js";
import { scanKeys, unwrap } from "./retention-scan.js";

/** Policies under which Redis may drop a key before its TTL: allkeys-* any key, volatile-* any key with a TTL. */
const EVICTING = /^(allkeys|volatile)-/;

export type RedisStoreFacts = {
  kind: "redis";
  /** INFO memory used_memory, bytes. */
  usedMemory: number | null;
  /** CONFIG GET maxmemory-policy, or "unknown" where CONFIG is disabled or forbidden (managed Redis, ACLs). */
  maxmemoryPolicy: string;
  /** CONFIG GET maxmemory, bytes (0 = no limit), or null when CONFIG is unavailable. */
  maxmemory: number | null;
  /** celery-task-meta-* keys under the prefix, Ebb's and Python Celery's. */
  resultKeys: number;
  /** Of those, keys with no TTL: permanent, archive-pending and held results. Never cleaned by TTL. */
  resultKeysWithoutTtl: number;
  /** Values scans met that are not Celery JSON (skipped, never removed), since this process started. */
  unreadableValues: number;
  warning?: string;
};

/**
 * What `ebb stats` adds for Redis. One SCAN over the result keys with their PTTLs pipelined (never
 * KEYS): Celery's keys have no index, so counting the ones without a TTL needs a pass, and a pass
 * is exact where the no-ttl index alone would miss them.
 */
export async function storeFacts(client: Redis, keys: ResultKeys, unreadableValues: number): Promise<RedisStoreFacts> {
  const [memory, policy, maxmemory] = await Promise.all([
    client.info("memory"),
    configGet(client, "maxmemory-policy"),
    configGet(client, "maxmemory"),
  ]);
  const used = /^used_memory:(\d+)/m.exec(memory);
  let resultKeys = 0;
  let withoutTtl = 0;
  for await (const batch of scanKeys(client, `${keys.everything.slice(0, -1)}celery-task-meta-*`)) {
    const pipeline = client.pipeline();
    for (const key of batch) pipeline.pttl(key);
    for (const pttl of unwrap(await pipeline.exec()) as number[]) {
      if (pttl === -2) continue; // gone since SCAN saw it
      resultKeys += 1;
      if (pttl === -1) withoutTtl += 1;
    }
  }
  const facts: RedisStoreFacts = {
    kind: "redis",
    usedMemory: used ? Number(used[1]) : null,
    maxmemoryPolicy: policy ?? "unknown",
    maxmemory: maxmemory === null ? null : Number(maxmemory),
    resultKeys,
    resultKeysWithoutTtl: withoutTtl,
    unreadableValues,
  };
  if (policy !== null && EVICTING.test(policy)) {
    const which = policy.startsWith("allkeys-") ? "any result" : "any result with a TTL";
    facts.warning = `maxmemory-policy is ${policy}: when Redis reaches maxmemory it evicts ${which} before its time; an evicted result reads as expired, but it was not. Set maxmemory-policy noeviction on the result backend's Redis.`;
  }
  return facts;
}

/** CONFIG GET one parameter; null when CONFIG is renamed, disabled or forbidden. */
async function configGet(client: Redis, name: string): Promise<string | null> {
  try {
    const reply = (await client.config("GET", name)) as string[];
    return reply[1] ?? null;
  } catch {
    return null;
  }
}
