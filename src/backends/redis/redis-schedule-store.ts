import type { Redis } from "ioredis";
import { parseSample, sampleJson, type StorageSample } from "../../monitor/history.js";
import {
  HISTORY_TRIM_BATCH,
  RUNS_KEPT,
  fireRecordOf,
  outboxOf,
  sampleSlot,
  type ClaimOutcome,
  type ClaimRequest,
  type CleanupRunRecord,
  type EntryState,
  type FireClaim,
  type FireRecord,
  type OutboxMessage,
  type SampleOptions,
  type ScheduleStore,
} from "../../beat/schedule-store.js";
import { SCRIPTS } from "./scripts.js";
import type { ScheduleKeys } from "./schedule-keys.js";

export interface ScheduleStoreContext {
  redis(): Redis;
  keys: ScheduleKeys;
  /** The backend's store clock: Redis's TIME, or the one injected in tests. */
  now(): number;
}

/** A fire as it sits in the history: its record, and its message until it is sent. */
interface StoredFire extends FireRecord {
  message?: OutboxMessage;
}

/**
 * Beat's state on Redis (the contract is src/beat/schedule-store.ts; the keys are in
 * schedule-keys.ts). The two steps that must be atomic, claim and mark-sent, are Lua scripts that
 * get "now" as an argument, so the backend's clock (Redis's own, or a test's) stamps the fires.
 * Reads are plain commands: they need no more than one consistent key each.
 */
export class RedisScheduleStore implements ScheduleStore {
  constructor(private readonly ctx: ScheduleStoreContext) {}

  async now(): Promise<number> {
    return this.ctx.now();
  }

  async states(entries: readonly string[]): Promise<Map<string, EntryState>> {
    const out = new Map<string, EntryState>();
    if (entries.length === 0) return out;
    const pipeline = this.ctx.redis().pipeline();
    for (const name of entries) pipeline.hgetall(this.ctx.keys.entry(name));
    const replies = (await pipeline.exec()) ?? [];
    entries.forEach((name, i) => {
      const [error, hash] = replies[i] ?? [new Error("no reply")];
      if (error) throw error;
      const state = toState(name, hash as Record<string, string>);
      if (state) out.set(name, state);
    });
    return out;
  }

  async claim(req: ClaimRequest): Promise<ClaimOutcome> {
    if (!(Number.isInteger(req.historyLimit) && req.historyLimit >= 0))
      throw new RangeError(`Expected historyLimit to be an integer >= 0, got ${req.historyLimit}`);
    if (!(Number.isFinite(req.claimTtlMs) && req.claimTtlMs > 0))
      throw new RangeError(`Expected claimTtlMs to be a number > 0, got ${req.claimTtlMs}`);
    const ticks = req.fires.map((f) => f.tick);
    // Two fires of one tick would be two history members with one score; markSent finds fires by score.
    if (new Set(ticks).size !== ticks.length)
      throw new RangeError(`Expected the fires of one claim to have distinct ticks, got ${ticks.join(", ")}`);
    const { keys } = this.ctx;
    const now = this.ctx.now();
    const newest = req.fires.at(-1);
    const args = [
      req.expect === null ? "" : String(req.expect.lastTick),
      req.expect?.schedule ?? "",
      req.schedule,
      String(req.lastTick),
      req.nextTick === null ? "" : String(req.nextTick),
      req.missed,
      req.fires.filter((f) => f.catchUp).length,
      req.historyLimit,
      Math.ceil(req.claimTtlMs),
      String(now),
      newest ? JSON.stringify(fireRecord(req.entry, newest, now)) : "",
      ...req.fires.flatMap((f) => [String(f.tick), f.taskId, JSON.stringify(storedFire(req.entry, f, now))]),
    ];
    const claimKeys = req.fires.map((f) => keys.claim(req.entry, f.tick));
    const reply = (await SCRIPTS.claimTicks.run(
      this.ctx.redis(),
      [keys.entry(req.entry), keys.fires(req.entry), keys.unsent, ...claimKeys],
      args,
    )) as [number, string[]?];
    if (reply[0] === 1) return { ok: true, claimedAt: now };
    return { ok: false, state: toState(req.entry, pairs(reply[1] ?? [])) };
  }

  async markSent(entry: string, tick: number): Promise<boolean> {
    const { keys } = this.ctx;
    const marked = await SCRIPTS.markFireSent.run(
      this.ctx.redis(),
      [keys.entry(entry), keys.fires(entry), keys.unsent],
      [String(tick), String(this.ctx.now())],
    );
    return marked === 1;
  }

  async unsent(claimedFrom: number, claimedTo: number, limit: number): Promise<Array<FireRecord & { message: OutboxMessage }>> {
    if (limit < 1) return [];
    const members = await this.ctx.redis().zrangebyscore(this.ctx.keys.unsent, claimedFrom, claimedTo, "LIMIT", 0, limit);
    return members
      .map((json) => JSON.parse(json) as StoredFire)
      .flatMap((f) => (f.message ? [{ ...fireRecordOf(f), message: f.message }] : []));
  }

  async history(entry: string, limit: number): Promise<FireRecord[]> {
    if (limit < 1) return [];
    const members = await this.ctx.redis().zrevrange(this.ctx.keys.fires(entry), 0, limit - 1);
    return members.map((json) => fireRecordOf(JSON.parse(json) as StoredFire));
  }

  async recordRun(run: CleanupRunRecord): Promise<void> {
    const { runs } = this.ctx.keys;
    const replies = await this.ctx
      .redis()
      .multi()
      .lpush(runs, JSON.stringify(run))
      .ltrim(runs, 0, RUNS_KEPT - 1)
      .exec();
    const failed = replies?.find(([e]) => e);
    if (failed) throw failed[0];
  }

  async runs(limit: number): Promise<CleanupRunRecord[]> {
    if (limit < 1) return [];
    const items = await this.ctx.redis().lrange(this.ctx.keys.runs, 0, limit - 1);
    return items.map((json) => JSON.parse(json) as CleanupRunRecord);
  }

  async addSample(sample: StorageSample, options: SampleOptions): Promise<boolean> {
    const slot = sampleSlot(sample.at, options);
    const { keys } = this.ctx;
    const stored = await SCRIPTS.addSample.run(
      this.ctx.redis(),
      [keys.history, keys.historySamples],
      [String(slot), String(sample.at), sampleJson(sample), String(sample.at - options.keepMs), HISTORY_TRIM_BATCH],
    );
    return stored === 1;
  }

  async latestSampleAt(): Promise<number | null> {
    const [, at] = await this.ctx.redis().zrevrange(this.ctx.keys.history, 0, 0, "WITHSCORES");
    return at === undefined ? null : Number(at);
  }

  async samples(since: number, limit: number): Promise<StorageSample[]> {
    if (limit < 1) return [];
    const { keys } = this.ctx;
    const slots = await this.ctx.redis().zrangebyscore(keys.history, since, "+inf", "LIMIT", 0, limit);
    if (slots.length === 0) return [];
    // A trim between the two reads leaves a slot without its sample: it is left out.
    const values = await this.ctx.redis().hmget(keys.historySamples, ...slots);
    return values.flatMap((json) => (json === null ? [] : (parseSample(json) ?? [])));
  }
}

/** Tick first: members of the unsent zset claimed in the same millisecond then sort by tick (schedule-keys.ts). */
function fireRecord(entry: string, f: FireClaim, claimedAt: number): FireRecord {
  return { tick: f.tick, entry, taskId: f.taskId, catchUp: f.catchUp, claimedAt, sentAt: null };
}

function storedFire(entry: string, f: FireClaim, claimedAt: number): StoredFire {
  return { ...fireRecord(entry, f, claimedAt), message: outboxOf(f.message) };
}

function toState(entry: string, hash: Record<string, string>): EntryState | null {
  if (hash.last_tick === undefined) return null;
  return {
    entry,
    schedule: hash.schedule ?? "",
    lastTick: Number(hash.last_tick),
    nextTick: hash.next_tick ? Number(hash.next_tick) : null,
    fired: Number(hash.fired ?? 0),
    missed: Number(hash.missed ?? 0),
    catchUps: Number(hash.catch_ups ?? 0),
    lastFire: hash.last_fire ? fireRecordOf(JSON.parse(hash.last_fire) as StoredFire) : null,
  };
}

/** HGETALL as a script returns it (field, value, ...) → an object. */
function pairs(flat: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i]!] = flat[i + 1]!;
  return out;
}
