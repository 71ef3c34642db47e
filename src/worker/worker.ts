import { hostname } from "node:os";
import type { Broker, Delivery } from "../brokers/broker.js";
import type { ResultBackend } from "../backends/result-backend.js";
import type { ResolvedConfig } from "../config.js";
import type { Logger } from "../logger.js";
import type { TaskDefinition } from "../task.js";
import { executeMessage, type ExecuteDeps, type ExecuteResult } from "./execute-message.js";
import { checkLimitPair, parseTimeLimit } from "../time-limit-options.js";
import { Slots } from "./slots.js";
import { TaskLifecycle } from "./task-lifecycle.js";

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
  /** A held ETA message re-reads the broker's clock at least this often, so it follows that clock (not a timer's idea of it). Default 1000 ms. */
  etaCheckMs?: number;
  /** Hard time limit of tasks that set none themselves (Celery's worker --time-limit). Default: the app's timeLimit. */
  timeLimitMs?: number;
  /** Soft time limit of tasks that set none themselves (--soft-time-limit). Default: the app's softTimeLimit. */
  softTimeLimitMs?: number;
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
 * in flight, give held ETA messages and unstarted prefetched ones back to the queue at once (as
 * Celery's warm shutdown does), then resolve.
 *
 * Slots: #handle() alone takes them, and each acquire is paired with the release in the finally
 * beside it, so whatever throws (the broker's clock, a release, a store) a slot is given back once.
 */
/** The longest delay setTimeout keeps (longer ones fire at once). */
const MAX_TIMER_MS = 2_147_483_647;

export class Worker {
  readonly name: string;
  /** Each task's moments (received, started, succeeded, ...) and the tasks running now. */
  readonly lifecycle: TaskLifecycle;
  readonly #deps: WorkerDeps;
  readonly #concurrency: number;
  readonly #queues: string[];
  readonly #fetchWaitMs: number;
  readonly #maxHeld: number;
  readonly #prefetch: number;
  readonly #etaCheckMs: number;
  readonly #slots: Slots;
  readonly #held = new Set<Delivery>();
  readonly #inFlight = new Map<Delivery, Promise<unknown>>();
  /** Wakes the fetch loop when it waits for room and room is made (a message settles or starts waiting for its ETA). */
  #onSettled: (() => void) | null = null;
  readonly #stopFetching = new AbortController();
  readonly #hardStop = new AbortController();
  #running: Promise<void> | null = null;
  /** What executeMessage needs, built once rather than per message. */
  readonly #execDeps: ExecuteDeps;
  #processed = 0;
  #extending = false;

  constructor(deps: WorkerDeps, options: WorkerOptions = {}) {
    const concurrency = options.concurrency ?? 10;
    if (!Number.isInteger(concurrency) || concurrency < 1)
      throw new TypeError(`Expected worker concurrency to be an integer >= 1, got ${concurrency}`);
    this.#deps = deps;
    this.#concurrency = concurrency;
    this.#queues = options.queues && options.queues.length > 0 ? options.queues : [deps.config.defaultQueue];
    this.#fetchWaitMs = options.fetchWaitMs ?? 1_000;
    this.#maxHeld = options.maxHeld ?? 1_000;
    this.#prefetch = options.prefetch ?? concurrency;
    if (!Number.isInteger(this.#prefetch) || this.#prefetch < 0)
      throw new TypeError(`Expected worker prefetch to be an integer >= 0, got ${this.#prefetch}`);
    this.#etaCheckMs = options.etaCheckMs ?? 1_000;
    if (!(Number.isFinite(this.#etaCheckMs) && this.#etaCheckMs > 0 && this.#etaCheckMs <= MAX_TIMER_MS)) {
      throw new TypeError(`Expected worker etaCheckMs to be a number of ms in (0, ${MAX_TIMER_MS}], got ${this.#etaCheckMs}`);
    }
    this.#slots = new Slots(concurrency);
    this.name = options.name ?? `ebb-${process.pid}@${hostname()}`;
    this.lifecycle = new TaskLifecycle(deps.log);
    this.#execDeps = {
      ...deps,
      config: workerLimits(deps.config, options),
      workerName: this.name,
      signal: this.#hardStop.signal,
      lifecycle: this.lifecycle,
    };
  }

  /** Messages this worker has finished (stored/acked, dead-lettered or deferred). */
  get processed(): number {
    return this.#processed;
  }

  /** Messages being executed now (not prefetched ones waiting for a slot, nor ones waiting for their ETA). */
  get active(): number {
    return this.#concurrency - this.#slots.free;
  }

  /** Messages waiting in memory for their ETA (brokers without delayed delivery); they take no slot. */
  get held(): number {
    return this.#held.size;
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

  /**
   * Hard stop, for a process about to exit: abort, and give every message still in flight back
   * to the queue now, unacknowledged, so it runs again (as kombu restores unacked messages when
   * a worker shuts down). Resolves with how many went back; a message the broker would not take
   * back stays leased and comes back after the visibility timeout.
   */
  async abortAndGiveBack(): Promise<number> {
    this.abort();
    const back = await Promise.allSettled([...this.#inFlight.keys()].map((d) => this.#deps.broker.release(d, null)));
    return back.filter((r) => r.status === "fulfilled").length;
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
          // Not Promise.race over the in-flight promises: each race leaves a reaction on every
          // one of them until it settles, so a long task (or a held ETA message) would collect
          // one per completion of the others and grow the heap for as long as it runs.
          await new Promise<void>((resolve) => {
            this.#onSettled = resolve;
          });
          continue;
        }
        let deliveries: Delivery[];
        try {
          deliveries = await broker.fetch(this.#queues, room, {
            visibilityTimeoutMs: vt,
            waitMs: this.#fetchWaitMs,
            signal: this.#stopFetching.signal,
          });
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
    const task = this.#handle(delivery)
      .then((finished) => {
        if (finished) this.#processed++;
      })
      .catch((e: unknown) => {
        // The message stays leased and comes back after the visibility timeout: nothing is lost.
        this.#deps.log.error(`Message on queue "${delivery.queue}" could not be handled and will be redelivered: ${(e as Error).message}`);
      })
      .finally(() => {
        this.#inFlight.delete(delivery);
        this.#wake();
      });
    this.#inFlight.set(delivery, task);
  }

  /** Run one delivery to its end; false when it went back to the queue because the worker is stopping. */
  async #handle(delivery: Delivery): Promise<boolean> {
    for (;;) {
      let result: ExecuteResult;
      await this.#slots.acquire();
      try {
        // A prefetched message that never started goes back at once when the worker stops.
        if (this.#stopFetching.signal.aborted) {
          await this.#deps.broker.release(delivery, null);
          return false;
        }
        result = await executeMessage(this.#execDeps, delivery);
      } finally {
        this.#slots.release();
      }
      if (typeof result === "string") return true;
      if (!(await this.#holdUntil(delivery, result.holdUntil))) return false;
    }
  }

  #wake(): void {
    const wake = this.#onSettled;
    this.#onSettled = null;
    wake?.();
  }

  /**
   * Wait, without a slot, until the broker's clock reaches `at`; true when it has. On a warm stop
   * the message goes back to the queue at once (false), so another worker holds it rather than
   * it sitting leased until some restore notices. The lease is kept fresh meanwhile (#inFlight).
   */
  async #holdUntil(delivery: Delivery, at: number): Promise<boolean> {
    const { broker, log } = this.#deps;
    this.#held.add(delivery);
    // A held message takes no room: the fetch loop may take more while it waits.
    this.#wake();
    try {
      for (;;) {
        if (this.#stopFetching.signal.aborted) {
          await broker.release(delivery, null);
          return false;
        }
        let now: number;
        try {
          now = await broker.now();
        } catch (e) {
          log.warn(
            `Could not read the clock of ${broker.url} while holding a message until its ETA: ${(e as Error).message}; trying again in ${this.#etaCheckMs} ms`,
          );
          await delay(this.#etaCheckMs, this.#stopFetching.signal);
          continue;
        }
        if (now >= at) return true;
        await delay(Math.min(at - now, this.#etaCheckMs), this.#stopFetching.signal);
      }
    } finally {
      this.#held.delete(delivery);
    }
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

/** The app's config with this worker's own default time limits, checked as the app's are. */
function workerLimits(config: ResolvedConfig, options: WorkerOptions): ResolvedConfig {
  if (options.timeLimitMs === undefined && options.softTimeLimitMs === undefined) return config;
  const hard = options.timeLimitMs === undefined ? undefined : parseTimeLimit(options.timeLimitMs, "worker timeLimitMs", "ms");
  const soft = options.softTimeLimitMs === undefined ? undefined : parseTimeLimit(options.softTimeLimitMs, "worker softTimeLimitMs", "ms");
  checkLimitPair("worker", hard, soft);
  return { ...config, timeLimitMs: hard ?? config.timeLimitMs, softTimeLimitMs: soft ?? config.softTimeLimitMs };
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
