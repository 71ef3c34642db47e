import { hostname } from "node:os";
import type { Broker, Delivery } from "../brokers/broker.js";
import { releaseAt } from "../brokers/deferral.js";
import type { ResultBackend } from "../backends/result-backend.js";
import type { ResolvedConfig } from "../config.js";
import type { Logger } from "../logger.js";
import type { TaskDefinition } from "../task.js";
import { executeMessage, type ExecuteDeps } from "./execute-message.js";
import { Slots } from "./slots.js";

export interface WorkerOptions {
  /** How many tasks run at once (async handlers interleave on one event loop). Default 10. */
  concurrency?: number;
  /** Queues to consume, in order of preference. Default: the app's defaultQueue. */
  queues?: string[];
  /** Name stored with each result. Default "ebb-<pid>@<host>". */
  name?: string;
  /** How long one fetch waits for a message before looping. Default 1000 ms. */
  fetchWaitMs?: number;
  /** Messages with a future ETA held in memory (brokers without delayed delivery), beyond the running ones. Default 1000. */
  maxHeld?: number;
  /** Messages leased ahead of a free slot, so a finished task is followed without a round trip. Default: concurrency. 0 = none. */
  prefetch?: number;
}

export interface WorkerDeps {
  broker: Broker;
  backend: ResultBackend;
  registry: ReadonlyMap<string, TaskDefinition>;
  config: ResolvedConfig;
  log: Logger;
}

/**
 * The consume loop: lease as many messages as there are free slots, execute each, and keep the
 * leases of the ones in flight fresh so a slow task is not handed to another worker while this
 * one is alive. A message waiting for its ETA (on a broker that cannot delay) gives its slot
 * back while it waits, up to maxHeld of them. stop() is graceful: stop fetching, finish what is
 * in flight (held ETA messages go back to the broker), then resolve.
 */
export class Worker {
  readonly name: string;
  readonly #deps: WorkerDeps;
  readonly #concurrency: number;
  readonly #queues: string[];
  readonly #fetchWaitMs: number;
  readonly #maxHeld: number;
  readonly #prefetch: number;
  readonly #slots: Slots;
  readonly #held = new Set<Delivery>();
  readonly #inFlight = new Map<Delivery, Promise<unknown>>();
  readonly #stopFetching = new AbortController();
  readonly #hardStop = new AbortController();
  #running: Promise<void> | null = null;
  /** What executeMessage needs, built once rather than per message. */
  readonly #execDeps: ExecuteDeps;
  #processed = 0;
  #extending = false;

  constructor(deps: WorkerDeps, options: WorkerOptions = {}) {
    const concurrency = options.concurrency ?? 10;
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new TypeError(`Expected worker concurrency to be an integer >= 1, got ${concurrency}`);
    this.#deps = deps;
    this.#concurrency = concurrency;
    this.#queues = options.queues && options.queues.length > 0 ? options.queues : [deps.config.defaultQueue];
    this.#fetchWaitMs = options.fetchWaitMs ?? 1_000;
    this.#maxHeld = options.maxHeld ?? 1_000;
    this.#prefetch = options.prefetch ?? concurrency;
    if (!Number.isInteger(this.#prefetch) || this.#prefetch < 0) throw new TypeError(`Expected worker prefetch to be an integer >= 0, got ${this.#prefetch}`);
    this.#slots = new Slots(concurrency);
    this.name = options.name ?? `ebb-${process.pid}@${hostname()}`;
    this.#execDeps = { ...deps, workerName: this.name, signal: this.#hardStop.signal, holdUntil: (d, at) => this.#hold(d, at) };
  }

  /** Messages this worker has finished (stored/acked, dead-lettered or deferred). */
  get processed(): number {
    return this.#processed;
  }

  /** Messages being executed now (not prefetched ones waiting for a slot, nor ones waiting for their ETA). */
  get active(): number {
    return this.#concurrency - this.#slots.free;
  }

  /** Start consuming; resolves when the worker has stopped. Calling it twice returns the same promise. */
  start(): Promise<void> {
    this.#running ??= this.#run();
    return this.#running;
  }

  /**
   * Stop now: stop fetching and abort currentTask().signal in every running handler. Handlers
   * that honour the signal end early; their messages are not acked and come back after the
   * visibility timeout, so nothing is lost.
   */
  abort(): void {
    this.#stopFetching.abort();
    this.#hardStop.abort();
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
        // Running + waiting for a slot may reach concurrency + prefetch; held ETA messages count apart.
        const waiting = this.#inFlight.size - this.#held.size;
        const room = Math.min(this.#concurrency + this.#prefetch - waiting, this.#maxHeld - this.#held.size);
        if (room <= 0) {
          await Promise.race(this.#inFlight.values());
          continue;
        }
        let deliveries: Delivery[];
        try {
          deliveries = await broker.fetch(this.#queues, room, { visibilityTimeoutMs: vt, waitMs: this.#fetchWaitMs, signal: this.#stopFetching.signal });
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
    const deps = this.#execDeps;
    const task = this.#slots
      .acquire()
      .then(async () => {
        // A prefetched message that never started goes back at once when the worker stops.
        if (this.#stopFetching.signal.aborted) {
          this.#slots.release();
          await this.#deps.broker.release(delivery, null);
          throw new HeldOnShutdown();
        }
        await executeMessage(deps, delivery).finally(() => this.#slots.release());
      })
      .then(() => {
        this.#processed++;
      })
      .catch((e: unknown) => {
        if (e instanceof HeldOnShutdown) return;
        // The message stays leased and comes back after the visibility timeout: nothing is lost.
        this.#deps.log.error(`Message on queue "${delivery.queue}" could not be handled and will be redelivered: ${(e as Error).message}`);
      })
      .finally(() => this.#inFlight.delete(delivery));
    this.#inFlight.set(delivery, task);
  }

  /** Wait for an ETA without holding a slot; on shutdown the message goes back to the broker instead. */
  async #hold(delivery: Delivery, at: number): Promise<void> {
    this.#slots.release();
    this.#held.add(delivery);
    try {
      await delay(Math.max(0, at - (await this.#deps.broker.now())), this.#stopFetching.signal);
    } finally {
      this.#held.delete(delivery);
    }
    if (this.#stopFetching.signal.aborted && at > (await this.#deps.broker.now())) {
      await this.#deps.broker.release(delivery, releaseAt(this.#deps.broker.capabilities, at));
      await this.#slots.acquire();
      throw new HeldOnShutdown();
    }
    await this.#slots.acquire();
  }

  async #extendLeases(): Promise<void> {
    // One refresh at a time: during an outage, queued refreshes would only pile up behind each other.
    if (this.#inFlight.size === 0 || this.#extending || this.#deps.broker.capabilities.delivery !== "lease") return;
    this.#extending = true;
    try {
      await this.#deps.broker.extend([...this.#inFlight.keys()], this.#deps.config.visibilityTimeoutMs);
    } catch (e) {
      this.#deps.log.warn(`Could not refresh message leases: ${(e as Error).message}`);
    } finally {
      this.#extending = false;
    }
  }
}

/** A held or prefetched message was handed back to the broker because the worker is stopping. */
class HeldOnShutdown extends Error {}

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
