import type { Logger } from "./logger.js";

/** Where background jobs (a restorer, an index trimmer, a clock refresh) report how they went. */
export interface BackgroundReport {
  /** A run of `component` failed; logged with its name, and not again for the same error until it succeeds. */
  failed(component: string, error: unknown): void;
  succeeded(component: string): void;
}

/** What StoreHealth needs of a connection: ioredis's events. */
export interface ConnectionEvents {
  on(event: "error", listener: (error: Error) => void): unknown;
  on(event: "reconnecting" | "ready" | "end", listener: () => void): unknown;
}

/**
 * What the app's log says about one store server: that it is unreachable, once per outage
 * however many connections and polls notice it, and that it is reachable again; and the errors of
 * its background jobs, by component name, once per distinct error. One per (logger, server) in a
 * process, so a worker's broker and backend on the same Redis share it: see storeHealth().
 */
export class StoreHealth implements BackgroundReport {
  readonly #down = new Set<object>();
  readonly #failing = new Map<string, { message: string; repeats: number }>();
  #outageStart: number | null = null;

  constructor(
    private readonly log: Logger,
    /** The server as the log names it, e.g. "Redis at 127.0.0.1:6379" (never with a password). */
    readonly store: string,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get reachable(): boolean {
    return this.#outageStart === null;
  }

  /**
   * Follow one connection: it is down from the moment it starts reconnecting until it is ready
   * again, and leaves on "end" (closed on purpose). The store is unreachable while any followed
   * connection is down.
   */
  follow(connection: ConnectionEvents, name: string): void {
    let lastError: Error | null = null;
    connection.on("error", (e) => {
      lastError = e;
    });
    connection.on("reconnecting", () => this.#lost(connection, `${name}: ${lastError?.message ?? "connection closed"}`));
    connection.on("ready", () => {
      lastError = null;
      this.#back(connection);
    });
    connection.on("end", () => {
      this.#down.delete(connection);
      if (this.#down.size === 0) this.#outageStart = null;
    });
  }

  failed(component: string, error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    // While the store is unreachable, its jobs fail because of it: the outage line has said so.
    if (!this.reachable) return;
    const last = this.#failing.get(component);
    if (last?.message === message) {
      last.repeats++;
      return;
    }
    this.#failing.set(component, { message, repeats: 0 });
    this.log.error(
      `${component} (${this.store}) failed: ${message}; it runs again by itself, and this is not logged again until it succeeds or fails differently`,
    );
  }

  succeeded(component: string): void {
    const last = this.#failing.get(component);
    if (!last) return;
    this.#failing.delete(component);
    this.log.info(`${component} (${this.store}) works again${last.repeats > 0 ? ` after ${last.repeats + 1} failed runs` : ""}`);
  }

  #lost(connection: object, why: string): void {
    this.#down.add(connection);
    if (this.#outageStart !== null) return;
    this.#outageStart = this.now();
    this.log.warn(`${this.store} is unreachable (${why}); retrying, and commands wait until it is back`);
  }

  #back(connection: object): void {
    if (!this.#down.delete(connection) || this.#down.size > 0 || this.#outageStart === null) return;
    const seconds = ((this.now() - this.#outageStart) / 1000).toFixed(1);
    this.#outageStart = null;
    this.log.info(`${this.store} recovered: reachable again after ${seconds} s`);
  }
}

const shared = new WeakMap<Logger, Map<string, StoreHealth>>();

/** The StoreHealth of `store` for this logger, shared by every connection of this process that logs there. */
export function storeHealth(log: Logger, store: string): StoreHealth {
  let byStore = shared.get(log);
  if (!byStore) {
    byStore = new Map();
    shared.set(log, byStore);
  }
  let health = byStore.get(store);
  if (!health) {
    health = new StoreHealth(log, store);
    byStore.set(store, health);
  }
  return health;
}
