import type { Redis } from "ioredis";
import { SCRIPTS } from "./scripts.js";
import type { ResultKeys } from "./result-keys.js";
import type { RawResult } from "./stored-result.js";

/** Everything about one id in one round trip. MULTI, so a concurrent store is seen whole or not at all. */
export async function readRaw(client: Redis, keys: ResultKeys, taskId: string): Promise<RawResult> {
  const replies = await client
    .multi()
    .get(keys.value(taskId))
    .pttl(keys.value(taskId))
    .zscore(keys.ttlIndex, taskId)
    .zscore(keys.noTtlIndex, taskId)
    .hget(keys.info, taskId)
    .hget(keys.archived, taskId)
    .exec();
  if (!replies) throw new Error(`MULTI for ${keys.value(taskId)} was discarded`);
  const values = replies.map(([error, value]) => {
    if (error) throw error;
    return value;
  });
  const [value, pttl, ttlScore, noTtlScore, info, archived] = values as [
    string | null,
    number,
    string | null,
    string | null,
    string | null,
    string | null,
  ];
  return { value, pttl, ttlScore, noTtlScore, info, archived };
}

export interface StoreArgs {
  taskId: string;
  /** encodeResultMeta(...) of the result. */
  value: string;
  /** Epoch ms of the store clock; null = never. */
  expiresAt: number | null;
  /** Native TTL unless held; null = none. */
  ttlMs: number | null;
  /** storeFlags(...) */
  flags: number;
  tier: string | null;
}

export type StoreReply = { stored: true; held: boolean } | { stored: false; raw: RawResult & { value: string } };

/** Run store-results-3+.lua (see its header for the contract): many results in one call, a reply for each. */
export async function storeResults(client: Redis, keys: ResultKeys, batch: readonly StoreArgs[]): Promise<StoreReply[]> {
  const args: (string | number)[] = [];
  for (const a of batch)
    args.push(a.taskId, a.value, keys.channel(a.taskId), a.expiresAt === null ? "+inf" : a.expiresAt, a.ttlMs ?? "", a.flags, a.tier ?? "");
  const replies = (await SCRIPTS.store.run(
    client,
    [keys.ttlIndex, keys.noTtlIndex, keys.info, ...batch.map((a) => keys.value(a.taskId))],
    args,
  )) as unknown[][];
  return replies.map((reply) => {
    if (reply[0] === 1) return { stored: true, held: reply[1] === 1 };
    const [, value, pttl, ttlScore, noTtlScore, info] = reply as [0, string, number, string | null, string | null, string | null];
    return { stored: false, raw: { value, pttl, ttlScore: ttlScore ?? null, noTtlScore: noTtlScore ?? null, info: info ?? null } };
  });
}
