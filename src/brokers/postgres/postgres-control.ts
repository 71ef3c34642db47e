import { randomUUID } from "node:crypto";
import { ChangeHub, type Watch } from "../../change-hub.js";
import type { Clock } from "../../clock.js";
import type { BrokerControl, ControlCommand, ControlListener, OnRequest } from "../../control/broker-control.js";
import { requestBody, ticketed, type ControlReply, type ControlRequest } from "../../control/control-request.js";
import { LISTENER, PRUNE_BATCH, READ_BATCH, readReplyRow, readRequestRow, REPLY_KEEP_MS } from "../../control/control-rows.js";
import { REVOKED_EXPIRES_MS } from "../../control/revoked-set.js";
import type { Logger } from "../../logger.js";
import type { PostgresPool } from "../../postgres/pg-pool.js";
import { quoteIdent } from "../../postgres/pg-url.js";
import { StoreHealth } from "../../store-health.js";
import { nowOr } from "./broker-sql.js";
import { channelOf } from "./notify-listener.js";

/** In-process wake-up topics, and the NOTIFY payloads that carry them to other processes. */
const REQUESTS = "requests";
const REPLIES = "replies";
/** Between looks nothing woke while LISTEN is up. */
const HEARD_LOOK_MS = 5_000;

export interface PostgresControlOptions {
  /** The broker's pool: control's statements are few and short, so they share it. */
  pg: PostgresPool;
  schema: string;
  /** The broker's injected clock; undefined: PostgreSQL's. */
  clock: Clock | undefined;
  /** How often listeners and collectors look without being woken while LISTEN is down, in ms. */
  pollIntervalMs: number;
  /** Whether the broker's LISTEN connection is up (notifications arrive): then looks are only a safety net. */
  heard: () => boolean;
  /** The redacted URL, for log lines. */
  display: string;
  log?: Logger;
}

interface StartRow {
  id: number;
  body: string;
  replay: boolean;
}

interface Row {
  id: number;
  body: string;
}

/**
 * Celery's remote control on the PostgreSQL broker, for Ebb's own workers and clients (Celery's
 * PostgreSQL transports keep no pidbox, so no Python tool reads these tables), as on SQLite
 * (sqlite-control.ts). A request is a row in ebb_control_requests that every listening worker
 * reads past its own cursor; a reply is a row in ebb_control_replies under the sender's ticket,
 * which the sender takes (deletes) as it reads it. Layout in src/postgres/migrations/0004_control.sql.
 *
 * Delivery is "kept": requests stay REVOKED_EXPIRES_MS, and a worker that starts later replays
 * the revokes among them (without replying), so a revoked task that reaches a worker started
 * after the revoke still ends REVOKED. Other commands reach only the workers listening when
 * they were sent, as on Redis.
 *
 * Workers in this process wake at once (a ChangeHub); other processes by NOTIFY on a channel of
 * control's own, sent in the statement that writes the row and heard on the broker's one LISTEN
 * connection (notified()). Everyone also looks every pollIntervalMs, so without LISTEN it works,
 * slower.
 */
export class PostgresControl implements BrokerControl {
  readonly delivery = "kept" as const;
  readonly #pg: PostgresPool;
  readonly #sql: ReturnType<typeof controlSql>;
  readonly #clock: Clock | undefined;
  readonly #pollMs: number;
  readonly #heard: () => boolean;
  /** The NOTIFY channel of requests and replies; the broker's LISTEN connection hands them to notified(). */
  readonly channel: string;
  /** Serialises sends across processes (see `send` in controlSql). */
  readonly #sendLock: string;
  readonly #log: Logger | undefined;
  /** Read failures of the listeners' polls: logged once per distinct error, and the recovery once. */
  readonly #health: StoreHealth | undefined;
  readonly #changes = new ChangeHub();
  readonly #listeners = new Set<ControlListener>();
  /** Aborted by close(): collectors stop waiting and return what they have. */
  readonly #closing = new AbortController();

  constructor(opts: PostgresControlOptions) {
    this.#pg = opts.pg;
    this.#sql = controlSql(quoteIdent(opts.schema));
    this.#clock = opts.clock;
    this.#pollMs = opts.pollIntervalMs;
    this.#heard = opts.heard;
    this.channel = channelOf("ebb_control", opts.schema);
    this.#sendLock = `ebb-control:${opts.schema}`;
    this.#log = opts.log;
    this.#health = opts.log ? new StoreHealth(opts.log, `PostgreSQL at ${opts.display}`) : undefined;
  }

  /**
   * A notification on `channel` from any process (the broker's LISTEN connection calls this);
   * null: LISTEN (re)started, so anything sent meanwhile is looked for now.
   */
  notified(payload: string | null): void {
    if (payload === REQUESTS || payload === REPLIES) this.#changes.notify(payload);
    else this.#changes.notifyAll();
  }

  async listen(onRequest: OnRequest): Promise<ControlListener> {
    // Watched before the first look, so a request written between that look and the wait still wakes it.
    const watch = this.#changes.watch(REQUESTS);
    let start: StartRow[];
    try {
      start = await this.#pg.query<StartRow>(this.#sql.start, [this.#clock?.() ?? null, REVOKED_EXPIRES_MS]);
    } catch (e) {
      watch.close();
      throw e;
    }
    for (const row of start) {
      if (!row.replay) continue;
      const request = readRequestRow(row.body, this.#log);
      // A replay: the sender stopped waiting long ago, so nothing is sent back.
      if (request) await this.#handleRequest({ ...request, ticket: null, replyTo: null }, onRequest);
    }
    const stop = new AbortController();
    const loop = this.#poll(start.at(-1)?.id ?? 0, watch, onRequest, stop.signal);
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
    const watch = collect ? this.#changes.watch(REPLIES) : null;
    try {
      await this.#pg.query(this.#sql.send, [
        request.method,
        JSON.stringify(requestBody(request)),
        this.#clock?.() ?? null,
        this.channel,
        this.#sendLock,
        REVOKED_EXPIRES_MS,
        REPLY_KEEP_MS,
        PRUNE_BATCH,
      ]);
      this.#changes.notify(REQUESTS);
      if (!collect || !ticket || !watch) return [];
      try {
        return await this.#collect(ticket, collect, watch);
      } finally {
        // Replies that came after the last look; a failure here only leaves them for pruning.
        await this.#pg.query(this.#sql.takeReplies, [ticket]).catch(() => undefined);
      }
    } finally {
      watch?.close();
    }
  }

  /** Stop every listener (the broker is closing; its pool and LISTEN connection close after). */
  async close(): Promise<void> {
    this.#closing.abort();
    await Promise.all([...this.#listeners].map((l) => l.close()));
  }

  async #poll(from: number, watch: Watch, onRequest: OnRequest, stop: AbortSignal): Promise<void> {
    let cursor = from;
    try {
      while (!stop.aborted) {
        let rows: Row[];
        try {
          rows = await this.#pg.query<Row>(this.#sql.requestsAfter, [cursor, READ_BATCH]);
          this.#health?.succeeded(LISTENER);
        } catch (e) {
          // Closing: the pool may end under the statement. Otherwise the server is down or refused:
          // say so once, and look again later.
          if (stop.aborted) return;
          this.#health?.failed(LISTENER, e);
          rows = [];
        }
        for (const row of rows) {
          cursor = row.id;
          const request = readRequestRow(row.body, this.#log);
          // Not awaited: a slow command (shutdown waits for the worker) must not hold up the next.
          if (request) void this.#handleRequest(request, onRequest);
        }
        if (rows.length < READ_BATCH) await watch.changed(this.#lookEveryMs(), stop);
      }
    } finally {
      watch.close();
    }
  }

  /**
   * How long to wait before looking again unwoken: pollIntervalMs while LISTEN is down; while it is
   * up, notifications wake at once and a look every HEARD_LOOK_MS is only a safety net (an idle
   * worker then costs one query every few seconds, not ten a second).
   */
  #lookEveryMs(): number {
    return this.#heard() ? Math.max(this.#pollMs, HEARD_LOOK_MS) : this.#pollMs;
  }

  async #handleRequest(request: ControlRequest, onRequest: OnRequest): Promise<void> {
    try {
      const reply = await onRequest(request);
      if (reply && request.ticket) {
        await this.#pg.query(this.#sql.reply, [request.ticket, JSON.stringify(reply), this.#clock?.() ?? null, this.channel]);
        this.#changes.notify(REPLIES);
      }
    } catch (e) {
      this.#log?.error(`Remote control command ${JSON.stringify(request.method)} failed: ${(e as Error).message}`);
    }
  }

  async #collect(ticket: string, collect: { timeoutMs: number; limit: number | null }, watch: Watch): Promise<ControlReply[]> {
    const replies: ControlReply[] = [];
    const deadline = performance.now() + collect.timeoutMs;
    for (;;) {
      const rows = await this.#pg.query<Row>(this.#sql.takeReplies, [ticket]);
      rows.sort((a, b) => a.id - b.id);
      for (const row of rows) {
        const reply = readReplyRow(row.body, this.#log);
        if (reply) replies.push(reply);
      }
      const left = deadline - performance.now();
      if ((collect.limit !== null && replies.length >= collect.limit) || left <= 0) return replies.slice(0, collect.limit ?? undefined);
      await watch.changed(Math.min(left, this.#lookEveryMs()), this.#closing.signal);
      // Closing: the pool is about to end, so no further look.
      if (this.#closing.signal.aborted) return replies.slice(0, collect.limit ?? undefined);
    }
  }
}

/**
 * Every statement remote control runs, for the tables in 0004_control.sql in the quoted schema
 * `s`; each is one named prepared statement and one transaction. `now` is the injected clock's
 * instant, or NULL for PostgreSQL's (nowOr, as the broker's statements).
 */
function controlSql(s: string) {
  const requests = `${s}.ebb_control_requests`;
  const replies = `${s}.ebb_control_replies`;
  const revokeKept = (now: number, keep: number) => `method = 'revoke' AND sent_at > ${nowOr(now)} - $${keep}::bigint`;
  return {
    /**
     * Where a new listener starts, in one snapshot: the revokes sent within $2 ms (replay true),
     * and the newest request, whose id is the listener's cursor. $1 now, $2 ms revokes are kept.
     */
    start: `SELECT id, body, (${revokeKept(1, 2)}) AS replay FROM ${requests}
      WHERE (${revokeKept(1, 2)}) OR id = (SELECT max(id) FROM ${requests})
      ORDER BY id`,

    /** Up to $2 requests past cursor $1, in id order. */
    requestsAfter: `SELECT id, body FROM ${requests} WHERE id > $1 ORDER BY id LIMIT $2`,

    /**
     * Write a request and notify, after deleting up to $8 requests older than $6 ms and replies
     * older than $7 ms. Listeners read past a cursor, so a request must never become visible after
     * one with a higher id (it would be skipped): the insert takes an id only once it holds the
     * transaction-level advisory lock $5, which the previous sender held until it committed. The
     * deletes skip rows another send holds, so a send never waits on one that waits for the lock.
     * $1 method, $2 body, $3 now, $4 channel, $5 lock name, $6, $7 ms kept, $8 prune batch.
     */
    send: `WITH serial AS (
        SELECT pg_advisory_xact_lock(hashtextextended($5, 0))
      ), pruned_requests AS (
        DELETE FROM ${requests} WHERE id IN (
          SELECT id FROM ${requests} WHERE sent_at <= ${nowOr(3)} - $6::bigint ORDER BY sent_at LIMIT $8 FOR UPDATE SKIP LOCKED
        )
      ), pruned_replies AS (
        DELETE FROM ${replies} WHERE id IN (
          SELECT id FROM ${replies} WHERE sent_at <= ${nowOr(3)} - $7::bigint ORDER BY sent_at LIMIT $8 FOR UPDATE SKIP LOCKED
        )
      ), sent AS (
        INSERT INTO ${requests} (method, body, sent_at) SELECT $1, $2, ${nowOr(3)} FROM serial RETURNING id
      )
      SELECT pg_notify($4, '${REQUESTS}') FROM sent`,

    /** Write a reply under ticket $1 and notify. $2 body, $3 now, $4 channel. */
    reply: `WITH sent AS (
        INSERT INTO ${replies} (ticket, body, sent_at) VALUES ($1, $2, ${nowOr(3)}) RETURNING id
      )
      SELECT pg_notify($4, '${REPLIES}') FROM sent`,

    /** Take (delete) the replies under ticket $1; they come back in no set order. */
    takeReplies: `DELETE FROM ${replies} WHERE ticket = $1 RETURNING id, body`,
  };
}
