import { hostname } from "node:os";
import type { Broker, Delivery } from "../brokers/broker.js";
import type { ResultBackend } from "../backends/result-backend.js";
import type { ResolvedConfig } from "../config.js";
import type { Logger } from "../logger.js";
import type { TaskDefinition } from "../task.js";
import { executeMessage, type ExecuteDeps } from "./execute-message.js";

export interface WorkerOptions {
  /** How many tasks run at once (async handlers interleave on one event loop). Default 10. */
  concurrency?: number;
  /** Queues to consume, in order of preference. Default: the app's defaultQueue. */
  queues?: string[];
  /** Name stored with each result. Default "ebb-<pid>@<host>". */
  name?: string;
  /** How long one fetch waits for a message before looping. Default 1000 ms. */
  fetchWaitMs?: number;
}

export interface WorkerDeps {
  broker: Broker;
  backend: ResultBackend;
  registry: ReadonlyMap<string, TaskDefinition>;
  config: ResolvedConfig;
  log: Logger;
}

/**
 * The consume loop: lease up to `concurrency` messages, execute each, and keep the leases of
 * the ones in flight fresh so a slow task is not handed to another worker while this one is
 * alive. stop() is graceful: stop fetching, finish what is in flight, then resolve.
 */
export class Worker {
  readonly name: string;
  readonly #deps: WorkerDeps;
  readonly #concurrency: number;
  readonly #queues: string[];
  readonly #fetchWaitMs: number;
  readonly #inFlight = new Map<Delivery, Promise<unknown>>();
  readonly #stopFetching = new AbortController();
  readonly #hardStop = new AbortController();
  #running: Promise<void> | null = null;
  #processed = 0;

  constructor(deps: WorkerDeps, options: WorkerOptions = {}) {
    const concurrency = options.concurrency ?? 10;
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new TypeError(`Expected worker concurrency to be an integer >= 1, got ${concurrency}`);
    this.#deps = deps;
    this.#concurrency = concurrency;
    this.#queues = options.queues && options.queues.length > 0 ? options.queues : [deps.config.defaultQueue];
    this.#fetchWaitMs = options.fetchWaitMs ?? 1_000;
    this.name = options.name ?? `ebb-${process.pid}@${hostname()}`;
  }

  /** Messages this worker has finished (stored/acked, dead-lettered or deferred). */
  get processed(): number {
    return this.#processed;
  }

  get active(): number {
    return this.#inFlight.size;
  }

  /** Start consuming; resolves when the worker has stopped. Calling it twice returns the same promise. */
  start(): Promise<void> {
    this.#running ??= this.#run();
    return this.#running;
  }

  /** Stop fetching and wait for tasks in flight. */
  async stop(): Promise<void> {
    this.#stopFetching.abort();
    await (this.#running ?? Promise.resolve());
  }

  async #run(): Promise<void> {
    const { broker, config, log } = this.#deps;
    const vt = config.visibilityTimeoutMs;
    const heartbeat = setInterval(() => void this.#extendLeases(), Math.max(250, Math.min(60_000, Math.floor(vt / 3))));
    heartbeat.unref();
    log.info(`Worker ${this.name} consuming ${this.#queues.join(", ")} from ${broker.url} (concurrency ${this.#concurrency})`);
    let backoffMs = 0;
    try {
      while (!this.#stopFetching.signal.aborted) {
        if (this.#inFlight.size >= this.#concurrency) {
          await Promise.race(this.#inFlight.values());
          continue;
        }
        let deliveries: Delivery[];
        try {
          deliveries = await broker.fetch(this.#queues, this.#concurrency - this.#inFlight.size, { visibilityTimeoutMs: vt, waitMs: this.#fetchWaitMs, signal: this.#stopFetching.signal });
          backoffMs = 0;
        } catch (e) {
          backoffMs = Math.min(30_000, backoffMs === 0 ? 500 : backoffMs * 2);
          log.error(`Fetching from ${broker.url} failed: ${(e as Error).message}; retrying in ${backoffMs} ms`);
          await delay(backoffMs, this.#stopFetching.signal);
          continue;
        }
        for (const d of deliveries) this.#launch(d);
      }
      await Promise.allSettled(this.#inFlight.values());
    } finally {
      clearInterval(heartbeat);
      log.info(`Worker ${this.name} stopped after ${this.#processed} messages`);
    }
  }

  #launch(delivery: Delivery): void {
    const deps: ExecuteDeps = {
      ...this.#deps,
      workerName: this.name,
      now: this.#deps.config.clock,
      signal: this.#hardStop.signal,
      holdUntil: (_d, at) => delay(Math.max(0, at - this.#deps.config.clock())),
    };
    const task = executeMessage(deps, delivery)
      .then(() => {
        this.#processed++;
      })
      .catch((e: unknown) => {
        // The message stays leased and comes back after the visibility timeout: nothing is lost.
        this.#deps.log.error(`Message on queue "${delivery.queue}" could not be handled and will be redelivered: ${(e as Error).message}`);
      })
      .finally(() => this.#inFlight.delete(delivery));
    this.#inFlight.set(delivery, task);
  }

  async #extendLeases(): Promise<void> {
    if (this.#inFlight.size === 0) return;
    try {
      await this.#deps.broker.extend([...this.#inFlight.keys()], this.#deps.config.visibilityTimeoutMs);
    } catch (e) {
      this.#deps.log.warn(`Could not refresh message leases: ${(e as Error).message}`);
    }
  }
}

function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
