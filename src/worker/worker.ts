import { setMaxListeners } from "node:events";
import { hostname } from "node:os";
import type { Broker, Delivery } from "../brokers/broker.js";
import type { ResultBackend } from "../backends/result-backend.js";
import type { ResolvedConfig } from "../config.js";
import type { Logger } from "../logger.js";
import type { TaskDefinition } from "../task.js";
import type { ControlListener } from "../control/broker-control.js";
import type { ControlReply, ControlRequest } from "../control/control-request.js";
import { RevokedSet, type RevokedSetOptions } from "../control/revoked-set.js";
import { executeMessage, TaskTerminated, type ExecuteDeps, type ExecuteResult } from "./execute-message.js";
import { checkLimitPair, parseTimeLimit } from "../time-limit-options.js";
import { Slots } from "./slots.js";
import { TaskLifecycle } from "./task-lifecycle.js";
import { WorkerEvents } from "./worker-events.js";
import { WorkerPanel } from "./worker-panel.js";

/** The longest wait between two fetches that failed (0.5 s, doubling). */
const FETCH_BACKOFF_MAX_MS = 5_000;

export interface WorkerOptions {
  /** How many tasks run at once (async handlers interleave on one event loop). Default 10. */
  concurrency?: number;
  /** Queues to consume, in order of preference. Default: the app's defaultQueue. */
  queues?: string[];
  /** Name stored with each result, and the node name remote control addresses (`celery inspect -d NAME`). Default "ebb-<pid>@<host>". */
  name?: string;
  /** How long one fetch waits for a message before looping. Default 1000 ms. */
  fetchWaitMs?: number;
  /** Messages with a future ETA held in memory (brokers without delayed delivery), beyond the running ones. Default 1000. */
  maxHeld?: number;
  /** Messages leased ahead of a free slot, so a finished task is followed without a round trip. Default: concurrency. 0 = none. */
  prefetch?: number;
  /** A held ETA message re-reads the broker's clock at least this often, so it follows that clock (not a timer's idea of it). Default 1000 ms. */
  etaCheckMs?: number;
  /**
   * Send Celery's monitoring events (task events and the heartbeat) for `celery events`, Flower
   * and celery-exporter, as `celery worker -E` does. Default: the app's workerEvents (false).
   * The broker must carry events (Redis, memory); worker.events switches them at run time.
   */
  events?: boolean;
  /** How often the event heartbeat is sent while events are on (Celery's --heartbeat-interval). Default 2000 ms. */
  heartbeatIntervalMs?: number;
  /** Bounds of the revoked ids kept (default Celery's: 50,000 ids, each for 3 hours). */
  revoked?: RevokedSetOptions;
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
  /** Celery events from this worker: enable() / disable() switch them at run time (remote control's enable_events). */
  readonly events: WorkerEvents;
  /** Task ids this worker was told to revoke (remote control): their messages end REVOKED without running. */
  readonly revoked: RevokedSet;
  readonly #deps: WorkerDeps;
  readonly #concurrency: number;
  readonly #queues: string[];
  readonly #fetchWaitMs: number;
  readonly #maxHeld: number;
  readonly #prefetch: number;
  /** The most one fetch asks for: half of concurrency + prefetch (at least 1). */
  readonly #fetchBatch: number;
  readonly #etaCheckMs: number;
  readonly #slots: Slots;
  /** Messages held for their ETA → that ETA (epoch ms, broker clock). */
  readonly #held = new Map<Delivery, number>();
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
  readonly #startedAt = Date.now();

  constructor(deps: WorkerDeps, options: WorkerOptions = {}) {
    // Each running task links its own signal to the hard stop (task-lifecycle.ts), so a worker
    // with concurrency above 10 has more than 10 listeners on it by design, not by a leak.
    setMaxListeners(0, this.#hardStop.signal);
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
    this.#fetchBatch = Math.max(1, Math.ceil((concurrency + this.#prefetch) / 2));
    this.#etaCheckMs = options.etaCheckMs ?? 1_000;
    if (!(Number.isFinite(this.#etaCheckMs) && this.#etaCheckMs > 0 && this.#etaCheckMs <= MAX_TIMER_MS)) {
      throw new TypeError(`Expected worker etaCheckMs to be a number of ms in (0, ${MAX_TIMER_MS}], got ${this.#etaCheckMs}`);
    }
    this.#slots = new Slots(concurrency);
    this.name = options.name ?? `ebb-${process.pid}@${hostname()}`;
    this.lifecycle = new TaskLifecycle(deps.log);
    this.events = new WorkerEvents(
      {
        broker: deps.broker,
        lifecycle: this.lifecycle,
        hostname: this.name,
        log: deps.log,
        clock: deps.config.clock,
        stats: () => ({ active: this.active, processed: this.#processed }),
        ...(options.heartbeatIntervalMs !== undefined ? { heartbeatIntervalMs: options.heartbeatIntervalMs } : {}),
      },
      options.events ?? deps.config.workerEvents,
    );
    this.revoked = new RevokedSet({ clock: deps.config.clock, ...options.revoked });
    this.#execDeps = {
      ...deps,
      config: workerLimits(deps.config, options),
      workerName: this.name,
      signal: this.#hardStop.signal,
      lifecycle: this.lifecycle,
      isRevoked: (id) => this.revoked.has(id),
      finish: deps.backend.finishWith?.(deps.broker) ?? null,
    };
  }

  /** Aborted once the worker begins to stop (stop(), abort(), or remote control's shutdown). */
  get stopping(): AbortSignal {
    return this.#stopFetching.signal;
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

  /**
   * Revoke task ids on this worker alone (remote control's revoke does this on every worker):
   * their messages end REVOKED without running; with terminate, a running one's
   * currentTask().signal aborts and it ends REVOKED("terminated"). Returns the ids terminated.
   */
  revoke(ids: string[], options: { terminate?: boolean; signal?: string } = {}): string[] {
    this.revoked.add(ids);
    if (!options.terminate) return [];
    return ids.filter((id) => this.#terminate(id, options.signal ?? "SIGTERM"));
  }

  #terminate(id: string, signal: string): boolean {
    const task = this.lifecycle.activeTask(id);
    if (!task) return false;
    this.#deps.log.warn(`Terminating task ${task.message.task}[${id}] (${signal}): its signal is aborted`);
    task.abort(new TaskTerminated(id, signal));
    return true;
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
    log.info(
      `Worker ${this.name} consuming ${this.#queues.join(", ")} from ${broker.url} (concurrency ${this.#concurrency}${this.events.enabled ? ", sending events" : ""})`,
    );
    this.events.workerStarted();
    let backoffMs = 0;
    const control = await this.#listenForControl();
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
          // At most half the window per fetch: while one batch's results are written, the next
          // is fetched and runs, instead of every fetch waiting for the last batch's acks.
          deliveries = await broker.fetch(this.#queues, Math.min(room, this.#fetchBatch), {
            visibilityTimeoutMs: vt,
            waitMs: this.#fetchWaitMs,
            signal: this.#stopFetching.signal,
          });
          backoffMs = 0;
        } catch (e) {
          // Short enough that work resumes within seconds of the store coming back.
          backoffMs = Math.min(FETCH_BACKOFF_MAX_MS, backoffMs === 0 ? 500 : backoffMs * 2);
          log.error(`Fetching from ${broker.url} failed: ${(e as Error).message}; retrying in ${backoffMs} ms`);
          await delay(backoffMs, this.#stopFetching.signal);
          continue;
        }
        for (const d of deliveries) this.#launch(d);
      }
      await Promise.allSettled(this.#inFlight.values());
    } finally {
      clearInterval(heartbeat);
      await control?.close().catch((e: unknown) => log.warn(`Could not stop listening for remote control: ${(e as Error).message}`));
      await this.events.workerStopped();
      log.info(`Worker ${this.name} stopped after ${this.#processed} messages`);
    }
  }

  /** Answer Celery's remote control (ping, inspect, revoke, shutdown) when the broker carries it; a worker without it still works. */
  async #listenForControl(): Promise<ControlListener | null> {
    const { broker, log } = this.#deps;
    if (!broker.control) return null;
    const panel = new WorkerPanel(this, this.#panelView());
    try {
      return await broker.control.listen(async (request: ControlRequest): Promise<ControlReply | null> => panel.handle(request));
    } catch (e) {
      log.error(`Remote control is off for worker ${this.name}: could not listen on ${broker.url}: ${(e as Error).message}`);
      return null;
    }
  }

  /** What the remote control panel reads of this worker's state. */
  #panelView() {
    return {
      registry: this.#deps.registry,
      queues: this.#queues,
      concurrency: this.#concurrency,
      prefetch: this.#prefetch,
      startedAt: this.#startedAt,
      brokerUrl: this.#deps.broker.url,
      backendUrl: this.#deps.backend.url,
      config: this.#deps.config,
      waiting: () => [...this.#inFlight.keys()].filter((d) => !this.#held.has(d)),
      held: () => [...this.#held.entries()],
      terminate: (id: string, signal: string) => this.#terminate(id, signal),
      shutdown: () => void this.stop(),
    };
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
      // The slot goes back as soon as the task has run: its result and ack are written while the
      // next message runs (the message still counts against concurrency + prefetch until acked).
      let held = true;
      const freeSlot = () => {
        if (held) this.#slots.release();
        held = false;
      };
      try {
        // A prefetched message that never started goes back at once when the worker stops.
        if (this.#stopFetching.signal.aborted) {
          await this.#deps.broker.release(delivery, null);
          return false;
        }
        result = await executeMessage(this.#execDeps, delivery, freeSlot);
      } finally {
        freeSlot();
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
    this.#held.set(delivery, at);
    // A revoked message need not wait for its ETA: it is let go at the next look and ends REVOKED.
    const id = delivery.message?.headers.id;
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
        if (now >= at || (typeof id === "string" && this.revoked.has(id))) return true;
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
