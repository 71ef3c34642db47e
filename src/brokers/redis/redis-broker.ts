import type { Clock } from "../../clock.js";
import type { Logger } from "../../logger.js";
import { StoreUnavailableError } from "../../errors.js";
import { parseRedisUrl, type RedisTarget } from "../../redis/redis-url.js";
import { dumpsCeleryJson } from "../../protocol/celery-json.js";
import type { TransportMessage } from "../../protocol/transport-message.js";
import type {
  Broker,
  BrokerCapabilities,
  DeadLetterPage,
  DeadLetterQuery,
  Delivery,
  EventRouting,
  FetchOptions,
  PublishOptions,
  Outgoing,
} from "../broker.js";
import type { Move } from "./blocking-move.js";
import { openConnections, type Connections } from "./connections.js";
import { deadLetterEntry, readDeadLetters } from "./dead-letters.js";
import { parseUnacked, requeueOf } from "./envelope.js";
import { fetchBatch } from "./fetch-batch.js";
import { RedisKeys, toScore } from "./keys.js";
import { frameKombuEnvelopes } from "./envelope-batch.js";
import { frameKombuEnvelope } from "./kombu-envelope.js";
import { fanoutChannel, frameFanoutEnvelope } from "./kombu-fanout.js";
import { Leases, type Lease } from "./leases.js";
import { RedisPidbox } from "./pidbox.js";
import { SCRIPTS } from "./scripts.js";
import { SettlePlan, type SettleEntry } from "./settle-plan.js";
import { TickBatch } from "../../tick-batch.js";

export interface RedisBrokerOptions {
  url: string;
  /** Defaults to Redis's own clock (TIME), so every worker on this Redis agrees on lease times. */
  clock?: Clock;
  /** CLIENT SETNAME of the broker's connections. Default "ebb-broker". */
  connectionName?: string;
  /** The app's log: an unreachable Redis (once per outage) and background errors (restorer, clock refresh). */
  log?: Logger;
}

/** What a script acking a delivery alongside its own work needs (ackAlongside). */
export interface AlongsideAck {
  unacked: string;
  unackedIndex: string;
  /** The unacked field and the unacked_index score this worker holds. */
  field: string;
  score: string;
}

/** One blocking wait lasts at most this long before the fetch looks again (expired leases), like kombu's `BRPOP ... 1`. */
const BLOCK_SLICE_MS = 1_000;

/**
 * A broker on kombu's Redis transport layout (see keys.ts), so Python Celery clients and workers
 * share queues with Ebb. fetch() pops and records leases in one Lua script (scripts/fetch-5+.lua);
 * when the lists are empty it waits with blocking moves into hand-off lists of its own
 * (blocking-move.ts), so a worker killed at any moment never holds the only copy of a message,
 * and runs the script again, which takes them from there. Leases live in kombu's
 * unacked hash and unacked_index zset (unix seconds), and expired ones are put back under
 * kombu's unacked_mutex, so Python's restore and Ebb's take turns on the same entries.
 *
 * Unlike Celery, a live Ebb worker extend()s its leases, so a long task is never handed to a
 * second worker: keep Ebb's visibility timeout <= Python's (kombu: 1 hour) when they share a
 * Redis, or Python restores Ebb's running tasks. ETA messages sit in the list as Celery's do and
 * the worker holds them (no delayedDelivery). Messages are framed as kombu's envelope
 * (kombu-envelope.ts); a list entry that is not one is handed out unframed.
 */
export class RedisBroker implements Broker {
  readonly capabilities: BrokerCapabilities = {
    delayedDelivery: false,
    priorityOrder: "lowest-first",
    clock: "store",
    delivery: "lease",
    dedupedPublish: true,
    events: true,
  };
  readonly url: string;
  /** Celery's remote control mailbox (pidbox.ts): Python's `celery inspect` and `ebb inspect` reach Ebb workers through it. */
  readonly control: RedisPidbox;
  readonly #target: RedisTarget;
  readonly #keys: RedisKeys;
  readonly #clock: Clock | undefined;
  readonly #name: string;
  readonly #log: Logger | undefined;
  readonly #leases = new Leases();
  readonly #closing = new AbortController();
  /** The last lease operation per delivery tag, so operations on one delivery never overlap. */
  readonly #lanes = new Map<string, Promise<void>>();
  #connecting: Promise<Connections> | null = null;
  /** A worker's tasks finish together: their acks go as one settle script call (tick-batch.ts). */
  readonly #settles = new TickBatch<SettleEntry, number>(async (entries) => {
    const c = await this.#connected();
    const plan = new SettlePlan(this.#keys);
    for (const e of entries) plan.add(e.field, e.score, e.kind, e.payload, e.lists);
    return (await SCRIPTS.settle.run(c.client, plan.keys, plan.args)) as number[];
  });

  constructor(opts: RedisBrokerOptions) {
    this.#target = parseRedisUrl(opts.url);
    this.url = this.#target.display;
    this.#keys = new RedisKeys(this.#target.prefix);
    this.#clock = opts.clock;
    this.#name = opts.connectionName ?? "ebb-broker";
    this.#log = opts.log;
    this.control = new RedisPidbox({
      target: this.#target,
      client: async () => (await this.#connected()).client,
      connectionName: this.#name,
      ...(opts.log ? { log: opts.log } : {}),
    });
  }

  /** A connected broker; throws StoreUnavailableError naming the (redacted) URL when Redis cannot be reached. */
  static async connect(opts: RedisBrokerOptions): Promise<RedisBroker> {
    const broker = new RedisBroker(opts);
    await broker.#connected();
    return broker;
  }

  /** Redis's clock (or the injected one), epoch ms. */
  async now(): Promise<number> {
    return Math.round((await this.#connected()).now());
  }

  async publish(message: TransportMessage, options: PublishOptions): Promise<void> {
    const raw = frameKombuEnvelope(message, options.queue, options.priority);
    const { client } = await this.#connected();
    const replies = await client
      .pipeline()
      .sadd(this.#keys.binding(options.queue), this.#keys.bindingMember(options.queue))
      .lpush(this.#keys.list(options.queue, options.priority), raw)
      .exec();
    const failed = replies?.find(([e]) => e);
    if (failed) throw failed[0];
  }

  /**
   * One pipeline, sent as one write: each queue's binding once, then per list one LPUSH of all its
   * messages in order (the consumer end is the right, so the first one is served first). A MULTI,
   * so a batch is in the lists whole or not at all.
   */
  async publishMany(batch: readonly Outgoing[]): Promise<void> {
    if (batch.length === 0) return;
    // Per list, in the order sent; the messages of one list are framed together (envelope-batch.ts).
    const lists = new Map<string, { queue: string; priority: number; messages: TransportMessage[] }>();
    for (const { message, options } of batch) {
      const list = this.#keys.list(options.queue, options.priority);
      const group = lists.get(list) ?? { queue: options.queue, priority: options.priority, messages: [] };
      group.messages.push(message);
      lists.set(list, group);
    }
    const framed = [...lists].map(([list, g]) => [list, frameKombuEnvelopes(g.messages, g.queue, g.priority)] as const);
    const { client } = await this.#connected();
    const multi = client.multi();
    for (const q of new Set(batch.map((o) => o.options.queue))) multi.sadd(this.#keys.binding(q), this.#keys.bindingMember(q));
    for (const [list, raws] of framed) multi.lpush(list, ...raws);
    const replies = await multi.exec();
    if (!replies) throw new Error(`The MULTI publishing ${batch.length} messages to ${this.url} was discarded`);
    const failed = replies.find(([e]) => e);
    if (failed) throw failed[0];
  }

  /** publish(), unless a message went out under `key` in the last keyTtlMs: one script (scripts/publish-once-3.lua), so the check cannot race the publish. */
  async publishOnce(key: string, message: TransportMessage, options: PublishOptions, keyTtlMs: number): Promise<boolean> {
    if (!(Number.isFinite(keyTtlMs) && keyTtlMs > 0)) throw new RangeError(`Expected keyTtlMs to be a number > 0, got ${keyTtlMs}`);
    const raw = frameKombuEnvelope(message, options.queue, options.priority);
    const { client } = await this.#connected();
    const keys = [this.#keys.once(key), this.#keys.binding(options.queue), this.#keys.list(options.queue, options.priority)];
    const published = await SCRIPTS.publishOnce.run(client, keys, [Math.ceil(keyTtlMs), this.#keys.bindingMember(options.queue), raw]);
    return published === 1;
  }

  /** A PUBLISH on kombu's fanout channel for the exchange (kombu-fanout.ts): Celery's event transport on Redis. */
  async publishEvent(message: TransportMessage, routing: EventRouting): Promise<void> {
    const { client } = await this.#connected();
    const channel = fanoutChannel(this.#target.prefix, this.#target.db, routing.exchange, routing.routingKey);
    await client.publish(channel, frameFanoutEnvelope(message, routing.exchange, routing.routingKey));
  }

  async fetch(queues: readonly string[], max: number, options: FetchOptions): Promise<Delivery[]> {
    if (options.signal?.aborted || this.#closing.signal.aborted || max < 1 || queues.length === 0) return [];
    // One signal for "the caller left or the broker closed", unhooked afterwards: the closing
    // signal lives as long as the broker, so nothing may pile up on it per fetch.
    const gone = new AbortController();
    const leave = (): void => gone.abort();
    options.signal?.addEventListener("abort", leave, { once: true });
    this.#closing.signal.addEventListener("abort", leave, { once: true });
    try {
      return await this.#fetch(queues, max, options, gone.signal);
    } catch (e) {
      // Closing mid-fetch: commands still queued on the connection fail; nothing was leased.
      if (this.#closing.signal.aborted) return [];
      throw e;
    } finally {
      options.signal?.removeEventListener("abort", leave);
      this.#closing.signal.removeEventListener("abort", leave);
    }
  }

  async ack(delivery: Delivery): Promise<void> {
    return this.#inLane([delivery], async () => {
      const lease = this.#leases.of(delivery);
      if (!lease) return;
      await this.#settle({ field: lease.field, score: lease.score, kind: "ack" });
      this.#leases.forget(delivery);
    });
  }

  /** Whether `target` names this broker's Redis database (same host, port, database and TLS). */
  sharesDatabase(target: RedisTarget): boolean {
    const t = this.#target;
    return t.host === target.host && t.port === target.port && t.db === target.db && t.tls === target.tls;
  }

  /**
   * Ack a delivery inside another script on this Redis database (RedisBackend.finishWith stores a
   * result and acks in one). `op` runs in the delivery's lane, after any extend or release in
   * flight, with what the ack needs (null when this broker holds no lease for it); the lease is
   * forgotten once `op` succeeds, as after ack().
   */
  async ackAlongside<T>(delivery: Delivery, op: (ack: AlongsideAck | null) => Promise<T>): Promise<T> {
    return this.#inLane([delivery], async () => {
      const lease = this.#leases.of(delivery);
      const out = await op(
        lease && { unacked: this.#keys.unacked, unackedIndex: this.#keys.unackedIndex, field: lease.field, score: lease.score },
      );
      this.#leases.forget(delivery);
      return out;
    });
  }

  async extend(deliveries: readonly Delivery[], visibilityTimeoutMs: number): Promise<void> {
    return this.#inLane(deliveries, () => this.#extend(deliveries, visibilityTimeoutMs));
  }

  async #extend(deliveries: readonly Delivery[], visibilityTimeoutMs: number): Promise<void> {
    const c = await this.#connected();
    this.#leases.prune();
    const now = c.now();
    const args: string[] = [];
    const moved: [Delivery, string][] = [];
    for (const d of deliveries) {
      const lease = this.#leases.of(d);
      if (!lease) continue;
      // Scores mean "fetched at"; restorers add their visibility timeout. Write lease end - the fetch's timeout.
      const score = toScore(now + visibilityTimeoutMs - (lease.visibilityTimeoutMs ?? visibilityTimeoutMs));
      args.push(lease.field, lease.score, score);
      moved.push([d, score]);
    }
    if (moved.length === 0) return;
    const ok = (await SCRIPTS.extend.run(c.client, [this.#keys.unackedIndex], args)) as number[];
    moved.forEach(([d, score], i) => {
      if (ok[i] === 1) this.#leases.moved(d, score);
      else this.#leases.forget(d);
    });
  }

  async release(delivery: Delivery, availableAt: number | null): Promise<void> {
    return this.#inLane([delivery], () => this.#release(delivery, availableAt));
  }

  /** kombu's layout has no delayed delivery (capabilities): the message goes back now, whatever availableAt says. */
  async #release(delivery: Delivery, _availableAt: number | null): Promise<void> {
    const lease = this.#leases.of(delivery);
    if (!lease) return;
    const raw = await this.#rawOf(lease);
    if (raw !== null) {
      const requeue = requeueOf(raw);
      const list = this.#keys.lists(delivery.queue)[lease.listIndex] ?? this.#keys.list(delivery.queue, 0);
      await this.#settle({
        field: lease.field,
        score: lease.score,
        kind: requeue.mark ? "mark" : "push",
        payload: requeue.payload,
        lists: [list],
      });
    }
    this.#leases.forget(delivery);
  }

  /**
   * The list entry behind a lease: as fetched, or (a lease this process no longer tracks) read
   * back from the unacked hash as kombu would restore it. Null when the entry is gone.
   */
  async #rawOf(lease: Lease): Promise<string | null> {
    if (lease.raw !== null) return lease.raw;
    const value = await (await this.#connected()).client.hget(this.#keys.unacked, lease.field);
    const entry = value === null ? null : parseUnacked(value);
    if (!entry) return value;
    return typeof entry.message === "string" ? entry.message : dumpsCeleryJson(entry.message);
  }

  async deadLetter(delivery: Delivery, reason: string): Promise<void> {
    return this.#inLane([delivery], async () => {
      const lease = this.#leases.of(delivery);
      if (!lease) return;
      const at = Math.round((await this.#connected()).now());
      const raw = await this.#rawOf(lease);
      if (raw !== null)
        await this.#settle({
          field: lease.field,
          score: lease.score,
          kind: "dead",
          payload: deadLetterEntry(raw, delivery.queue, reason, at),
        });
      this.#leases.forget(delivery);
    });
  }

  /**
   * Run a lease operation after every earlier one on the same deliveries. Each write is
   * conditional on the score this process last confirmed; two in flight at once (a refresh
   * crossing an ack, or refreshes queued during an outage) would make the second miss and lose
   * the lease, and a finished task would then run again elsewhere.
   */
  #inLane<T>(deliveries: readonly Delivery[], op: () => Promise<T>): Promise<T> {
    const tags = deliveries.map((d) => d.tag);
    const before = tags.map((t) => this.#lanes.get(t)).filter((p): p is Promise<void> => p !== undefined);
    const run = (before.length === 0 ? Promise.resolve() : Promise.all(before)).then(op);
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    for (const t of tags) this.#lanes.set(t, settled);
    void settled.then(() => {
      for (const t of tags) if (this.#lanes.get(t) === settled) this.#lanes.delete(t);
    });
    return run;
  }

  async deadLetters(query?: DeadLetterQuery): Promise<DeadLetterPage> {
    return readDeadLetters((await this.#connected()).client, this.#keys.deadLetters, query);
  }

  /** Ends waiting fetches with [] (a message moved meanwhile goes back first), then disconnects. */
  async close(): Promise<void> {
    if (this.#closing.signal.aborted) return;
    // Acks asked for before close() still go out (their batch may not have run yet).
    await this.#settles.drain();
    this.#closing.abort();
    await this.control.close();
    const c = await this.#connecting?.catch(() => null);
    await c?.close();
  }

  async #fetch(queues: readonly string[], max: number, options: FetchOptions, signal: AbortSignal): Promise<Delivery[]> {
    const c = await this.#connected();
    const vt = options.visibilityTimeoutMs;
    c.restorer.visibilityTimeoutMs = vt;
    const lists = queues.flatMap((q) => this.#keys.lists(q));
    const moves = c.consumer.moves(lists);
    const deadline = performance.now() + options.waitMs;
    let got = await this.#take(c, queues, moves, max, vt);
    while (got.length === 0) {
      const remaining = deadline - performance.now();
      if (remaining <= 0 || signal.aborted) return [];
      const moved = await c.wait.wait(moves, Math.min(remaining, BLOCK_SLICE_MS), toScore(c.now()), signal, (m) =>
        c.consumer.putBack(m).then(() => undefined),
      );
      if (signal.aborted) {
        // The caller left after a message moved for it: back to its list, to be served next.
        if (moved) await c.consumer.putBackAll(moves);
        return [];
      }
      // What the wait moved into the hand-off lists is taken (and the batch topped up) in one script call.
      got = await this.#take(c, queues, moves, max, vt);
    }
    return got;
  }

  /** One fetch script call; when the oldest lease is due, restore first and call again. */
  async #take(c: Connections, queues: readonly string[], moves: readonly Move[], max: number, vt: number): Promise<Delivery[]> {
    const lists = moves.map((m) => m.from);
    const inflight = moves.map((m) => m.to);
    for (let restored = false; ; restored = true) {
      const now = c.now();
      const checkDue = !restored && c.restorer.checking;
      const got = await fetchBatch(c.client, this.#keys, this.#leases, {
        queues,
        lists,
        inflight,
        max,
        visibilityTimeoutMs: vt,
        now,
        checkDue,
      });
      if (got !== "due") return got;
      await c.restorer.run(now, vt);
    }
  }

  /** Settle one lease; settles asked for in the same turn of the event loop go to Redis as one script call. */
  #settle(entry: SettleEntry): Promise<number> {
    return this.#settles.add(entry);
  }

  #connected(): Promise<Connections> {
    if (this.#closing.signal.aborted) return Promise.reject(new StoreUnavailableError(`The Redis broker for ${this.url} is closed`));
    this.#connecting ??= openConnections(this.#target, this.#keys, this.#name, this.#clock, this.#log).catch((e: unknown) => {
      this.#connecting = null;
      throw e;
    });
    return this.#connecting;
  }
}
