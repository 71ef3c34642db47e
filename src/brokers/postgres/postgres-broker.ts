import { randomUUID } from "node:crypto";
import { ChangeHub } from "../../change-hub.js";
import type { Clock } from "../../clock.js";
import { Closing } from "../../closing.js";
import type { Logger } from "../../logger.js";
import { migrate } from "../../postgres/pg-migrations.js";
import { PostgresPool, type Queryable } from "../../postgres/pg-pool.js";
import { textArray } from "../../postgres/pg-text-array.js";
import { parsePostgresUrl, quoteIdent, type PostgresTarget } from "../../postgres/pg-url.js";
import { serializeTransportMessage, type TransportMessage } from "../../protocol/transport-message.js";
import { TickBatch } from "../../tick-batch.js";
import {
  deadLetterCursor,
  deadLetterLimit,
  deadLetterOf,
  deliveryOf,
  type Broker,
  type BrokerCapabilities,
  type DeadLetterPage,
  type DeadLetterQuery,
  type Delivery,
  type FetchOptions,
  type Outgoing,
  type PublishOptions,
} from "../broker.js";
import { parseStoredMessage } from "../stored-message.js";
import { brokerSql, CLOCK_SQL, type BrokerSql, type DeadLetterRow, type LeasedRow } from "./broker-sql.js";
import { channelOf, NotifyListener } from "./notify-listener.js";
import { PostgresControl } from "./postgres-control.js";
import { QueueVacuum } from "./queue-vacuum.js";

export interface PostgresBrokerOptions {
  url: string;
  /** Defaults to PostgreSQL's own clock. */
  clock?: Clock;
  /**
   * How often an idle fetch looks again without being woken, in ms (default 100): for messages
   * that become visible without a notification (an availableAt reached, a lease that lapsed), and
   * for everything while LISTEN is unavailable.
   */
  pollIntervalMs?: number;
  /** LISTEN for publishes (default true). false: fetches only poll (e.g. behind a pooler in transaction mode). */
  listen?: boolean;
  /** Connections at most, besides the LISTEN one (default 10). */
  poolMax?: number;
  /** Where the LISTEN connection says it failed or is back, and remote control what it could not read or do. */
  log?: Logger;
}

/** The in-process wake-up topic for "a message may have become visible". */
const TOPIC = "messages";
/** Lapsed publishOnce keys deleted per call: bounded, so the statement stays short. */
const KEY_PRUNE_BATCH = 100;
/** Acks (or publishes) per statement at most; more in one turn go as several. */
const MAX_BATCH = 1_000;

interface Pending {
  queue: string;
  priority: number;
  body: string;
  availableAt: number | null;
}

/** Which lease a delivery holds: its message's id and the lease's token. */
export interface LeaseRef {
  id: number;
  token: string;
}

/**
 * A broker in PostgreSQL (postgresql:// or postgres://, tables in ?schema=, default "ebb"; layout in
 * src/postgres/migrations/0002_broker.sql). A row is a message from publish to ack.
 *
 * fetch() leases a batch in one statement (broker-sql.ts, `lease`): SELECT ... FOR UPDATE SKIP
 * LOCKED picks visible rows, earlier queues first, then priority 0 first, then FIFO, and the
 * UPDATE around it stamps them with a fresh lease token and the lease end. A delivery tag is
 * "id:token": ack, extend, release and deadLetter match the token, so a worker whose lease
 * lapsed and was taken over touches nothing. Acks made in one event-loop turn (a worker's tasks
 * finishing together) are one DELETE, and so are publishes made in one turn one INSERT.
 *
 * Publishes NOTIFY a channel per schema in the same statement; one LISTEN connection per broker
 * (notify-listener.ts) wakes this process's waiting fetches. A waiting fetch also looks again
 * every pollIntervalMs, so it works, slower, when LISTEN does not (a pooler in transaction mode,
 * a dropped connection, which is retried with backoff).
 *
 * Remote control (`ebb inspect`, `ebb revoke`, app.control) is in tables beside the messages, with
 * a NOTIFY channel of its own on the same LISTEN connection (postgres-control.ts). For now events: false:
 * a worker on this broker sends no monitoring events (Flower, `celery events`).
 */
export class PostgresBroker implements Broker {
  readonly capabilities: BrokerCapabilities = {
    delayedDelivery: true,
    priorityOrder: "lowest-first",
    clock: "store",
    delivery: "lease",
    dedupedPublish: true,
    events: false,
  };
  readonly url: string;
  /**
   * The database and schema this broker's tables are in (target.connectionString carries the
   * password: compare it, never print it). A result backend on the same database and schema can
   * ack in its own transaction with ackIn().
   */
  readonly target: PostgresTarget;
  /** Remote control in ebb_control_requests / ebb_control_replies (Ebb's workers and clients). */
  readonly control: PostgresControl;
  private readonly pg: PostgresPool;
  private readonly sql: BrokerSql;
  private readonly channel: string;
  private readonly clock: Clock | undefined;
  private readonly pollIntervalMs: number;
  private readonly changes = new ChangeHub();
  private readonly closing = new Closing();
  private readonly listener: NotifyListener | null;
  private readonly acks = new TickBatch<LeaseRef, undefined>((refs) => this.deleteAcked(refs), MAX_BATCH);
  private readonly publishes = new TickBatch<Pending, undefined>((rows) => this.insert(rows), MAX_BATCH);
  /** Clears the dead rows of leases and acks where autovacuum is off (queue-vacuum.ts). */
  readonly vacuum: QueueVacuum;

  constructor(opts: PostgresBrokerOptions) {
    this.target = parsePostgresUrl(opts.url);
    this.url = this.target.display;
    this.pg = new PostgresPool({
      connectionString: this.target.connectionString,
      display: this.target.display,
      max: opts.poolMax ?? 10,
      statementPrefix: "ebb-broker",
    });
    this.sql = brokerSql(quoteIdent(this.target.schema));
    this.vacuum = new QueueVacuum(this.pg, {
      table: `${quoteIdent(this.target.schema)}.ebb_messages`,
      ...(opts.log ? { log: opts.log } : {}),
    });
    this.channel = channelOf("ebb_broker", this.target.schema);
    this.clock = opts.clock;
    this.pollIntervalMs = opts.pollIntervalMs ?? 100;
    this.control = new PostgresControl({
      pg: this.pg,
      schema: this.target.schema,
      clock: this.clock,
      pollIntervalMs: this.pollIntervalMs,
      heard: () => this.listening,
      display: this.url,
      ...(opts.log ? { log: opts.log } : {}),
    });
    const control = this.control;
    this.listener =
      opts.listen === false
        ? null
        : new NotifyListener({
            connect: () => this.pg.dedicated(),
            // One connection for both: published messages wake fetches, control rows wake control.
            channels: { [this.channel]: this.wakeFetchers, [control.channel]: (payload) => control.notified(payload) },
            display: this.url,
            ...(opts.log ? { log: opts.log } : {}),
          });
  }

  /** A broker with its pool open, its tables made or migrated (under an advisory lock), and LISTEN tried once. */
  static async connect(opts: PostgresBrokerOptions): Promise<PostgresBroker> {
    const broker = new PostgresBroker(opts);
    await broker.pg.open();
    try {
      await migrate(broker.pg, broker.target.schema);
    } catch (error) {
      await broker.pg.close();
      throw error;
    }
    await broker.listener?.start();
    return broker;
  }

  /** True while the LISTEN connection is up (false with listen: false). */
  get listening(): boolean {
    return this.listener?.listening ?? false;
  }

  /** PostgreSQL's clock (or the injected one), epoch ms. */
  async now(): Promise<number> {
    if (this.clock) return this.clock();
    const [row] = await this.pg.query<{ now: number }>(CLOCK_SQL);
    return row!.now;
  }

  /** Publishes made in one event-loop turn go as one INSERT, in the order made; resolves once committed. */
  publish(message: TransportMessage, options: PublishOptions): Promise<void> {
    let body: string;
    try {
      body = serializeTransportMessage(message);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.publishes.add({ queue: options.queue, priority: options.priority, body, availableAt: options.availableAt });
  }

  /** One statement: every message of the batch is in the queue, or none is. After the publishes queued before it. */
  async publishMany(batch: readonly Outgoing[]): Promise<void> {
    if (batch.length === 0) return;
    const rows = batch.map(({ message, options }) => ({
      queue: options.queue,
      priority: options.priority,
      body: serializeTransportMessage(message),
      availableAt: options.availableAt,
    }));
    await this.publishes.drain();
    await this.insert(rows);
  }

  async publishOnce(key: string, message: TransportMessage, options: PublishOptions, keyTtlMs: number): Promise<boolean> {
    if (!(Number.isFinite(keyTtlMs) && keyTtlMs > 0)) throw new RangeError(`Expected keyTtlMs to be a number > 0, got ${keyTtlMs}`);
    const body = serializeTransportMessage(message);
    await this.publishes.drain();
    const rows = await this.pg.query(this.sql.publishOnce, [
      key,
      Math.ceil(keyTtlMs),
      options.queue,
      options.priority,
      body,
      options.availableAt,
      this.clock?.() ?? null,
      this.channel,
      KEY_PRUNE_BATCH,
    ]);
    if (rows.length > 0) this.wakeFetchers();
    return rows.length > 0;
  }

  /**
   * Lease up to `max` visible messages; when there are none, wait for a notification (this
   * process's publishes, or LISTEN) or pollIntervalMs, whichever is first, and look again, until
   * waitMs is over. The watch starts before the first look, so a notification that arrives
   * between a look and the wait after it is not missed.
   */
  async fetch(queues: readonly string[], max: number, options: FetchOptions): Promise<Delivery[]> {
    if (max < 1 || queues.length === 0) return [];
    const deadline = performance.now() + options.waitMs;
    const watch = this.changes.watch(TOPIC);
    try {
      for (;;) {
        if (options.signal?.aborted || this.closing.closed) return [];
        const got = await this.lease(queues, max, options.visibilityTimeoutMs);
        const remaining = deadline - performance.now();
        if (got.length > 0 || remaining <= 0) return got;
        await this.closing.during(options.signal, (signal) => watch.changed(Math.min(remaining, this.pollIntervalMs), signal));
      }
    } catch (error) {
      // Closing mid-fetch: the pool ends under the statement; nothing was leased.
      if (this.closing.closed) return [];
      throw error;
    } finally {
      watch.close();
    }
  }

  /**
   * Acks made in one event-loop turn go as one DELETE (up to 1000 a statement); resolves once it
   * has committed. A lease taken over since (another token) is left alone.
   */
  ack(delivery: Delivery): Promise<void> {
    const ref = parseTag(delivery.tag);
    return ref ? this.acks.add(ref) : Promise.resolve();
  }

  /**
   * Ack deliveries of this broker in someone else's transaction on the same database and schema
   * (see `target`): a result backend stores a result and acks its message in one commit. `client`
   * is that transaction's connection. Returns how many were deleted (a lease taken over since is
   * left alone, as by ack()).
   */
  async ackIn(client: Queryable, deliveries: readonly Delivery[]): Promise<number> {
    const refs = deliveries.map((d) => parseTag(d.tag)).filter((r): r is LeaseRef => r !== null);
    if (refs.length === 0) return 0;
    const rows = await this.pg.query(this.sql.ack, pairs(refs), client);
    return rows.length;
  }

  async extend(deliveries: readonly Delivery[], visibilityTimeoutMs: number): Promise<void> {
    const refs = deliveries.map((d) => parseTag(d.tag)).filter((r): r is LeaseRef => r !== null);
    if (refs.length === 0) return;
    await this.pg.query(this.sql.extend, [...pairs(refs), visibilityTimeoutMs, this.clock?.() ?? null]);
  }

  async release(delivery: Delivery, availableAt: number | null): Promise<void> {
    const ref = parseTag(delivery.tag);
    if (!ref) return;
    const rows = await this.pg.query(this.sql.release, [ref.id, ref.token, availableAt, this.clock?.() ?? null, this.channel]);
    if (rows.length > 0) this.wakeFetchers();
  }

  async deadLetter(delivery: Delivery, reason: string): Promise<void> {
    const ref = parseTag(delivery.tag);
    if (!ref) return;
    await this.pg.query(this.sql.deadLetter, [ref.id, ref.token, reason, this.clock?.() ?? null]);
  }

  /** Newest first by id; the cursor is the id of the previous page's last item, so later dead letters never shift a walk. */
  async deadLetters(query?: DeadLetterQuery): Promise<DeadLetterPage> {
    const limit = deadLetterLimit(query);
    const rows = await this.pg.query<DeadLetterRow>(this.sql.deadLetters, [deadLetterCursor(query) ?? Number.MAX_SAFE_INTEGER, limit + 1]);
    const items = rows.slice(0, limit).map((r) => deadLetterOf(r.body, parseStoredMessage, { queue: r.queue, reason: r.reason, at: r.at }));
    return { items, next: rows.length > limit ? String(rows[limit - 1]!.id) : null };
  }

  /** Acks and publishes asked for before close() still go out; waiting fetches end with []. */
  async close(): Promise<void> {
    if (this.closing.closed) return;
    await Promise.allSettled([this.acks.drain(), this.publishes.drain()]);
    this.closing.close();
    await this.vacuum.settled();
    await this.control.close();
    await this.listener?.close();
    await this.pg.close();
  }

  private readonly wakeFetchers = (): void => this.changes.notify(TOPIC);

  /** One lease statement under one fresh token; the rows come back in no set order, so they are put in fetch order here. */
  private async lease(queues: readonly string[], max: number, visibilityTimeoutMs: number): Promise<Delivery[]> {
    const token = randomUUID();
    const rows = await this.pg.query<LeasedRow>(this.sql.lease, [queues, max, visibilityTimeoutMs, token, this.clock?.() ?? null]);
    rows.sort((a, b) => a.ord - b.ord || a.priority - b.priority || a.was_visible_at - b.was_visible_at || a.id - b.id);
    this.vacuum.leasedSome(rows.length);
    return rows.map((row) =>
      deliveryOf({ tag: `${row.id}:${token}`, queue: row.queue, redelivered: row.delivered_count > 1 }, row.body, parseStoredMessage),
    );
  }

  private async insert(rows: readonly Pending[]): Promise<undefined[]> {
    await this.pg.query(this.sql.publish, [
      textArray(rows.map((r) => r.queue)),
      rows.map((r) => r.priority),
      textArray(rows.map((r) => r.body)),
      rows.map((r) => r.availableAt),
      this.clock?.() ?? null,
      this.channel,
    ]);
    this.wakeFetchers();
    return rows.map(() => undefined);
  }

  private async deleteAcked(refs: readonly LeaseRef[]): Promise<undefined[]> {
    await this.pg.query(this.sql.ack, pairs(refs));
    return refs.map(() => undefined);
  }
}

/** A delivery's lease, for a statement that acks it in the same transaction as something else (the backend's finishWith). */
export function leaseRefOf(delivery: Delivery): LeaseRef | null {
  return parseTag(delivery.tag);
}

/** A tag is "id:token"; anything else is not this broker's and is ignored. */
function parseTag(tag: string): LeaseRef | null {
  const colon = tag.indexOf(":");
  const id = Number(tag.slice(0, colon));
  const token = tag.slice(colon + 1);
  return colon > 0 && Number.isSafeInteger(id) && /^[0-9a-f-]{36}$/i.test(token) ? { id, token } : null;
}

/** The (id, token) pairs as the two arrays the ack and extend statements unnest. */
function pairs(refs: readonly LeaseRef[]): [number[], string[]] {
  return [refs.map((r) => r.id), refs.map((r) => r.token)];
}
