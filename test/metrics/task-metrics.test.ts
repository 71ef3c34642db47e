import { describe, expect, it } from "vitest";
import { attachApp, attachWorker, createMetrics, exceptionName } from "../../src/metrics/index.js";
import { currentTask } from "../../src/task-context.js";
import { newApp } from "../app/helpers.js";
import { waitFor } from "../support/wait.js";
import { sample } from "./metrics-text.js";

class FlakyError extends Error {
  override name = "FlakyError";
}
class QuotaExceeded extends Error {}

describe("celery-exporter's task metrics from a worker", () => {
  it("counts sent, received, started, succeeded, failed (by exception class), retried and revoked, and the runtime", async () => {
    const app = newApp();
    const ok = app.task("t.ok", async (x: number) => x + 1);
    const bad = app.task("t.bad", async () => {
      throw new QuotaExceeded("over");
    });
    const flaky = app.task("t.flaky", async () => {
      if (currentTask().retries === 0) currentTask().retry({ countdown: 0, exc: new FlakyError("once") });
      return "done";
    });
    const metrics = createMetrics();
    attachApp(metrics, app);
    const worker = await app.worker({ concurrency: 2 });
    attachWorker(metrics, worker);
    expect(sample(await metrics.text(), "celery_worker_up")).toBe(1);

    worker.revoke(["revoked-id"]);
    const running = worker.start();
    await ok.delay(1);
    await app.sendMany("t.ok", [[2], [3]]);
    await bad.delay();
    await flaky.delay();
    await app.sendTask("t.ok", [4], { taskId: "revoked-id" });

    const text = await waitFor(
      "every task to be counted",
      async () => {
        const t = await metrics.text();
        const done =
          sample(t, "celery_task_succeeded_total", { name: "t.ok" }) === 3 &&
          sample(t, "celery_task_succeeded_total", { name: "t.flaky" }) === 1;
        return done &&
          sample(t, "celery_task_revoked_total", { name: "t.ok" }) === 1 &&
          sample(t, "celery_task_failed_total", { name: "t.bad", exception: "QuotaExceeded" }) === 1
          ? t
          : null;
      },
      10_000,
    );
    const q = { queue_name: "celery" };
    expect(sample(text, "celery_task_sent_total", { name: "t.ok", ...q })).toBe(4);
    expect(sample(text, "celery_task_sent_total", { name: "t.bad", ...q })).toBe(1);
    expect(sample(text, "celery_task_received_total", { name: "t.ok", ...q })).toBe(4);
    // The revoked one never started.
    expect(sample(text, "celery_task_started_total", { name: "t.ok", ...q })).toBe(3);
    expect(sample(text, "celery_task_received_total", { name: "t.flaky", ...q })).toBe(2);
    expect(sample(text, "celery_task_retried_total", { name: "t.flaky", ...q })).toBe(1);
    expect(sample(text, "celery_task_failed_total", { name: "t.flaky", exception: "" })).toBe(0);
    expect(sample(text, "celery_task_failed_total", { name: "t.bad", exception: "" })).toBe(0);
    expect(sample(text, "celery_task_runtime_count", { name: "t.ok", ...q })).toBe(3);
    // Runtime is observed for successes only, as celery-exporter does.
    expect(sample(text, "celery_task_runtime_count", { name: "t.bad" })).toBeUndefined();
    // No per-host label anywhere.
    expect(text).not.toMatch(/hostname=/);
    // The worker's own results: one written per task id (STARTED/RETRY moves are not new results).
    expect(sample(text, "ebb_results_written_total", { tier: "none" })).toBe(6);

    await worker.stop();
    await running;
    expect(sample(await metrics.text(), "celery_worker_up")).toBe(0);
  });

  it("sets celery_worker_up to 0 when the worker begins to stop, and is absent before any worker", async () => {
    const app = newApp();
    const metrics = createMetrics();
    expect(sample(await metrics.text(), "celery_worker_up")).toBeUndefined();
    const worker = await app.worker();
    const detach = attachWorker(metrics, worker);
    const running = worker.start();
    expect(sample(await metrics.text(), "celery_worker_up")).toBe(1);
    const stopped = worker.stop();
    expect(sample(await metrics.text(), "celery_worker_up")).toBe(0);
    await stopped;
    await running;
    detach();
  });

  it("keeps metrics in a registry of their own", async () => {
    const a = createMetrics();
    const b = createMetrics();
    a.tasks.sent("x", "celery");
    expect(sample(await a.text(), "celery_task_sent_total", { name: "x" })).toBe(1);
    expect(sample(await b.text(), "celery_task_sent_total", { name: "x" })).toBeUndefined();
    expect(a.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
  });

  it("labels failures by a bounded exception class name", async () => {
    expect(exceptionName(new TypeError("x"))).toBe("TypeError");
    expect(exceptionName(new QuotaExceeded("x"))).toBe("QuotaExceeded");
    expect(exceptionName(new FlakyError("x"))).toBe("FlakyError");
    expect(exceptionName("a string")).toBe("UnknownException");
    const odd = new Error("x");
    odd.name = "not a name {id=42}";
    expect(exceptionName(odd)).toBe("UnknownException");
    const m = createMetrics();
    for (let i = 0; i < 150; i++) m.tasks.failed("t", "celery", `E${i}`);
    const text = await m.text();
    expect(sample(text, "celery_task_failed_total", { exception: "E99" })).toBe(1);
    expect(sample(text, "celery_task_failed_total", { exception: "Other" })).toBe(50);
  });
});
