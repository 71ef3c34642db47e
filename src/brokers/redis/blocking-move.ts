import type { Redis } from "ioredis";
import { connectRedis } from "../../redis/connect.js";
import type { RedisTarget } from "../../redis/redis-url.js";
import type { StoreHealth } from "../../store-health.js";

interface BlockingConnection {
  redis: Redis;
  /** CLIENT ID, refreshed on every reconnect; null until known. */
  id: number | null;
}

/** One blocking move: from a queue's list into this consumer's hand-off list for it. */
export interface Move {
  from: string;
  to: string;
}

/** Where each blocking move registers its consumer first, on the same connection. */
export interface Registration {
  /** ebb.consumers */
  consumers: string;
  /** ebb.consumer.<id> */
  lists: string;
  id: string;
}

const UNBLOCK_TRIES = 50;
const UNBLOCK_RETRY_MS = 20;

/**
 * The wait of a fetch that found its lists empty, built so that a message is never only in a
 * worker's memory (issue 8: BRPOP took it off the list, and a worker killed before its next
 * round trip lost it).
 *
 * A wait is one BRPOPLPUSH per list, each on a blocking connection of its own (a blocked
 * connection can run nothing else; BRPOP's one-connection-many-keys form has no move variant,
 * and BLMOVE needs Redis 6.2 while BRPOPLPUSH is the same move on 6.0). Each moves the list's
 * oldest message into the consumer's hand-off list (keys.ts), inside Redis. The wait only
 * reports that something moved: the fetch script then takes it from the hand-off list into
 * unacked in one atomic step, serving hand-off lists and lists in the usual priority order.
 * Redis hands each message to one waiting connection, longest waiting first, as with BRPOP.
 *
 * Before its BRPOPLPUSH, each connection sends ZADD ebb.consumers <now> <id> and SADD
 * ebb.consumer.<id> <list>: on the same connection, so the consumer is registered (and its
 * heartbeat fresh) before anything can move into its hand-off list. A consumer silent for 30 s
 * is gone; the restore cycle's sweep (consumer.ts) puts its hand-off lists back.
 *
 * The first move ends the wait; the other connections are ended with CLIENT UNBLOCK from the
 * control connection (it makes them return as if timed out). A move that raced the unblock, or
 * landed after the caller left (abort, close), goes to onLate, which puts it back on its list.
 */
export class BlockingMove {
  readonly #idle: BlockingConnection[] = [];
  readonly #all = new Set<BlockingConnection>();
  readonly #waits = new Set<Promise<void>>();
  #closed = false;

  constructor(
    private readonly target: RedisTarget,
    private readonly control: Redis,
    private readonly name: string,
    private readonly registration: Registration,
    private readonly health?: StoreHealth,
  ) {}

  /**
   * Wait up to timeoutMs for any list to get a message. True when one moved into its hand-off
   * list for this wait; false on timeout or abort. `score` is the heartbeat written first.
   */
  async wait(
    moves: readonly Move[],
    timeoutMs: number,
    score: string,
    signal: AbortSignal,
    onLate: (move: Move) => Promise<void>,
  ): Promise<boolean> {
    if (signal.aborted || this.#closed || moves.length === 0) return false;
    const conns: BlockingConnection[] = [];
    try {
      for (let i = 0; i < moves.length; i++) conns.push(await this.#acquire());
    } catch (e) {
      for (const conn of conns) this.#release(conn);
      throw e;
    }
    if (signal.aborted || this.#closed) {
      for (const conn of conns) this.#release(conn);
      return false;
    }
    // Redis >= 6 takes a fractional timeout; 0 would mean "forever".
    const seconds = Math.max(0.01, timeoutMs / 1000).toFixed(3);
    const { consumers, lists, id } = this.registration;
    return new Promise((resolve, reject) => {
      // One place decides the outcome, so a move, a timeout and an abort cannot all win.
      let waiting = true;
      let left = moves.length;
      const ended = new Set<BlockingConnection>();
      const end = (outcome: boolean | Error): void => {
        if (!waiting) return;
        waiting = false;
        signal.removeEventListener("abort", abandon);
        if (outcome instanceof Error) reject(outcome);
        else resolve(outcome);
        for (const conn of conns) if (!ended.has(conn)) void this.#unblock(conn, () => ended.has(conn));
      };
      const abandon = (): void => end(false);
      signal.addEventListener("abort", abandon, { once: true });
      moves.forEach((move, i) => {
        const conn = conns[i]!;
        // Sent one after another on this connection (no pipeline object: ioredis resends each
        // unfulfilled one after a reconnect), so Redis runs them in this order.
        const registered = Promise.all([conn.redis.zadd(consumers, score, id), conn.redis.sadd(lists, move.from)]);
        registered.catch(() => undefined);
        const wait = conn.redis
          .brpoplpush(move.from, move.to, seconds)
          .then(
            async (moved) => {
              ended.add(conn);
              if (moved !== null && waiting) end(true);
              else if (moved !== null) await onLate(move).catch(() => undefined);
              else if (--left === 0) end(false);
            },
            (e: unknown) => {
              ended.add(conn);
              end(e instanceof Error ? e : new Error(String(e)));
            },
          )
          .finally(() => {
            ended.add(conn);
            this.#waits.delete(wait);
            this.#release(conn);
          });
        this.#waits.add(wait);
      });
    });
  }

  /** Wait for every wait to end (callers abort theirs first; late moves are put back), then drop the connections. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#waits]);
    for (const conn of this.#all) conn.redis.disconnect();
    this.#all.clear();
    this.#idle.length = 0;
  }

  async #acquire(): Promise<BlockingConnection> {
    const reused = this.#idle.pop();
    if (reused) return reused;
    // A blocking connection runs one command at a time; batching writes buys nothing there.
    const redis = await connectRedis(this.target, { name: this.name, autoPipelining: false, health: this.health });
    const conn: BlockingConnection = { redis, id: null };
    const learnId = async (): Promise<void> => {
      conn.id = Number(await redis.call("CLIENT", "ID"));
    };
    redis.on("ready", () => void learnId().catch(() => undefined));
    await learnId();
    this.#all.add(conn);
    return conn;
  }

  #release(conn: BlockingConnection): void {
    if (this.#closed) {
      conn.redis.disconnect();
      this.#all.delete(conn);
    } else if (this.#all.has(conn) && !this.#idle.includes(conn)) {
      this.#idle.push(conn);
    }
  }

  /** CLIENT UNBLOCK until it takes: the BRPOPLPUSH may not have reached the server yet. */
  async #unblock(conn: BlockingConnection, settled: () => boolean): Promise<void> {
    for (let i = 0; i < UNBLOCK_TRIES && !settled(); i++) {
      if (conn.id !== null && Number(await this.control.call("CLIENT", "UNBLOCK", String(conn.id)).catch(() => 0)) === 1) return;
      await new Promise((r) => setTimeout(r, UNBLOCK_RETRY_MS));
    }
  }
}
