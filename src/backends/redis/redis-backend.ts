import type { Redis } from "ioredis";
import type { Clock } from "../../clock.js";
import { Closing } from "../../closing.js";
import { StoreUnavailableError } from "../../errors.js";
import { encodeResultMeta, extendedOf } from "../../protocol/result-meta.js";
import type { Logger } from "../../logger.js";
import { connectRedis, redisHealth } from "../../redis/connect.js";
import type { StoreHealth } from "../../store-health.js";
import { parseRedisUrl, type RedisTarget } from "../../redis/redis-url.js";
import { classifyRead } from "../../retention/expiry.js";
import { isReady } from "../../states.js";
import type {
  BackendCapabilities,
  FinishStep,
  Lookup,
  LookupOptions,
  ResultBackend,
  StoreOutcome,
  StoreRequest,
  StoredResult,
  Watch,
} from "../result-backend.js";
import type {
  RemoveOptions,
  RemoveOutcome,
  ResultRecord,
  RetentionBackend,
  RetentionCapabilities,
  RetentionStore,
  ScanQuery,
  StoreFacts,
} from "../retention-store.js";
import type { ScheduleStore, ScheduleStoreHost } from "../../beat/schedule-store.js";
import { storeFlags } from "./index-info.js";
import { IndexTrimmer } from "./index-trimmer.js";
import { TombstoneCompactor } from "./tombstone-compactor.js";
import { SCRIPTS } from "./scripts.js";
import { PubSubWatcher } from "./pubsub-watcher.js";
import { RedisRetention } from "./redis-retention.js";
import { RedisScheduleStore } from "./redis-schedule-store.js";
import { RedisChords } from "./redis-chords.js";
import type { ChordStore } from "../chord-store.js";
import { finishTasks, readRaw, storeResults, type FinishArgs, type StoreArgs, type StoreReply } from "./result-commands.js";
import type { Broker } from "../../brokers/broker.js";
import { RedisBroker } from "../../brokers/redis/redis-broker.js";
import { TickBatch } from "../../tick-batch.js";
import { resultKeys, type ResultKeys } from "./result-keys.js";
import { scheduleKeys } from "./schedule-keys.js";
import { stampsFor } from "../../retention/expiry.js";
import { ServerClock } from "../../redis/server-clock.js";
import { tombstoneOf, toStoredResult } from "./stored-result.js";

export interface RedisBackendOptions {
  /** redis://[[user]:password@]host[:port][/db][?prefix=NAME], or rediss:// for TLS. */
  url: string;
  /** Injected store clock (tests). Default: Redis's own clock, from TIME. */
  clock?: Clock;
  /**
   * How long ids are remembered as EXPIRED after their expiry; index entries older than that are
   * trimmed. Default 7 days (the app's expiredGrace default); a lookup() with a longer graceMs raises it.
   */
  graceMs?: number;
  /** Least time between two index trims started by store()/lookup(). Default 10 s. */
  trimIntervalMs?: number;
  /** Index entries dropped per trim script call. Default 1000. */
  trimBatch?: number;
  /**
   * How long after its expiry an id's ttl-index entry (~160 bytes) is moved into the compact store
   * of expired ids (12 bytes, exact; see tombstones.ts) for the rest of its grace window.
   * Default 10 minutes.
   */
  compactAfterMs?: number;
  /** The app's log: an unreachable Redis (once per outage) and background errors (index trimmer, clock refresh). */
  log?: Logger;
}

const DEFAULT_GRACE_MS = 7 * 86_400_000;

/** A store request made ready to send (prepareStore), with the store clock it was stamped by. */
interface PreparedStore {
  request: StoreRequest;
  args: StoreArgs;
  now: number;
}

/**
 * Results in Redis, laid out exactly as Celery's Redis backend lays them out (celery-task-meta-<id>,
 * SET [PX] + PUBLISH on the same name), so Python clients read Ebb's results and Ebb reads theirs.
 * What Celery cannot do is done beside its values, in a small index (see result-keys.ts): a lifetime
 * per result as a native TTL, archive tiers and holds that keep a value with no TTL, and memory of
 * an expired id for the grace window.
 */
export class RedisBackend implements ResultBackend, RetentionStore, ScheduleStoreHost {
  readonly capabilities: BackendCapabilities = { nativeExpiry: true, pushNotify: true };
  readonly retentionCapabilities: RetentionCapabilities = {
    tiers: true,
    tombstones: true,
    perResultExpiry: true,
    bulkExpiry: false,
    ebbResults: true,
  };
  readonly retention: RetentionBackend = this;
  readonly chords: ChordStore;
  readonly url: string;
  private readonly target: RedisTarget;
  private readonly keys: ResultKeys;
  private readonly injectedClock: Clock | undefined;
  private graceMs: number;
  private client: Redis | undefined;
  private connecting: Promise<this> | undefined;
  private serverClock: ServerClock | undefined;
  private readonly trimmer: IndexTrimmer;
  private readonly watcher: PubSubWatcher;
  private readonly closing = new Closing();
  private readonly ops: RedisRetention;
  private readonly health: StoreHealth | undefined;
  private schedules: RedisScheduleStore | undefined;
  /** Stores made in the same turn of the event loop (a worker's tasks finishing together) go as one script call. */
  private readonly storeBatch = new TickBatch<StoreArgs, StoreReply>((batch) => storeResults(this.redis(), this.keys, batch));
  /** The same for finishWith()'s stores with their acks. */
  private readonly finishBatch = new TickBatch<FinishArgs, StoreReply>((batch) => finishTasks(this.redis(), this.keys, batch));

  constructor(opts: RedisBackendOptions) {
    this.target = parseRedisUrl(opts.url);
    this.url = this.target.display;
    this.health = opts.log ? redisHealth(opts.log, this.target) : undefined;
    this.keys = resultKeys(this.target.prefix);
    this.chords = new RedisChords(() => this.redis(), this.target.prefix);
    this.injectedClock = opts.clock;
    this.graceMs = opts.graceMs ?? DEFAULT_GRACE_MS;
    const compactor = new TombstoneCompactor({
      redis: () => this.redis(),
      keys: this.keys,
      prefix: this.target.prefix,
      now: () => this.clockNow(),
      graceMs: () => this.graceMs,
      compactAfterMs: opts.compactAfterMs ?? 10 * 60_000,
      batch: opts.trimBatch ?? 1000,
    });
    this.trimmer = new IndexTrimmer({
      afterTrim: () => compactor.run(),
      trimBatch: async (cutoff, limit) =>
        Number(await SCRIPTS.trim.run(this.redis(), [this.keys.ttlIndex, this.keys.info, this.keys.archived], [cutoff, limit])),
      now: () => this.clockNow(),
      graceMs: () => this.graceMs,
      intervalMs: opts.trimIntervalMs ?? 10_000,
      ...(opts.trimBatch === undefined ? {} : { batch: opts.trimBatch }),
      report: this.health,
    });
    this.ops = new RedisRetention({
      redis: () => this.redis(),
      keys: this.keys,
      now: () => this.clockNow(),
      serverClock: opts.clock === undefined,
    });
    this.watcher = new PubSubWatcher({
      openSubscriber: () => connectRedis(this.target, { name: "ebb-results-sub", health: this.health }),
      closing: this.closing,
    });
  }

  /** Open the connection (and measure Redis's clock). Throws StoreUnavailableError naming the URL. Calling it again is harmless. */
  connect(): Promise<this> {
    this.connecting ??= this.open().catch((e: unknown) => {
      this.connecting = undefined;
      throw e;
    });
    return this.connecting;
  }

  private async open(): Promise<this> {
    const client = await connectRedis(this.target, { name: "ebb-results", health: this.health });
    if (!this.injectedClock) {
      this.serverClock = await ServerClock.start(client, { report: this.health }).catch((e: unknown) => {
        client.disconnect();
        throw new StoreUnavailableError(`Cannot read the clock of Redis at ${this.url}: ${(e as Error).message}`, { cause: e });
      });
    }
    if (this.closing.closed) {
      // close() ran while we were connecting: do not leave this connection open behind it.
      this.serverClock?.stop();
      client.disconnect();
      return this;
    }
    this.client = client;
    return this;
  }

  async now(): Promise<number> {
    return this.clockNow();
  }

  async store(request: StoreRequest): Promise<StoreOutcome> {
    this.redis(); // throws when not connected, or closed
    const prepared = this.prepareStore(request);
    return this.storeOutcome(prepared, await this.storeBatch.add(prepared.args));
  }

  /**
   * When `broker` is a RedisBroker on this same Redis database: a step that stores a result and
   * acks its message in one script call (finish-5+.lua), batched with the other tasks finishing in
   * the same turn of the event loop. Null for any other broker (the worker stores, then acks).
   */
  finishWith(broker: Broker): FinishStep | null {
    if (!(broker instanceof RedisBroker) || !broker.sharesDatabase(this.target)) return null;
    return (request, delivery) => {
      this.redis();
      const prepared = this.prepareStore(request);
      return broker.ackAlongside(delivery, async (ack) =>
        this.storeOutcome(prepared, await this.finishBatch.add({ store: prepared.args, ack })),
      );
    };
  }

  /** What store() sends for a request: the exact bytes Celery would write, the TTL, the index flags. */
  private prepareStore(request: StoreRequest): PreparedStore {
    const now = this.clockNow();
    const ready = isReady(request.status);
    const { dateDone, expiresAt } = stampsFor(request.status, request.lifetimeMs, now);
    const extended = extendedOf(request);
    const value = encodeResultMeta({
      taskId: request.taskId,
      status: request.status,
      result: request.result ?? null,
      traceback: request.traceback,
      children: request.children ?? [],
      dateDone,
      // Without resultExtended the request has none of them: write what Celery writes without result_extended.
      ...(extended ? { extended } : {}),
    });
    // Lifetime 0 is "expired at once": 1 ms is the shortest TTL Redis has, and the index says EXPIRED.
    const ttlMs = request.lifetimeMs === null || request.action === "archive" ? null : Math.max(1, Math.ceil(request.lifetimeMs));
    const args = { taskId: request.taskId, value, expiresAt, ttlMs, flags: storeFlags(request.action, ready), tier: request.tier };
    return { request, args, now };
  }

  private storeOutcome({ request, args, now }: PreparedStore, outcome: StoreReply): StoreOutcome {
    this.trimmer.poke();
    const key = this.keys.value(request.taskId);
    if (!outcome.stored) return { stored: false, result: toStoredResult(outcome.raw, key, now) };
    const held = outcome.held;
    // Read back from the bytes just written, so store() and lookup() return the same thing; on
    // first use only: a worker finishing tasks never looks, and decoding is most of a store's cost.
    let result: StoredResult | undefined;
    return {
      stored: true,
      get result(): StoredResult {
        result ??= {
          ...toStoredResult({ value: args.value, pttl: -1, ttlScore: null, noTtlScore: null, info: null }, key, now),
          expiresAt: args.expiresAt,
          tier: request.tier,
          action: request.action,
          held,
        };
        return result;
      },
    };
  }

  async lookup(taskId: string, options: LookupOptions): Promise<Lookup> {
    // Trimming must not forget what a reader still expects to see as EXPIRED.
    this.graceMs = Math.max(this.graceMs, options.graceMs);
    const raw = await readRaw(this.redis(), this.keys, taskId, true);
    // In neither index: a default result (or one expired long enough ago) has a compact record.
    if (raw.recordAt !== null) raw.ttlScore = String(raw.recordAt);
    const now = this.clockNow();
    this.trimmer.poke();
    if (raw.value !== null)
      return classifyRead(
        taskId,
        toStoredResult({ ...raw, value: raw.value }, this.keys.value(taskId), now),
        undefined,
        now,
        options.graceMs,
      );
    return classifyRead(taskId, undefined, tombstoneOf(raw, now), now, options.graceMs);
  }

  async forget(taskId: string): Promise<boolean> {
    const pending = encodeResultMeta({ taskId, status: "PENDING", result: null, traceback: null, children: [], dateDone: null });
    const removed = await SCRIPTS.forget.run(
      this.redis(),
      [...this.indexKeys(taskId), this.keys.archived],
      [taskId, this.keys.channel(taskId), pending],
    );
    return removed === 1;
  }

  /** Live once Redis has confirmed the SUBSCRIBE on the result's channel (Celery's own), so it also wakes on Python workers' results. */
  watch(taskId: string): Promise<Watch> {
    return this.watcher.watch(this.keys.channel(taskId));
  }

  /** Put a legal hold on a stored result (it loses its TTL), or release it. False when there is no such result. */
  async setHeld(taskId: string, held: boolean): Promise<boolean> {
    const changed = await SCRIPTS.setHeld.run(this.redis(), this.indexKeys(taskId), [taskId, held ? "1" : "0", this.clockNow()]);
    return changed === 1;
  }

  /** Beat's state, beside the results, on this connection and clock (see schedule-keys.ts for its keys). */
  scheduleStore(): ScheduleStore {
    this.schedules ??= new RedisScheduleStore({
      redis: () => this.redis(),
      keys: scheduleKeys(this.target.prefix),
      now: () => this.clockNow(),
    });
    return this.schedules;
  }

  // RetentionStore (retention-store.ts): scans, removals and restores, in redis-retention.ts.
  scan(query: ScanQuery): AsyncIterable<ResultRecord[]> {
    return this.ops.scan(query);
  }
  read(taskId: string): Promise<ResultRecord | null> {
    return this.ops.read(taskId);
  }
  remove(records: readonly ResultRecord[], options: RemoveOptions): Promise<RemoveOutcome> {
    return this.ops.remove(records, options);
  }
  markArchived(taskIds: readonly string[]): Promise<number> {
    return this.ops.markArchived(taskIds);
  }
  put(result: StoredResult, options: { replace: boolean }): Promise<boolean> {
    return this.ops.put(result, options);
  }
  /** used_memory, maxmemory-policy (with a warning when it can evict results), result keys without a TTL. */
  storeFacts(): Promise<StoreFacts> {
    return this.ops.storeFacts();
  }

  /** Drop the index entries whose grace window is over, in bounded batches; returns how many. store() and lookup() do this by themselves every trimIntervalMs. */
  trimIndex(): Promise<number> {
    return this.trimmer.trim();
  }

  /** RetentionStore.housekeep(): the built-in cleanup tasks trim the expiry index on every run. */
  housekeep(): Promise<number> {
    return this.trimIndex();
  }

  async close(): Promise<void> {
    if (this.closing.closed) return;
    this.closing.close();
    this.serverClock?.stop();
    await Promise.all([this.storeBatch.drain(), this.finishBatch.drain()]);
    await this.trimmer.stop();
    await this.watcher.close();
    await this.client?.quit().catch(() => this.client?.disconnect());
  }

  private clockNow(): number {
    if (this.injectedClock) return this.injectedClock();
    if (!this.serverClock) this.redis(); // throws: not connected, or closed
    return this.serverClock!.now();
  }

  private indexKeys(taskId: string): string[] {
    return [this.keys.value(taskId), this.keys.ttlIndex, this.keys.noTtlIndex, this.keys.info];
  }

  private redis(): Redis {
    if (this.closing.closed) throw new StoreUnavailableError(`The Redis result backend at ${this.url} is closed`);
    if (!this.client) throw new StoreUnavailableError(`The Redis result backend at ${this.url} is not connected; await connect() first`);
    return this.client;
  }
}
