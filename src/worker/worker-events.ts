import type { Broker } from "../brokers/broker.js";
import type { Clock } from "../clock.js";
import { ConfigError } from "../errors.js";
import { EVENT_EXCHANGE, encodeEvent, routingKeyOf } from "../events/celery-event.js";
import { EventDispatcher } from "../events/event-dispatcher.js";
import { Heart, type RepeatTimer } from "../events/heartbeat.js";
import { failedFields, receivedFields, retriedFields, revokedFields, startedFields, succeededFields } from "../events/task-event-fields.js";
import type { Logger } from "../logger.js";
import type { TaskLifecycle } from "./task-lifecycle.js";

export interface WorkerEventsDeps {
  broker: Broker;
  lifecycle: TaskLifecycle;
  /** The worker's node name, the `hostname` of every event. */
  hostname: string;
  log: Logger;
  /** Event timestamps (epoch ms). */
  clock: Clock;
  /** For heartbeats: tasks running now, and handled so far. */
  stats: () => { active: number; processed: number };
  /** Celery's --heartbeat-interval. Default 2000 ms. */
  heartbeatIntervalMs?: number;
  timer?: RepeatTimer;
}

/** How long stopping waits for worker-offline to reach the broker (an unreachable one must not hold the shutdown). */
const OFFLINE_WAIT_MS = 2_000;

/**
 * A worker's Celery events (`ebb worker -E`): task events from the task lifecycle, and the
 * heartbeat (worker-online, worker-heartbeat every 2 s, worker-offline). Off by default, as in
 * Celery. The switch:
 *
 *   enable()   task events on; the heartbeat starts (worker-online) if it was not running.
 *              What `-E`, `events: true` and Celery's `enable_events` control command do.
 *   disable()  task events off. The heartbeat goes on, as Celery's `disable_events` leaves it,
 *              so monitors keep seeing the worker alive.
 *
 * The heartbeat ends with the worker (worker-offline).
 */
export class WorkerEvents {
  readonly #dispatcher: EventDispatcher | null;
  readonly #heart: Heart | null;
  readonly #brokerUrl: string;
  #taskEvents = false;
  #workerRunning = false;
  #heartWanted = false;

  constructor(deps: WorkerEventsDeps, enabled: boolean) {
    const { broker } = deps;
    this.#brokerUrl = broker.url;
    const publishEvent = broker.capabilities.events ? broker.publishEvent?.bind(broker) : undefined;
    if (publishEvent) {
      this.#dispatcher = new EventDispatcher({
        hostname: deps.hostname,
        log: deps.log,
        clock: deps.clock,
        target: broker.url,
        publish: (event) => publishEvent(encodeEvent(event), { exchange: EVENT_EXCHANGE, routingKey: routingKeyOf(event.type) }),
      });
      const dispatcher = this.#dispatcher;
      this.#heart = new Heart({
        send: (type, fields) => dispatcher.send(type, fields),
        stats: deps.stats,
        ...(deps.heartbeatIntervalMs !== undefined ? { intervalMs: deps.heartbeatIntervalMs } : {}),
        ...(deps.timer ? { timer: deps.timer } : {}),
      });
    } else {
      this.#dispatcher = null;
      this.#heart = null;
    }
    if (enabled) this.enable();
    this.#listen(deps.lifecycle);
  }

  /** Whether this worker's broker can carry events at all (capabilities.events). */
  get supported(): boolean {
    return this.#dispatcher !== null;
  }

  /** Whether task events are being sent. */
  get enabled(): boolean {
    return this.#taskEvents;
  }

  /** Whether the heartbeat is running (worker-online sent, worker-offline not yet). */
  get heartbeating(): boolean {
    return this.#heart?.running ?? false;
  }

  /**
   * Send task events from now on, and start the heartbeat if it is not running (at once, or
   * when the worker starts). False when task events were already on. Throws ConfigError when
   * the broker cannot carry events.
   */
  enable(): boolean {
    if (!this.#dispatcher)
      throw new ConfigError(
        `The broker ${this.#brokerUrl} cannot carry Celery events; use a Redis broker (redis://) for ebb worker -E, Flower and celery events`,
      );
    this.#heartWanted = true;
    if (this.#workerRunning) void this.#heart?.start();
    if (this.#taskEvents) return false;
    this.#taskEvents = true;
    return true;
  }

  /** Stop sending task events (the heartbeat goes on, as in Celery). False when they were already off. */
  disable(): boolean {
    if (!this.#taskEvents) return false;
    this.#taskEvents = false;
    return true;
  }

  /** One worker-heartbeat now (Celery's `heartbeat` control command); nothing when events were never enabled. */
  async heartbeat(): Promise<void> {
    if (this.#heartWanted) await this.#heart?.beat();
  }

  /** The worker started consuming: worker-online and the heartbeat, if enabled. */
  workerStarted(): void {
    this.#workerRunning = true;
    if (this.#heartWanted) void this.#heart?.start();
  }

  /** The worker has stopped: worker-offline (waited for at most 2 s). */
  async workerStopped(): Promise<void> {
    this.#workerRunning = false;
    const offline = this.#heart?.stop();
    if (!offline) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([offline, new Promise<void>((r) => (timer = setTimeout(r, OFFLINE_WAIT_MS)))]);
    clearTimeout(timer);
  }

  #listen(lifecycle: TaskLifecycle): void {
    // Fields are built only while task events are on: a result's repr is not free.
    const send = (type: Parameters<EventDispatcher["send"]>[0], fields: () => Record<string, unknown>): void => {
      if (this.#taskEvents && this.#dispatcher) void this.#dispatcher.send(type, fields());
    };
    lifecycle.on("received", (m) => send("task-received", () => receivedFields(m)));
    lifecycle.on("started", (t) => send("task-started", () => startedFields(t.message)));
    lifecycle.on("succeeded", (m, i) => send("task-succeeded", () => succeededFields(m, i.result, i.runtimeMs)));
    lifecycle.on("failed", (m, i) => send("task-failed", () => failedFields(m, i.error, i.traceback)));
    lifecycle.on("retried", (m, i) => send("task-retried", () => retriedFields(m, i.error, i.traceback)));
    lifecycle.on("revoked", (m, i) => send("task-revoked", () => revokedFields(m, i)));
  }
}
