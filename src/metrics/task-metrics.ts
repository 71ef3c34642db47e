import { Counter, Gauge, Histogram, type Registry } from "prom-client";

/** celery-exporter's runtime buckets (Python prometheus_client's defaults), in seconds. */
export const RUNTIME_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** At most this many distinct `exception` label values; others read "Other" (a bounded label). */
const MAX_EXCEPTION_NAMES = 100;

type Inc = { inc(value?: number): void };
type Observe = { observe(value: number): void };

/** The cached children of one (task name, queue): an event is one Map lookup and an inc. */
interface TaskChildren {
  received: Inc;
  started: Inc;
  succeeded: Inc;
  retried: Inc;
  revoked: Inc;
  runtime: Observe;
  failed: Map<string, Inc>;
}

/**
 * Celery's task metrics under celery-exporter's names and labels, so dashboards and alerts made
 * for Celery read Ebb unchanged: counters `celery_task_{sent,received,started,succeeded,failed,
 * retried,revoked}_total{name,queue_name}` (failed adds `exception`, the exception's class name),
 * the histogram `celery_task_runtime{name,queue_name}` (seconds, successful tasks, as
 * celery-exporter) and `celery_worker_up`. celery-exporter's `hostname` label is left out: each
 * worker process exposes its own metrics, and Prometheus's `instance` label tells them apart.
 * As celery-exporter does, a task's first event makes its other worker-side series at 0, so
 * rate() sees them from the start.
 */
export class TaskMetrics {
  readonly #sent: Counter<"name" | "queue_name">;
  readonly #received: Counter<"name" | "queue_name">;
  readonly #started: Counter<"name" | "queue_name">;
  readonly #succeeded: Counter<"name" | "queue_name">;
  readonly #failed: Counter<"name" | "queue_name" | "exception">;
  readonly #retried: Counter<"name" | "queue_name">;
  readonly #revoked: Counter<"name" | "queue_name">;
  readonly #runtime: Histogram<"name" | "queue_name">;
  readonly #tasks = new Map<string, Map<string, TaskChildren>>();
  readonly #sentChildren = new Map<string, Map<string, Inc>>();
  readonly #exceptions = new Set<string>();
  #up: 0 | 1 | null = null;

  constructor(registry: Registry) {
    const labelNames = ["name", "queue_name"] as const;
    const counter = <L extends string>(name: string, help: string, labels: readonly L[]) =>
      new Counter<L>({ name, help, labelNames: labels, registers: [registry] });
    this.#sent = counter("celery_task_sent_total", "Sent when a task message is published.", labelNames);
    this.#received = counter("celery_task_received_total", "Sent when the worker receives a task.", labelNames);
    this.#started = counter("celery_task_started_total", "Sent just before the worker executes the task.", labelNames);
    this.#succeeded = counter("celery_task_succeeded_total", "Sent if the task executed successfully.", labelNames);
    this.#failed = counter("celery_task_failed_total", "Sent if the execution of the task failed.", [...labelNames, "exception"]);
    this.#retried = counter("celery_task_retried_total", "Sent if the task failed, but will be retried in the future.", labelNames);
    this.#revoked = counter("celery_task_revoked_total", "Sent if the task has been revoked.", labelNames);
    this.#runtime = new Histogram({
      name: "celery_task_runtime",
      help: "Histogram of task runtime measurements.",
      labelNames,
      buckets: RUNTIME_BUCKETS,
      registers: [registry],
    });
    const self = this;
    new Gauge({
      name: "celery_worker_up",
      help: "Indicates if the worker in this process is running (1), or has begun to shut down (0).",
      registers: [registry],
      collect() {
        if (self.#up === null) this.remove();
        else this.set(self.#up);
      },
    });
  }

  /** 1 while this process's worker runs, 0 once it begins to stop; absent while none is attached. */
  setWorkerUp(up: boolean): void {
    this.#up = up ? 1 : 0;
  }

  sent(name: string, queue: string, count = 1): void {
    let byQueue = this.#sentChildren.get(name);
    if (!byQueue) {
      byQueue = new Map();
      this.#sentChildren.set(name, byQueue);
    }
    let child = byQueue.get(queue);
    if (!child) {
      child = this.#sent.labels(name, queue);
      byQueue.set(queue, child);
    }
    child.inc(count);
  }

  received(name: string, queue: string): void {
    this.#of(name, queue).received.inc();
  }

  started(name: string, queue: string): void {
    this.#of(name, queue).started.inc();
  }

  succeeded(name: string, queue: string, runtimeMs: number): void {
    const c = this.#of(name, queue);
    c.succeeded.inc();
    c.runtime.observe(runtimeMs / 1000);
  }

  /** `exception`: the exception's class name (see exceptionName()). */
  failed(name: string, queue: string, exception: string): void {
    const c = this.#of(name, queue);
    let child = c.failed.get(exception);
    if (!child) {
      const label = this.#exceptions.has(exception) || this.#exceptions.size < MAX_EXCEPTION_NAMES ? exception : "Other";
      this.#exceptions.add(label);
      child = this.#failed.labels(name, queue, label);
      c.failed.set(exception, child);
    }
    child.inc();
  }

  retried(name: string, queue: string): void {
    this.#of(name, queue).retried.inc();
  }

  revoked(name: string, queue: string): void {
    this.#of(name, queue).revoked.inc();
  }

  #of(name: string, queue: string): TaskChildren {
    let byQueue = this.#tasks.get(name);
    if (!byQueue) {
      byQueue = new Map();
      this.#tasks.set(name, byQueue);
    }
    let c = byQueue.get(queue);
    if (c) return c;
    c = {
      received: this.#received.labels(name, queue),
      started: this.#started.labels(name, queue),
      succeeded: this.#succeeded.labels(name, queue),
      retried: this.#retried.labels(name, queue),
      revoked: this.#revoked.labels(name, queue),
      runtime: this.#runtime.labels(name, queue),
      // celery-exporter's zero series for a task that has not failed: exception="".
      failed: new Map([["", this.#failed.labels(name, queue, "")]]),
    };
    for (const child of [c.received, c.started, c.succeeded, c.retried, c.revoked, c.failed.get("")!]) child.inc(0);
    byQueue.set(queue, c);
    return c;
  }
}

const CLASS_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,99}$/;

/**
 * The exception's class name, as celery-exporter labels failures ("ValueError"); what Ebb
 * stores as exc_type. Anything that is not a plain identifier reads "UnknownException".
 */
export function exceptionName(error: unknown): string {
  if (!(error instanceof Error)) return "UnknownException";
  const ctor = (error.constructor as { name?: string } | undefined)?.name;
  const type = error.name && error.name !== "Error" ? error.name : ctor || "Error";
  return CLASS_NAME.test(type) ? type : "UnknownException";
}
