import type { Clock } from "../clock.js";
import type { Logger } from "../logger.js";
import { pickByScheme } from "../url.js";
import type { MemoryBackend } from "./memory/memory-backend.js";
import type { ResultBackend } from "./result-backend.js";

export interface BackendFromUrlOptions {
  /** Injected clock (tests). For memory:// only the first call for a URL decides it. */
  clock?: Clock;
  /** The app's expiredGrace: how long a store must remember that a result expired. */
  graceMs?: number;
  /** The app's log, for what a store notices in the background (Redis: outages, index trimmer errors). */
  log?: Logger;
  /** The app's resultExpires (null: never): PostgreSQL makes the partitions such results need at connect, not in the first store. */
  defaultLifetimeMs?: number | null;
}

type BackendFactory = (url: string, opts: BackendFromUrlOptions) => Promise<ResultBackend>;

/**
 * One MemoryBackend per memory:// URL in this process, so an app and its in-process worker
 * that name the same URL read and write the same results.
 */
const memoryBackends = new Map<string, MemoryBackend>();

/** Implemented schemes → factories. Drivers load lazily, so an app pays only for the one it uses. */
const BACKENDS: Record<string, BackendFactory> = {
  memory: async (url, opts) => {
    const shared = memoryBackends.get(url);
    if (shared) return shared;
    const { MemoryBackend } = await import("./memory/memory-backend.js");
    // Re-check: a concurrent call may have created it while the module loaded.
    const backend = memoryBackends.get(url) ?? new MemoryBackend({ url, clock: opts.clock, graceMs: opts.graceMs });
    memoryBackends.set(url, backend);
    return backend;
  },
  sqlite: async (url, opts) => {
    const { SqliteBackend } = await import("./sqlite/sqlite-backend.js");
    return new SqliteBackend({ url, clock: opts.clock, graceMs: opts.graceMs });
  },
  redis: (url, opts) => redisBackend(url, opts),
  postgresql: (url, opts) => postgresBackend(url, opts),
  postgres: (url, opts) => postgresBackend(url, opts),
  rediss: (url, opts) => redisBackend(url, opts),
  // Celery's own database tables (celery_taskmeta), spelled as Celery users write them: read for
  // result/cleanup/archive/stats; store() refuses. pg loads only for db+postgresql.
  "db+sqlite": (url, opts) => celeryDbBackend(url, opts),
  "db+postgresql": (url, opts) => celeryDbBackend(url, opts),
  "db+postgresql+psycopg2": (url, opts) => celeryDbBackend(url, opts),
};

async function celeryDbBackend(url: string, opts: BackendFromUrlOptions): Promise<ResultBackend> {
  const { CeleryDbBackend } = await import("./celery-db/celery-db-backend.js");
  return new CeleryDbBackend({ url, clock: opts.clock }).connect();
}

/** postgresql:// and postgres://: Ebb's own partitioned tables (Celery's table is db+postgresql://). */
async function postgresBackend(url: string, opts: BackendFromUrlOptions): Promise<ResultBackend> {
  const { PostgresBackend } = await import("./postgres/postgres-backend.js");
  return new PostgresBackend({
    url,
    clock: opts.clock,
    graceMs: opts.graceMs,
    log: opts.log,
    defaultLifetimeMs: opts.defaultLifetimeMs,
  }).connect();
}

/** redis:// and rediss:// (TLS): Celery's own key layout, so a Celery user's URL works as it is. */
async function redisBackend(url: string, opts: BackendFromUrlOptions): Promise<ResultBackend> {
  const { RedisBackend } = await import("./redis/redis-backend.js");
  return new RedisBackend({ url, clock: opts.clock, graceMs: opts.graceMs, log: opts.log }).connect();
}

/** The result backend for a URL such as "sqlite://./ebb.db" or "memory://". Unknown schemes throw UnknownSchemeError listing the known ones. */
export async function backendFromUrl(url: string, opts: BackendFromUrlOptions = {}): Promise<ResultBackend> {
  return pickByScheme(url, "backend", BACKENDS)(url, opts);
}

/** Throw the unknown-scheme error now, before any connection is tried. */
export function checkBackendUrl(url: string): void {
  pickByScheme(url, "backend", BACKENDS);
}
