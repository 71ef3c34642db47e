import type { Clock } from "../clock.js";
import type { Logger } from "../logger.js";
import { pickByScheme } from "../url.js";
import type { Broker } from "./broker.js";
import type { MemoryBroker } from "./memory/memory-broker.js";

export interface BrokerFromUrlOptions {
  /** Injected clock (tests). For memory:// only the first call for a URL decides it. */
  clock?: Clock;
  /** The app's log, for what a store notices in the background (Redis: outages, restorer errors). */
  log?: Logger;
}

type BrokerFactory = (url: string, opts: BrokerFromUrlOptions) => Promise<Broker>;

/**
 * One MemoryBroker per memory:// URL in this process, so an app and its in-process worker
 * that name the same URL meet on the same queues.
 */
const memoryBrokers = new Map<string, MemoryBroker>();

/** Implemented schemes → factories. Drivers load lazily, so an app pays only for the one it uses. */
const BROKERS: Record<string, BrokerFactory> = {
  memory: async (url, opts) => {
    const shared = memoryBrokers.get(url);
    if (shared) return shared;
    const { MemoryBroker } = await import("./memory/memory-broker.js");
    // Re-check: a concurrent call may have created it while the module loaded.
    const broker = memoryBrokers.get(url) ?? new MemoryBroker({ url, clock: opts.clock });
    memoryBrokers.set(url, broker);
    return broker;
  },
  sqlite: async (url, opts) => {
    const { SqliteBroker } = await import("./sqlite/sqlite-broker.js");
    return new SqliteBroker({ url, clock: opts.clock, log: opts.log });
  },
  redis: async (url, opts) => {
    const { RedisBroker } = await import("./redis/redis-broker.js");
    return RedisBroker.connect({ url, clock: opts.clock, log: opts.log });
  },
  rediss: async (url, opts) => {
    const { RedisBroker } = await import("./redis/redis-broker.js");
    return RedisBroker.connect({ url, clock: opts.clock, log: opts.log });
  },
  postgresql: (url, opts) => postgresBroker(url, opts),
  postgres: (url, opts) => postgresBroker(url, opts),
};

/** postgresql:// and postgres://: Ebb's own tables (migrated on connect); pg loads only here. */
async function postgresBroker(url: string, opts: BrokerFromUrlOptions): Promise<Broker> {
  const { PostgresBroker } = await import("./postgres/postgres-broker.js");
  return PostgresBroker.connect({ url, clock: opts.clock, log: opts.log });
}

/** The broker for a URL such as "sqlite://./ebb.db" or "memory://". Unknown schemes throw UnknownSchemeError listing the known ones. */
export async function brokerFromUrl(url: string, opts: BrokerFromUrlOptions = {}): Promise<Broker> {
  return pickByScheme(url, "broker", BROKERS)(url, opts);
}

/** Throw the unknown-scheme error now, before any connection is tried. */
export function checkBrokerUrl(url: string): void {
  pickByScheme(url, "broker", BROKERS);
}
