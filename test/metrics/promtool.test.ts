import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createApp } from "../../src/app.js";
import type { RetentionStore } from "../../src/backends/retention-store.js";
import { silentLogger } from "../../src/logger.js";
import { attachApp, attachWorker, createMetrics } from "../../src/metrics/index.js";
import { census } from "../../src/monitor/census.js";
import { currentTask } from "../../src/task-context.js";
import { waitFor } from "../support/wait.js";
import { promtool, sample } from "./metrics-text.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("the metrics a worker on SQLite exposes", () => {
  it("pass promtool check metrics after successes, a failure, a retry, a revoke and a cleanup", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ebb-metrics-"));
    dirs.push(dir);
    const url = `sqlite://${join(dir, "ebb.db")}`;
    const app = createApp({ broker: url, backend: url, archiveDir: join(dir, "archives") }, { log: silentLogger });
    try {
      const ok = app.task("m.ok", async (x: number) => x * 2);
      const bad = app.task("m.bad", async () => {
        throw new RangeError("out of range");
      });
      const flaky = app.task("m.flaky", async () => {
        if (currentTask().retries === 0) currentTask().retry({ countdown: 0 });
        return "ok";
      });
      const metrics = createMetrics();
      attachApp(metrics, app);
      const worker = await app.worker({ concurrency: 4, fetchWaitMs: 50 });
      attachWorker(metrics, worker);
      worker.revoke(["m-revoked"]);
      const running = worker.start();
      try {
        const results = [await ok.delay(1), await ok.delay(2), await bad.delay(), await flaky.delay()];
        const revoked = await app.sendTask("m.ok", [3], { taskId: "m-revoked" });
        for (const r of [...results, revoked]) await r.get({ timeoutMs: 15_000 }).catch(() => undefined);
        await waitFor(
          "the revoke to be counted",
          async () => sample(await metrics.text(), "celery_task_revoked_total", { name: "m.ok" }) === 1,
          15_000,
        );
        metrics.setCensus(await census((await app.retention.store()) as RetentionStore));
        metrics.setForecast(4096);
        // The built-in cleanup task (archive, then clean) through the worker, then a manual cleanup of everything done.
        const cleanupRun = await app.sendTask("celery.backend_cleanup");
        await cleanupRun.get({ timeoutMs: 15_000 });
        const report = await app.retention.cleanup({ olderThanMs: 0 });
        expect(report.deleted).toBeGreaterThan(0);
      } finally {
        await worker.stop();
        await running;
      }
      const text = await metrics.text();
      expect(sample(text, "celery_task_succeeded_total", { name: "m.ok", queue_name: "celery" })).toBe(2);
      expect(sample(text, "celery_task_failed_total", { name: "m.bad", exception: "RangeError" })).toBe(1);
      expect(sample(text, "celery_task_retried_total", { name: "m.flaky" })).toBe(1);
      expect(sample(text, "celery_task_revoked_total", { name: "m.ok" })).toBe(1);
      expect(sample(text, "celery_worker_up")).toBe(0);
      expect(sample(text, "ebb_results_removed_total", { reason: "manual" })).toBeGreaterThan(0);
      expect(sample(text, "ebb_cleanup_duration_seconds_count")).toBe(2);
      expect(sample(text, "ebb_last_cleanup_success_timestamp_seconds")).toBeGreaterThan(0);
      expect(sample(text, "ebb_forecast_bytes", { horizon: "7d" })).toBe(4096);

      const check = promtool(text);
      expect(check.output).toBe("");
      expect(check.status).toBe(0);
    } finally {
      await app.close();
    }
  });
});
