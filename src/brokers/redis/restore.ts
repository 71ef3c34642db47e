import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import { SEP, toScore, type RedisKeys } from "./keys.js";
import type { Consumer } from "./consumer.js";
import { SCRIPTS } from "./scripts.js";
import { SettlePlan, type QueueLookup } from "./settle-plan.js";
import type { BackgroundReport } from "../../store-health.js";

/**
 * The restore lock's lifetime, renewed after every page while a pass runs. kombu sets 5 minutes
 * (unacked_mutex_expire) once per pass; a restorer that died holding Ebb's lock blocks restores
 * (Ebb's and Python's) for at most this long instead. Safe even if a slow pass outlives it:
 * every restore is conditional (settle-4+.lua here, a WATCH transaction in kombu), so two passes
 * at once cannot both push one message back.
 */
export const MUTEX_TTL_MS = 30_000;
const PAGE = 100;
/** Bounds one pass, and so the time the mutex is held; the next pass continues. */
const MAX_PAGES = 10;

export interface RestoreResult {
  restored: number;
  deadLettered: number;
}

/**
 * Put back every message whose lease ended (unacked_index score <= ceiling), as kombu's
 * restore_visible does: under unacked_mutex (SET NX PX, compare-and-delete release), so Ebb and
 * Python restorers take turns, and with ZREVRANGEBYSCORE, never KEYS. Each message then moves
 * in the settle script, which re-checks its score: a crash at any point leaves it either
 * unacked or back on its list (never both, never neither), and an entry extended or acked in
 * the meantime is left alone. Returns null when someone else holds the mutex.
 */
export async function restoreExpired(client: Redis, keys: RedisKeys, ceilingMs: number, nowMs: number): Promise<RestoreResult | null> {
  const token = randomBytes(16).toString("hex");
  if ((await client.set(keys.unackedMutex, token, "PX", MUTEX_TTL_MS, "NX")) !== "OK") return null;
  const result: RestoreResult = { restored: 0, deadLettered: 0 };
  const queuesOf = directLookup(client, keys);
  try {
    for (let page = 0; page < MAX_PAGES; page++) {
      const flat = await client.zrevrangebyscore(keys.unackedIndex, toScore(ceilingMs), 0, "WITHSCORES", "LIMIT", 0, PAGE);
      if (flat.length === 0) break;
      const fields = flat.filter((_, i) => i % 2 === 0);
      const values = await client.hmget(keys.unacked, ...fields);
      const plan = new SettlePlan(keys);
      for (const [i, field] of fields.entries()) await plan.addRestore(field, flat[2 * i + 1]!, values[i] ?? null, nowMs, queuesOf);
      const settled = (await SCRIPTS.settle.run(client, plan.keys, plan.args)) as number[];
      settled.forEach((ok, i) => {
        if (ok !== 1) return;
        if (plan.kinds[i] === "dead") result.deadLettered++;
        else if (plan.kinds[i] !== "ack") result.restored++;
      });
      if (fields.length < PAGE) break;
      if ((await SCRIPTS.refreshMutex.run(client, [keys.unackedMutex], [token, MUTEX_TTL_MS])) !== 1) break;
    }
  } finally {
    await SCRIPTS.unlock.run(client, [keys.unackedMutex], [token]).catch(() => undefined);
  }
  return result;
}

/**
 * kombu's _lookup for a direct exchange (Celery's default type): the queues whose binding in
 * _kombu.binding.<exchange> has this routing key. Read once per exchange per pass.
 */
function directLookup(client: Redis, keys: RedisKeys): QueueLookup {
  const tables = new Map<string, Promise<string[][]>>();
  return async (exchange, routingKey) => {
    let table = tables.get(exchange);
    if (!table) {
      table = client.smembers(keys.binding(exchange)).then((ms) => ms.map((m) => m.split(SEP)));
      tables.set(exchange, table);
    }
    return (await table).filter(([rk, , queue]) => rk === routingKey && queue).map(([, , queue]) => queue!);
  };
}

const RESTORER = "unacked restorer";

/** How often an idle broker looks for expired leases, and how long it leaves them to a restorer holding the mutex. */
export const RESTORE_EVERY_MS = 1_000;

/**
 * When to restore, for one broker: when a fetch finds the oldest lease due (checked inside the
 * fetch script, so it costs no round trip), and on an interval while the broker is not
 * fetching. One pass at a time; after finding the mutex held it leaves restoring to its holder
 * for RESTORE_EVERY_MS.
 */
export class Restorer {
  #running: Promise<void> | null = null;
  #ticking = false;
  #pausedUntil = 0;
  /** The visibility timeout of the latest fetch; the interval check needs one. */
  visibilityTimeoutMs: number | null = null;

  constructor(
    private readonly client: Redis,
    private readonly keys: RedisKeys,
    private readonly now: () => number,
    private readonly consumer: Consumer,
    /** Where the interval check reports how it went (as "unacked restorer"). */
    private readonly report?: BackgroundReport,
  ) {}

  /** Whether fetch should ask the script about due leases now. */
  get checking(): boolean {
    return performance.now() >= this.#pausedUntil;
  }

  /** A pass with this ceiling; joins the pass already running, if any. */
  async run(now: number, visibilityTimeoutMs: number): Promise<void> {
    this.#running ??= restoreExpired(this.client, this.keys, now - visibilityTimeoutMs, now)
      .then((r) => {
        if (r === null) this.#pausedUntil = performance.now() + RESTORE_EVERY_MS;
      })
      .finally(() => {
        this.#running = null;
      });
    await this.#running;
  }

  /**
   * The interval check, once this broker fetches: the sweep of gone consumers' hand-off lists
   * (consumer.ts), then one ZRANGE, and a pass only when the oldest lease is due. Never rejects:
   * errors go to the report. One check at a time (while Redis is down, commands wait for the
   * reconnect; checks must not pile up behind them).
   */
  async tick(): Promise<void> {
    const vt = this.visibilityTimeoutMs;
    if (vt === null || this.#ticking) return;
    this.#ticking = true;
    try {
      const now = this.now();
      await this.consumer.sweep(now);
      if (!this.#running && this.checking) {
        const [, oldest] = await this.client.zrange(this.keys.unackedIndex, 0, 0, "WITHSCORES");
        if (oldest !== undefined && Number(oldest) <= (now - vt) / 1000) await this.run(now, vt);
      }
      this.report?.succeeded(RESTORER);
    } catch (e) {
      this.report?.failed(RESTORER, e);
    } finally {
      this.#ticking = false;
    }
  }

  /** Resolves when no pass is running. */
  async idle(): Promise<void> {
    await this.#running?.catch(() => undefined);
  }
}
