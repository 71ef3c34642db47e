import type { Redis } from "ioredis";
import { connectRedis } from "../../redis/connect.js";
import type { StoreHealth } from "../../store-health.js";
import type { RedisTarget } from "../../redis/redis-url.js";

interface BlockingConnection {
  redis: Redis;
  /** CLIENT ID, refreshed on every reconnect; null until known. */
  id: number | null;
}

const UNBLOCK_TRIES = 50;
const UNBLOCK_RETRY_MS = 20;

/**
 * BRPOP on connections of its own (a blocked connection can run nothing else): one per
 * concurrently waiting fetch, kept for reuse. A wait the caller gives up (abort, close) is ended
 * with CLIENT UNBLOCK from the control connection, which makes BRPOP return as if it timed out,
 * so nothing is popped for a caller that has left. A message popped anyway (it raced the
 * unblock) goes to onLate, which puts it back: a popped message is never dropped.
 */
export class BlockingPop {
  readonly #idle: BlockingConnection[] = [];
  readonly #all = new Set<BlockingConnection>();
  readonly #waits = new Set<Promise<void>>();
  #closed = false;

  constructor(
    private readonly target: RedisTarget,
    private readonly control: Redis,
    private readonly name: string,
    private readonly health?: StoreHealth,
  ) {}

  /** [key, message] from the first non-empty key (in the order given), or null on timeout or abort. */
  async pop(keys: readonly string[], timeoutMs: number, signal: AbortSignal, onLate: (key: string, raw: string) => Promise<void>): Promise<[string, string] | null> {
    if (signal.aborted || this.#closed) return null;
    const conn = await this.#acquire();
    if (signal.aborted || this.#closed) {
      this.#release(conn);
      return null;
    }
    // Redis >= 6 takes a fractional timeout; 0 would mean "forever".
    const seconds = Math.max(0.01, timeoutMs / 1000).toFixed(3);
    return new Promise((resolve, reject) => {
      // One place decides who owns the outcome, so a reply and an abort in the same tick cannot both win.
      let state: "waiting" | "taken" | "abandoned" = "waiting";
      let settled = false;
      const abandon = (): void => {
        if (state !== "waiting") return;
        state = "abandoned";
        resolve(null);
        void this.#unblock(conn, () => settled);
      };
      signal.addEventListener("abort", abandon, { once: true });
      const wait = conn.redis
        .brpop(...keys, seconds)
        .then(
          async (popped) => {
            if (state === "waiting") {
              state = "taken";
              resolve(popped);
            } else if (popped) {
              await onLate(popped[0], popped[1]).catch(() => undefined);
            }
          },
          (e: unknown) => {
            if (state === "waiting") {
              state = "taken";
              reject(e);
            }
          },
        )
        .finally(() => {
          settled = true;
          signal.removeEventListener("abort", abandon);
          this.#waits.delete(wait);
          this.#release(conn);
        });
      this.#waits.add(wait);
    });
  }

  /** Wait for every wait to end (callers abort theirs first; late messages are put back), then drop the connections. */
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
    } else if (this.#all.has(conn)) {
      this.#idle.push(conn);
    }
  }

  /** CLIENT UNBLOCK until it takes: the BRPOP may not have reached the server yet. */
  async #unblock(conn: BlockingConnection, settled: () => boolean): Promise<void> {
    for (let i = 0; i < UNBLOCK_TRIES && !settled(); i++) {
      if (conn.id !== null && Number(await this.control.call("CLIENT", "UNBLOCK", String(conn.id)).catch(() => 0)) === 1) return;
      await new Promise((r) => setTimeout(r, UNBLOCK_RETRY_MS));
    }
  }
}
