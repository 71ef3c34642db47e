import { randomUUID } from "node:crypto";
import type Database from "better-sqlite3";
import type { Clock } from "../../clock.js";
import type { BrokerControl, ControlCommand, ControlListener, OnRequest } from "../../control/broker-control.js";
import { requestBody, ticketed, type ControlReply, type ControlRequest } from "../../control/control-request.js";
import { LISTENER, PRUNE_BATCH, READ_BATCH, readReplyRow, readRequestRow, REPLY_KEEP_MS } from "../../control/control-rows.js";
import { REVOKED_EXPIRES_MS } from "../../control/revoked-set.js";
import type { Logger } from "../../logger.js";
import type { SqliteHandle } from "../../sqlite/open-database.js";
import { StoreHealth } from "../../store-health.js";

/** In-process wake-ups: a request was written, a reply was written. Other processes find them by polling. */
const REQUESTS = "control-requests";
const REPLIES = "control-replies";

/**
 * Celery's remote control on the SQLite broker, for Ebb's own workers and clients (Celery has no
 * SQLite transport, so no Python tool reads these tables). A request is a row in
 * ebb_control_requests that every listening worker reads past its own cursor; a reply is a row
 * in ebb_control_replies under the sender's ticket, which the sender reads and then deletes.
 *
 * Delivery is "kept": requests stay REVOKED_EXPIRES_MS, and a worker that starts later replays
 * the revokes among them (without replying), so a revoked task that reaches a worker started
 * after the revoke still ends REVOKED. Other commands reach only the workers listening when
 * they were sent, as on Redis. Workers in this process wake at once; others within the poll.
 */
export class SqliteControl implements BrokerControl {
  readonly delivery = "kept" as const;
  readonly #handle: SqliteHandle;
  readonly #clock: Clock;
  readonly #pollMs: number;
  readonly #log: Logger | undefined;
  /** Read failures of the listeners' polls: logged once per distinct error, and the recovery once. */
  readonly #health: StoreHealth | undefined;
  readonly #sql: ReturnType<typeof prepare>;
  readonly #listeners = new Set<ControlListener>();

  constructor(opts: { handle: SqliteHandle; clock: Clock; pollIntervalMs: number; log?: Logger; store?: string }) {
    this.#handle = opts.handle;
    this.#clock = opts.clock;
    this.#pollMs = opts.pollIntervalMs;
    this.#log = opts.log;
    this.#health = opts.log ? new StoreHealth(opts.log, opts.store ?? "SQLite") : undefined;
    this.#sql = prepare(opts.handle.db);
  }

  async listen(onRequest: OnRequest): Promise<ControlListener> {
    const stop = new AbortController();
    const start = this.#handle.db.transaction(() => ({
      cursor: this.#sql.lastRequestId.get()?.id ?? 0,
      revokes: this.#sql.revokesSince.all(this.#clock() - REVOKED_EXPIRES_MS),
    }))();
    for (const row of start.revokes) {
      const request = readRequestRow(row.body, this.#log);
      // A replay: the sender stopped waiting long ago, so nothing is sent back.
      if (request) await this.#handleRequest({ ...request, ticket: null, replyTo: null }, onRequest);
    }
    const loop = this.#poll(start.cursor, onRequest, stop.signal);
    const listener: ControlListener = {
      close: async () => {
        if (!this.#listeners.delete(listener)) return;
        stop.abort();
        await loop;
      },
    };
    this.#listeners.add(listener);
    return listener;
  }

  async send(command: ControlCommand, collect: { timeoutMs: number; limit: number | null } | null): Promise<ControlReply[]> {
    const ticket = collect ? randomUUID() : null;
    const request = ticketed(command, ticket);
    const now = this.#clock();
    this.#sql.pruneRequests.run(now - REVOKED_EXPIRES_MS, PRUNE_BATCH);
    this.#sql.pruneReplies.run(now - REPLY_KEEP_MS, PRUNE_BATCH);
    this.#sql.insertRequest.run(request.method, JSON.stringify(requestBody(request)), now);
    this.#handle.changes.notify(REQUESTS);
    if (!collect || !ticket) return [];
    try {
      return await this.#collect(ticket, collect);
    } finally {
      this.#sql.deleteReplies.run(ticket);
    }
  }

  /** Stop every listener (the broker is closing). */
  async close(): Promise<void> {
    await Promise.all([...this.#listeners].map((l) => l.close()));
  }

  async #poll(from: number, onRequest: OnRequest, stop: AbortSignal): Promise<void> {
    let cursor = from;
    while (!stop.aborted) {
      let rows: { id: number; body: string }[];
      try {
        rows = this.#sql.requestsAfter.all(cursor, READ_BATCH);
        this.#health?.succeeded(LISTENER);
      } catch (e) {
        // Locked beyond busy_timeout, or the database is gone: say so once, and look again later.
        this.#health?.failed(LISTENER, e);
        rows = [];
      }
      for (const row of rows) {
        cursor = row.id;
        const request = readRequestRow(row.body, this.#log);
        // Not awaited: a slow command (shutdown waits for the worker) must not hold up the next.
        if (request) void this.#handleRequest(request, onRequest);
      }
      if (rows.length < READ_BATCH) await this.#handle.changes.wait(REQUESTS, this.#pollMs, [stop]);
    }
  }

  async #handleRequest(request: ControlRequest, onRequest: OnRequest): Promise<void> {
    try {
      const reply = await onRequest(request);
      if (reply && request.ticket) {
        this.#sql.insertReply.run(request.ticket, JSON.stringify(reply), this.#clock());
        this.#handle.changes.notify(REPLIES);
      }
    } catch (e) {
      this.#log?.error(`Remote control command ${JSON.stringify(request.method)} failed: ${(e as Error).message}`);
    }
  }

  async #collect(ticket: string, collect: { timeoutMs: number; limit: number | null }): Promise<ControlReply[]> {
    const replies: ControlReply[] = [];
    const deadline = performance.now() + collect.timeoutMs;
    let cursor = 0;
    for (;;) {
      for (const row of this.#sql.repliesAfter.all(ticket, cursor)) {
        cursor = row.id;
        const reply = readReplyRow(row.body, this.#log);
        if (reply) replies.push(reply);
      }
      const left = deadline - performance.now();
      if ((collect.limit !== null && replies.length >= collect.limit) || left <= 0) return replies.slice(0, collect.limit ?? undefined);
      await this.#handle.changes.wait(REPLIES, Math.min(left, this.#pollMs));
    }
  }
}

/** Every statement remote control runs, prepared once per broker. */
function prepare(db: Database.Database) {
  return {
    lastRequestId: db.prepare<[], { id: number | null }>(`SELECT MAX(id) AS id FROM ebb_control_requests`),
    revokesSince: db.prepare<[number], { body: string }>(
      `SELECT body FROM ebb_control_requests WHERE method = 'revoke' AND sent_at > ? ORDER BY id`,
    ),
    requestsAfter: db.prepare<[number, number], { id: number; body: string }>(
      `SELECT id, body FROM ebb_control_requests WHERE id > ? ORDER BY id LIMIT ?`,
    ),
    insertRequest: db.prepare<[string, string, number]>(`INSERT INTO ebb_control_requests (method, body, sent_at) VALUES (?, ?, ?)`),
    pruneRequests: db.prepare<[number, number]>(
      `DELETE FROM ebb_control_requests WHERE id IN (SELECT id FROM ebb_control_requests WHERE sent_at <= ? ORDER BY sent_at LIMIT ?)`,
    ),
    insertReply: db.prepare<[string, string, number]>(`INSERT INTO ebb_control_replies (ticket, body, sent_at) VALUES (?, ?, ?)`),
    repliesAfter: db.prepare<[string, number], { id: number; body: string }>(
      `SELECT id, body FROM ebb_control_replies WHERE ticket = ? AND id > ? ORDER BY id`,
    ),
    deleteReplies: db.prepare<[string]>(`DELETE FROM ebb_control_replies WHERE ticket = ?`),
    pruneReplies: db.prepare<[number, number]>(
      `DELETE FROM ebb_control_replies WHERE id IN (SELECT id FROM ebb_control_replies WHERE sent_at <= ? ORDER BY sent_at LIMIT ?)`,
    ),
  };
}
