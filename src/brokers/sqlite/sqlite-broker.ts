import { randomUUID } from "node:crypto";
import type Database from "better-sqlite3";
import type { Clock } from "../../clock.js";
import type { Logger } from "../../logger.js";
import { redactUrl } from "../../url.js";
import { openDatabase, storeClock, type SqliteHandle } from "../../sqlite/open-database.js";
import { sqlitePathFromUrl } from "../../sqlite/sqlite-url.js";
import { serializeTransportMessage, type TransportMessage } from "../../protocol/transport-message.js";
import { parseStoredMessage } from "../stored-message.js";
import { SqliteControl } from "./sqlite-control.js";
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
  type PublishOptions,
  type Outgoing,
} from "../broker.js";

export interface SqliteBrokerOptions {
  url: string;
  /** Defaults to SQLite's own clock. */
  clock?: Clock;
  /** How often an idle fetch looks for messages published by other processes. Default 50. */
  pollIntervalMs?: number;
  /** Where remote control says what it could not read or do. */
  log?: Logger;
}

/** How often a worker looks for remote control requests from other processes, at the least. */
const CONTROL_POLL_MS = 100;

interface LeasedRow {
  id: number;
  queue: string;
  body: string;
  /** After this lease: 1 on a first delivery. */
  delivered_count: number;
  priority: number;
  available_at: number;
}

/** The in-process wake-up topic for "a message may have become visible". */
const TOPIC = "messages";

/** Lapsed publishOnce keys deleted per call: bounded, so the transaction stays short. */
const KEY_PRUNE_BATCH = 100;

/**
 * A broker in the ebb_messages table (schema in src/sqlite/migrations.ts). Leasing happens
 * under BEGIN IMMEDIATE, which serialises writers across processes, so no message is handed
 * to two live leases. A delivery tag is "rowid:leaseToken"; every later operation matches the
 * token, so a worker whose lease was taken over cannot touch the new holder's lease.
 * publishOnce() keeps its keys in ebb_publish_keys, beside the messages, so the key and the
 * message commit together. A row's body is the message as serializeTransportMessage() writes it
 * (one line of JSON); a body that does not read back is handed out unframed, to be dead-lettered.
 */
export class SqliteBroker implements Broker {
  readonly capabilities: BrokerCapabilities = {
    delayedDelivery: true,
    priorityOrder: "lowest-first",
    clock: "store",
    delivery: "lease",
    dedupedPublish: true,
    events: false,
  };
  readonly url: string;
  /** Remote control in ebb_control_requests / ebb_control_replies (Ebb's workers and clients). */
  readonly control: SqliteControl;
  private readonly handle: SqliteHandle;
  private readonly clock: Clock;
  private readonly pollIntervalMs: number;
  private readonly closing = new AbortController();
  private readonly sql: ReturnType<typeof prepare>;
  private readonly lease: (queues: readonly string[], max: number, visibilityTimeoutMs: number) => Delivery[];
  private readonly moveToDeadLetters: (id: number, token: string, reason: string) => void;
  private readonly publishUnderKey: (key: string, raw: string, options: PublishOptions, keyTtlMs: number) => boolean;
  private readonly insertMany: (rows: { raw: string; options: PublishOptions }[]) => void;

  constructor(opts: SqliteBrokerOptions) {
    this.url = redactUrl(opts.url);
    this.handle = openDatabase(sqlitePathFromUrl(opts.url));
    this.clock = storeClock(this.handle.db, opts.clock);
    this.pollIntervalMs = opts.pollIntervalMs ?? 50;
    this.sql = prepare(this.handle.db);
    this.control = new SqliteControl({
      handle: this.handle,
      clock: this.clock,
      pollIntervalMs: Math.max(this.pollIntervalMs, CONTROL_POLL_MS),
      log: opts.log,
      store: `SQLite at ${this.url}`,
    });
    // One UPDATE leases the whole batch under one fresh token (a tag is "rowid:token", so a token
    // need only differ between leases of one row); RETURNING hands the rows back in no set order.
    this.lease = this.handle.db.transaction((queues: readonly string[], max: number, visibilityTimeoutMs: number) => {
      const now = this.clock();
      const token = randomUUID();
      const out: Delivery[] = [];
      for (const queue of queues) {
        if (out.length >= max) break;
        const rows = this.sql.lease.all(now + visibilityTimeoutMs, token, queue, now, now, max - out.length);
        rows.sort((a, b) => a.priority - b.priority || a.available_at - b.available_at || a.id - b.id);
        for (const row of rows)
          out.push(
            deliveryOf({ tag: `${row.id}:${token}`, queue: row.queue, redelivered: row.delivered_count > 1 }, row.body, parseStoredMessage),
          );
      }
      return out;
    }).immediate;
    this.moveToDeadLetters = this.handle.db.transaction((id: number, token: string, reason: string) => {
      if (this.sql.copyToDeadLetters.run(reason, this.clock(), id, token).changes > 0) this.sql.ack.run(id, token);
    }).immediate;
    this.insertMany = this.handle.db.transaction((rows: { raw: string; options: PublishOptions }[]) => {
      const now = this.clock();
      for (const { raw, options } of rows) this.sql.insert.run(options.queue, options.priority, raw, options.availableAt ?? now, now);
    }).immediate;
    // The key is taken and the message inserted under one write lock, so of several processes
    // publishing under one key exactly one sees the key free.
    this.publishUnderKey = this.handle.db.transaction((key: string, raw: string, options: PublishOptions, keyTtlMs: number) => {
      const now = this.clock();
      this.sql.pruneKeys.run(now, KEY_PRUNE_BATCH);
      if (this.sql.takeKey.run(key, now + keyTtlMs, now).changes === 0) return false;
      this.sql.insert.run(options.queue, options.priority, raw, options.availableAt ?? now, now);
      return true;
    }).immediate;
  }

  /** The store's clock (SQLite's, unless one was injected). */
  async now(): Promise<number> {
    return this.clock();
  }

  /**
   * Publishes made together (many senders at once) commit as one transaction, with the acks and
   * stores queued by then (group-commit.ts), in the order they were made; the batch runs once the
   * current microtasks have run, so a sender that awaits each publish does not wait a turn for
   * each. Resolves once the message is committed; fetchers in this process are woken then.
   */
  publish(message: TransportMessage, options: PublishOptions): Promise<void> {
    let raw: string;
    try {
      raw = serializeTransportMessage(message);
    } catch (e) {
      return Promise.reject(e);
    }
    const { queue, priority, availableAt } = options;
    return this.handle.commits.run(
      () => {
        const now = this.clock();
        this.sql.insert.run(queue, priority, raw, availableAt ?? now, now);
      },
      this.wakeFetchers,
      true,
    );
  }

  private readonly wakeFetchers = (): void => this.handle.changes.notify(TOPIC);

  /** One transaction: every message of the batch is in the queue, or none is. */
  async publishMany(batch: readonly Outgoing[]): Promise<void> {
    if (batch.length === 0) return;
    // After the publishes queued before it, as they were made.
    this.handle.commits.flush();
    this.insertMany(batch.map(({ message, options }) => ({ raw: serializeTransportMessage(message), options })));
    this.handle.changes.notify(TOPIC);
  }

  async publishOnce(key: string, message: TransportMessage, options: PublishOptions, keyTtlMs: number): Promise<boolean> {
    this.handle.commits.flush();
    const published = this.publishUnderKey(key, serializeTransportMessage(message), options, keyTtlMs);
    if (published) this.handle.changes.notify(TOPIC);
    return published;
  }

  async fetch(queues: readonly string[], max: number, options: FetchOptions): Promise<Delivery[]> {
    const deadline = performance.now() + options.waitMs;
    for (;;) {
      if (options.signal?.aborted || this.closing.signal.aborted || max < 1) return [];
      const got = this.take(queues, max, options.visibilityTimeoutMs);
      const remaining = deadline - performance.now();
      if (got.length > 0 || remaining <= 0) return got;
      await this.handle.changes.wait(TOPIC, Math.min(remaining, this.pollIntervalMs), [options.signal, this.closing.signal]);
    }
  }

  /**
   * Acks made in one event-loop turn (a worker's tasks finishing together) commit as one
   * transaction, with the stores queued in that turn (see group-commit.ts). Resolves once the
   * delete has committed. A lease taken over since (another token) is left alone.
   */
  ack(delivery: Delivery): Promise<void> {
    const write = this.ackWrite(delivery);
    return write ? this.handle.commits.run(write) : Promise.resolve();
  }

  /**
   * The database file (symbolic links resolved) and, for a delivery of this broker, its ack as a
   * write to run inside a transaction on this broker's connection: SqliteBackend.finishWith()
   * runs it in the transaction that stores the task's result. Null for a tag that is not ours.
   */
  get file(): string {
    return this.handle.path;
  }

  ackWrite(delivery: Delivery): (() => void) | null {
    const t = parseTag(delivery.tag);
    if (!t) return null;
    const ack = this.sql.ack;
    return () => {
      ack.run(t.id, t.token);
    };
  }

  async extend(deliveries: readonly Delivery[], visibilityTimeoutMs: number): Promise<void> {
    this.handle.commits.flush();
    const leaseUntil = this.clock() + visibilityTimeoutMs;
    for (const d of deliveries) {
      const t = parseTag(d.tag);
      if (t) this.sql.extend.run(leaseUntil, t.id, t.token);
    }
  }

  async release(delivery: Delivery, availableAt: number | null): Promise<void> {
    const t = parseTag(delivery.tag);
    if (!t) return;
    this.handle.commits.flush();
    if (this.sql.release.run(availableAt ?? this.clock(), t.id, t.token).changes > 0) this.handle.changes.notify(TOPIC);
  }

  async deadLetter(delivery: Delivery, reason: string): Promise<void> {
    const t = parseTag(delivery.tag);
    if (!t) return;
    this.handle.commits.flush();
    this.moveToDeadLetters(t.id, t.token, reason);
  }

  /** Newest first by insertion (id); the cursor is the id of the previous page's last item. */
  async deadLetters(query?: DeadLetterQuery): Promise<DeadLetterPage> {
    const limit = deadLetterLimit(query);
    const rows = this.sql.deadLetters.all(deadLetterCursor(query) ?? Number.MAX_SAFE_INTEGER, limit + 1);
    const items = rows
      .slice(0, limit)
      .map((r) => deadLetterOf(r.body, parseStoredMessage, { queue: r.queue ?? "", reason: r.reason, at: r.at }));
    return { items, next: rows.length > limit ? String(rows[limit - 1]!.id) : null };
  }

  async close(): Promise<void> {
    if (this.closing.signal.aborted) return;
    this.closing.abort();
    await this.control.close();
    this.handle.close();
  }

  /** A plain read first, so idle pollers never take the write lock; lease only when something is there. */
  private take(queues: readonly string[], max: number, visibilityTimeoutMs: number): Delivery[] {
    const now = this.clock();
    if (!queues.some((q) => this.sql.anyVisible.get(q, now, now) !== undefined)) return [];
    return this.lease(queues, max, visibilityTimeoutMs);
  }
}

function parseTag(tag: string): { id: number; token: string } | null {
  const colon = tag.indexOf(":");
  const id = Number(tag.slice(0, colon));
  return colon > 0 && Number.isSafeInteger(id) ? { id, token: tag.slice(colon + 1) } : null;
}

/** Every statement the broker runs, prepared once per broker. */
function prepare(db: Database.Database) {
  const VISIBLE = `queue = ? AND available_at <= ? AND (lease_until IS NULL OR lease_until <= ?)`;
  return {
    insert: db.prepare<[string, number, string, number, number]>(
      `INSERT INTO ebb_messages (queue, priority, body, available_at, created_at) VALUES (?, ?, ?, ?, ?)`,
    ),
    anyVisible: db.prepare<[string, number, number], { one: 1 }>(`SELECT 1 AS one FROM ebb_messages WHERE ${VISIBLE} LIMIT 1`),
    // LIMIT ? + 0, not LIMIT ?: SQLite (3.47 on) reads a bare bound LIMIT into the query plan, so
    // every new binding of it expires the statement and the next run parses and plans it again.
    lease: db.prepare<[number, string, string, number, number, number], LeasedRow>(
      `UPDATE ebb_messages SET lease_until = ?, lease_token = ?, delivered_count = delivered_count + 1
       WHERE id IN (SELECT id FROM ebb_messages WHERE ${VISIBLE} ORDER BY priority, available_at, id LIMIT ? + 0)
       RETURNING id, queue, body, delivered_count, priority, available_at`,
    ),
    ack: db.prepare<[number, string]>(`DELETE FROM ebb_messages WHERE id = ? AND lease_token = ?`),
    extend: db.prepare<[number, number, string]>(`UPDATE ebb_messages SET lease_until = ? WHERE id = ? AND lease_token = ?`),
    release: db.prepare<[number, number, string]>(
      `UPDATE ebb_messages SET available_at = ?, lease_until = NULL, lease_token = NULL WHERE id = ? AND lease_token = ?`,
    ),
    copyToDeadLetters: db.prepare<[string, number, number, string]>(
      `INSERT INTO ebb_dead_letters (queue, body, reason, at) SELECT queue, body, ?, ? FROM ebb_messages WHERE id = ? AND lease_token = ?`,
    ),
    pruneKeys: db.prepare<[number, number]>(
      `DELETE FROM ebb_publish_keys WHERE rowid IN (SELECT rowid FROM ebb_publish_keys WHERE expires_at <= ? LIMIT ?)`,
    ),
    // Taken when absent, or when lapsed (expires_at <= now): the WHERE makes a live key's conflict a no-op (changes = 0).
    takeKey: db.prepare<[string, number, number]>(
      `INSERT INTO ebb_publish_keys (key, expires_at) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET expires_at = excluded.expires_at WHERE ebb_publish_keys.expires_at <= ?`,
    ),
    deadLetters: db.prepare<[number, number], { id: number; queue: string | null; body: string; reason: string; at: number }>(
      `SELECT id, queue, body, reason, at FROM ebb_dead_letters WHERE id < ? ORDER BY id DESC LIMIT ?`,
    ),
  };
}
