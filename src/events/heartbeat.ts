import { loadavg, type } from "node:os";
import { packageVersion } from "../package-version.js";
import type { WorkerEventType } from "./celery-event.js";

/** Runs fn every ms until the returned function is called. Injected so tests drive time themselves. */
export interface RepeatTimer {
  every(ms: number, fn: () => void): () => void;
}

/** setInterval, not keeping the process alive on its own. */
export const intervalTimer: RepeatTimer = {
  every(ms, fn) {
    const t = setInterval(fn, ms);
    t.unref();
    return () => clearInterval(t);
  },
};

/** Celery's worker heartbeat interval (celery/worker/heartbeat.py). */
export const HEARTBEAT_INTERVAL_MS = 2_000;

export interface HeartOptions {
  /** Sends one worker event (EventDispatcher.send). */
  send: (type: WorkerEventType, fields: Record<string, unknown>) => Promise<void>;
  /** Tasks running now, and handled so far. */
  stats: () => { active: number; processed: number };
  /** Default 2000 ms, as Celery. Monitors consider a worker gone after about twice this without a heartbeat. */
  intervalMs?: number;
  timer?: RepeatTimer;
  /** The 1, 5 and 15 minute load averages. Default: os.loadavg(). */
  loadavg?: () => number[];
}

/**
 * The worker heartbeat (celery/worker/heartbeat.py, Heart): worker-online when started, a
 * worker-heartbeat every interval, worker-offline when stopped. Each carries freq (seconds),
 * active, processed, loadavg and the software fields, which is what Flower and
 * celery.events.state.State judge a worker alive by.
 */
export class Heart {
  readonly #opts: HeartOptions;
  readonly #intervalMs: number;
  #cancel: (() => void) | null = null;

  constructor(opts: HeartOptions) {
    const intervalMs = opts.intervalMs ?? HEARTBEAT_INTERVAL_MS;
    if (!(Number.isFinite(intervalMs) && intervalMs > 0))
      throw new RangeError(`Expected the heartbeat intervalMs to be a number of ms > 0, got ${intervalMs}`);
    this.#opts = opts;
    this.#intervalMs = intervalMs;
  }

  get running(): boolean {
    return this.#cancel !== null;
  }

  /** Send worker-online and start the heartbeats; nothing when already running. */
  start(): Promise<void> {
    if (this.#cancel) return Promise.resolve();
    this.#cancel = (this.#opts.timer ?? intervalTimer).every(this.#intervalMs, () => void this.beat());
    return this.#send("worker-online");
  }

  /** Stop the heartbeats and send worker-offline; nothing when not running. */
  stop(): Promise<void> {
    if (!this.#cancel) return Promise.resolve();
    this.#cancel();
    this.#cancel = null;
    return this.#send("worker-offline");
  }

  /** One worker-heartbeat now (also what Celery's `heartbeat` control command asks for). */
  beat(): Promise<void> {
    return this.#send("worker-heartbeat");
  }

  #send(type: WorkerEventType): Promise<void> {
    const { active, processed } = this.#opts.stats();
    return this.#opts.send(type, {
      freq: this.#intervalMs / 1000,
      active,
      processed,
      loadavg: (this.#opts.loadavg ?? loadavg)()
        .slice(0, 3)
        .map((l) => Math.ceil(l * 100) / 100),
      ...SOFTWARE_INFO,
    });
  }
}

/** Celery's SOFTWARE_INFO (celery/worker/state.py), for an Ebb worker. */
export const SOFTWARE_INFO = {
  sw_ident: "ebb",
  sw_ver: packageVersion(),
  // Python's platform.system(): "Linux", "Darwin", "Windows".
  sw_sys: type() === "Windows_NT" ? "Windows" : type(),
} as const;
