import { hostname } from "node:os";
import type { Delivery } from "../brokers/broker.js";
import type { ControlReply, ControlRequest } from "../control/control-request.js";
import { handleControl, taskInfo, type PanelTarget, type ScheduledInfo, type TaskInfo } from "../control/panel.js";
import { decodeTaskMessage, type TaskMessage } from "../protocol/task-message.js";
import type { ResolvedConfig } from "../config.js";
import type { TaskDefinition } from "../task.js";
import type { Worker } from "./worker.js";

/** What the panel reads of a worker's private state (Worker builds it). */
export interface WorkerPanelView {
  registry: ReadonlyMap<string, TaskDefinition>;
  queues: readonly string[];
  concurrency: number;
  prefetch: number;
  /** Epoch ms. */
  startedAt: number;
  brokerUrl: string;
  /** The result backend's URL, password hidden. */
  backendUrl: string;
  config: ResolvedConfig;
  /** Deliveries taken and not held for an ETA: running, or prefetched and waiting for a slot. */
  waiting(): Delivery[];
  /** Deliveries held for their ETA, with it (epoch ms). */
  held(): [Delivery, number][];
  terminate(id: string, signal: string): boolean;
  shutdown(): void;
}

/** A worker as Celery's remote control sees it: the answers of celery/worker/control.py, from Ebb's state. */
export class WorkerPanel implements PanelTarget {
  readonly #worker: Worker;
  readonly #view: WorkerPanelView;
  /** Tasks started per name since the worker started (Celery's stats "total"). */
  readonly #total = new Map<string, number>();

  constructor(worker: Worker, view: WorkerPanelView) {
    this.#worker = worker;
    this.#view = view;
    worker.lifecycle.on("started", (t) => this.#total.set(t.message.task, (this.#total.get(t.message.task) ?? 0) + 1));
  }

  get hostname(): string {
    return this.#worker.name;
  }

  get revoked() {
    return this.#worker.revoked;
  }

  handle(request: ControlRequest): ControlReply | null {
    return handleControl(this, request);
  }

  active(): TaskInfo[] {
    return this.#worker.lifecycle.active.map((t) =>
      taskInfo(t.message, this.hostname, { startedAt: t.startedAt, redelivered: t.delivery.redelivered }),
    );
  }

  reserved(): TaskInfo[] {
    const running = new Set(this.#worker.lifecycle.active.map((t) => t.delivery));
    return this.#view
      .waiting()
      .filter((d) => !running.has(d))
      .flatMap((d) => {
        const m = decoded(d);
        return m ? [taskInfo(m, this.hostname, { startedAt: null, redelivered: d.redelivered })] : [];
      });
  }

  scheduled(): ScheduledInfo[] {
    return this.#view.held().flatMap(([d, at]) => {
      const m = decoded(d);
      return m
        ? [
            {
              eta: new Date(at).toISOString(),
              priority: m.priority,
              request: taskInfo(m, this.hostname, { startedAt: null, redelivered: d.redelivered }),
            },
          ]
        : [];
    });
  }

  registered(): string[] {
    return [...this.#view.registry.keys()].sort();
  }

  /** Celery's stats keys that mean something for Ebb, plus `ebb` with its own. */
  stats(): Record<string, unknown> {
    const usage = process.resourceUsage();
    return {
      total: Object.fromEntries(this.#total),
      pid: process.pid,
      clock: "0",
      uptime: Math.round((Date.now() - this.#view.startedAt) / 1000),
      pool: {
        "max-concurrency": this.#view.concurrency,
        processes: [process.pid],
        "max-tasks-per-child": null,
        "put-guarded-by-semaphore": false,
        timeouts: [],
      },
      broker: { url: this.#view.brokerUrl, hostname: hostname() },
      prefetch_count: this.#view.concurrency + this.#view.prefetch,
      rusage: {
        utime: usage.userCPUTime / 1e6,
        stime: usage.systemCPUTime / 1e6,
        maxrss: usage.maxRSS,
        minflt: usage.minorPageFault,
        majflt: usage.majorPageFault,
        nvcsw: usage.voluntaryContextSwitches,
        nivcsw: usage.involuntaryContextSwitches,
      },
      ebb: {
        processed: this.#worker.processed,
        active: this.#worker.active,
        held: this.#worker.held,
        revoked: this.#worker.revoked.size,
        eventsEnabled: this.#worker.events.enabled,
        node: process.version,
      },
    };
  }

  queues(): string[] {
    return [...this.#view.queues];
  }

  /**
   * Celery's setting names for what an Ebb worker has (Celery's `inspect conf` lists the settings
   * that differ from its defaults; these are the ones that mean something here). Durations in
   * seconds, as Celery's; URLs without passwords.
   */
  conf(): Record<string, unknown> {
    const c = this.#view.config;
    const seconds = (ms: number | null) => (ms === null ? null : ms / 1000);
    return {
      broker_url: this.#view.brokerUrl,
      result_backend: this.#view.backendUrl,
      result_expires: seconds(c.resultExpiresMs),
      result_extended: c.resultExtended,
      task_ignore_result: c.ignoreResult,
      task_track_started: c.trackStarted,
      task_time_limit: seconds(c.timeLimitMs),
      task_soft_time_limit: seconds(c.softTimeLimitMs),
      task_acks_late: true,
      timezone: c.timezone,
      worker_concurrency: this.#view.concurrency,
      worker_prefetch_multiplier: this.#view.concurrency > 0 ? (this.#view.concurrency + this.#view.prefetch) / this.#view.concurrency : 0,
      broker_transport_options: { visibility_timeout: seconds(c.visibilityTimeoutMs) },
    };
  }

  terminate(id: string, signal: string): boolean {
    return this.#view.terminate(id, signal);
  }

  shutdown(): void {
    this.#view.shutdown();
  }

  setEventsEnabled(on: boolean): boolean {
    return on ? this.#worker.events.enable() : this.#worker.events.disable();
  }
}

function decoded(d: Delivery): TaskMessage | null {
  if (d.message === null) return null;
  try {
    return decodeTaskMessage(d.message, d.queue);
  } catch {
    return null;
  }
}
