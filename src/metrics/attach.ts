import type { App } from "../app.js";
import type { TaskLifecycle } from "../worker/task-lifecycle.js";
import type { EbbMetrics } from "./ebb-metrics.js";
import { exceptionName } from "./task-metrics.js";

/** A worker (app.worker()), or only its lifecycle. */
export type WorkerSource = TaskLifecycle | { readonly lifecycle: TaskLifecycle; readonly stopping?: AbortSignal };

/**
 * Count a worker's tasks (celery_task_received/started/succeeded/failed/retried/revoked_total,
 * celery_task_runtime) and the results it stores (ebb_results_written_total, the census cells).
 * Given the Worker, celery_worker_up is 1 until it begins to stop, then 0. Returns a function
 * that stops counting (and sets celery_worker_up to 0).
 */
export function attachWorker(metrics: EbbMetrics, worker: WorkerSource): () => void {
  const lifecycle = "on" in worker ? worker : worker.lifecycle;
  const stopping = "on" in worker ? undefined : worker.stopping;
  const t = metrics.tasks;
  const offs = [
    lifecycle.on("received", (m) => t.received(m.task, m.queue)),
    lifecycle.on("started", (task) => t.started(task.message.task, task.message.queue)),
    lifecycle.on("succeeded", (m, info) => t.succeeded(m.task, m.queue, info.runtimeMs)),
    lifecycle.on("failed", (m, info) => t.failed(m.task, m.queue, exceptionName(info.error))),
    lifecycle.on("retried", (m) => t.retried(m.task, m.queue)),
    lifecycle.on("revoked", (m) => t.revoked(m.task, m.queue)),
    lifecycle.on("stored", (r, replaced) =>
      metrics.resultWritten(r.tier, r.status, undefined, { expiresAt: r.expiresAt, replaces: replaced }),
    ),
  ];
  const down = () => metrics.setWorkerUp(false);
  metrics.setWorkerUp(stopping?.aborted !== true);
  stopping?.addEventListener("abort", down, { once: true });
  return () => {
    for (const off of offs) off();
    stopping?.removeEventListener("abort", down);
    down();
  };
}

/**
 * Count what an app sends (celery_task_sent_total) and what its retention operations remove
 * (app.retention.cleanup, the built-in cleanup tasks: ebb_results_removed_total, the ages, the
 * cleanup duration and last success), and take each census its beat counts (the history sampler)
 * for the ebb_ gauges. Returns a function that stops counting.
 */
export function attachApp(metrics: EbbMetrics, app: Pick<App, "observe">): () => void {
  const tasks = metrics.tasks;
  return app.observe({
    ...metrics.retentionObserver,
    sent: (name, queue, count) => tasks.sent(name, queue, count),
    census: (census) => metrics.setCensus(census),
  });
}
