import type { Redis } from "ioredis";
import type { AlongsideAck } from "../../brokers/redis/redis-broker.js";
import { SCRIPTS } from "./scripts.js";
import type { ResultKeys } from "./result-keys.js";
import type { RawResult } from "./stored-result.js";

/**
 * Everything about one id in one round trip (read-result-5.lua). With `records`, also `recordAt`:
 * the expiry its compact records hold (epoch ms) when neither index has it; else null.
 */
export async function readRaw(
  client: Redis,
  keys: ResultKeys,
  taskId: string,
  records: boolean,
): Promise<RawResult & { recordAt: number | null }> {
  const reply = (await SCRIPTS.read.run(
    client,
    [keys.value(taskId), keys.ttlIndex, keys.noTtlIndex, keys.info, keys.archived],
    [taskId, records ? "1" : "0"],
  )) as [string | null, number, string | null, string | null, string | null, string | null, number | null];
  const [value, pttl, ttlScore, noTtlScore, info, archived, recordAt] = reply;
  return { value, pttl, ttlScore, noTtlScore, info, archived, recordAt };
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

/** A store and the ack that goes with it (finish-5+.lua); ack null when the broker holds no lease. */
export interface FinishArgs {
  store: StoreArgs;
  ack: AlongsideAck | null;
}

/**
 * Run finish-5+.lua: the stores and acks of many tasks in one call, a store reply for each. Every
 * ack of one call names the same broker keys (one broker per backend): the first one's are used.
 */
export async function finishTasks(client: Redis, keys: ResultKeys, batch: readonly FinishArgs[]): Promise<StoreReply[]> {
  const broker = batch.find((b) => b.ack !== null)?.ack;
  const args: (string | number)[] = [];
  for (const { store: a, ack } of batch) args.push(...storeArgv(keys, a), ack?.field ?? "", ack?.score ?? "");
  const replies = (await SCRIPTS.finish.run(
    client,
    [
      keys.ttlIndex,
      keys.noTtlIndex,
      keys.info,
      broker?.unacked ?? keys.info,
      broker?.unackedIndex ?? keys.info,
      ...batch.map((b) => keys.value(b.store.taskId)),
    ],
    args,
  )) as unknown[][];
  return replies.map(storeReply);
}

/** Run store-results-3+.lua (see its header for the contract): many results in one call, a reply for each. */
export async function storeResults(client: Redis, keys: ResultKeys, batch: readonly StoreArgs[]): Promise<StoreReply[]> {
  const args: (string | number)[] = [];
  for (const a of batch) args.push(...storeArgv(keys, a));
  const valueKeys = batch.map((a) => keys.value(a.taskId));
  const replies = (await SCRIPTS.store.run(client, [keys.ttlIndex, keys.noTtlIndex, keys.info, ...valueKeys], args)) as unknown[][];
  return replies.map(storeReply);
}

/** The seven ARGV of one store (store-results-3+.lua). */
function storeArgv(keys: ResultKeys, a: StoreArgs): (string | number)[] {
  return [a.taskId, a.value, keys.channel(a.taskId), a.expiresAt === null ? "+inf" : a.expiresAt, a.ttlMs ?? "", a.flags, a.tier ?? ""];
}

function storeReply(reply: unknown[]): StoreReply {
  if (reply[0] === 1) return { stored: true, held: reply[1] === 1 };
  const [, value, pttl, ttlScore, noTtlScore, info] = reply as [0, string, number, string | null, string | null, string | null];
  return { stored: false, raw: { value, pttl, ttlScore: ttlScore ?? null, noTtlScore: noTtlScore ?? null, info: info ?? null } };
}
