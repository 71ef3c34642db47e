import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { archiveResults } from "../../src/archive/archive-results.js";
import type { CleanupRunRecord } from "../../src/beat/schedule-store.js";
import { census } from "../../src/monitor/census.js";
import { attachApp, createMetrics } from "../../src/metrics/index.js";
import { clockedApp } from "../app/helpers.js";
import { storeSeeder } from "../support/seed-results.js";
import { sample } from "./metrics-text.js";

const H = 3_600_000;
const D = 24 * H;

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function setup() {
  const { app, clock, backend } = await clockedApp({ tiers: { api: { expires: "1d" }, audit: { expires: "30d", action: "archive" } } });
  const seed = storeSeeder(backend, clock);
  const metrics = createMetrics({ now: clock });
  attachApp(metrics, app);
  return { app, clock, backend, seed, metrics };
}

describe("the ebb_ retention metrics", () => {
  it("are absent until a census, then read it: cells, expiring, backlog, and ages computed at scrape time", async () => {
    const { clock, backend, seed, metrics } = await setup();
    expect(sample(await metrics.text(), "ebb_results")).toBeUndefined();
    expect(sample(await metrics.text(), "ebb_expired_pending_results")).toBeUndefined();
    expect(sample(await metrics.text(), "ebb_oldest_result_age_seconds")).toBeUndefined();
    await seed([
      { taskId: "a1", lifetimeMs: D, doneAgoMs: 2 * D, tier: "api" },
      { taskId: "a2", lifetimeMs: D, doneAgoMs: 30 * 60_000, tier: "api" },
      { taskId: "f1", status: "FAILURE", result: { exc_type: "E", exc_message: [], exc_module: "m" }, lifetimeMs: H / 2, doneAgoMs: 0 },
      { taskId: "p1", lifetimeMs: null, doneAgoMs: 3 * D },
    ]);
    metrics.setCensus(await census(backend));
    let text = await metrics.text();
    expect(sample(text, "ebb_results", { tier: "api", state: "SUCCESS" })).toBe(2);
    expect(sample(text, "ebb_results", { tier: "none", state: "FAILURE" })).toBe(1);
    expect(sample(text, "ebb_results", { tier: "none", state: "SUCCESS" })).toBe(1);
    expect(sample(text, "ebb_result_bytes", { tier: "api", state: "SUCCESS" })).toBeGreaterThan(0);
    expect(sample(text, "ebb_results_expiring", { within: "1h" })).toBe(1);
    expect(sample(text, "ebb_results_expiring", { within: "24h" })).toBe(2);
    expect(sample(text, "ebb_results_expiring", { within: "7d" })).toBe(2);
    expect(sample(text, "ebb_expired_pending_results")).toBe(1);
    expect(sample(text, "ebb_oldest_result_age_seconds")).toBe((3 * D) / 1000);
    expect(sample(text, "ebb_oldest_expired_pending_age_seconds")).toBe(D / 1000);
    // Ages move with time, without a new census.
    clock.advance(60_000);
    text = await metrics.text();
    expect(sample(text, "ebb_oldest_result_age_seconds")).toBe((3 * D) / 1000 + 60);
    expect(sample(text, "ebb_oldest_expired_pending_age_seconds")).toBe(D / 1000 + 60);
  });

  it("adjusts the census by what this process writes: +1 in the cell, the cell's mean bytes, a replaced state moved", async () => {
    const { backend, seed, metrics } = await setup();
    await seed([
      { taskId: "a1", lifetimeMs: D, tier: "api" },
      { taskId: "a2", lifetimeMs: D, tier: "api" },
    ]);
    const c = await census(backend);
    metrics.setCensus(c);
    const mean = c.cells[0]!.bytes / 2;
    metrics.resultWritten("api", "SUCCESS", undefined, { expiresAt: c.at + H / 2 });
    metrics.resultWritten("api", "STARTED", 100);
    metrics.resultWritten("api", "SUCCESS", undefined, { replaces: "STARTED" });
    metrics.resultWritten(null, "FAILURE", 300);
    const text = await metrics.text();
    expect(sample(text, "ebb_results", { tier: "api", state: "SUCCESS" })).toBe(4);
    expect(sample(text, "ebb_results", { tier: "api", state: "STARTED" })).toBe(0);
    expect(sample(text, "ebb_result_bytes", { tier: "api", state: "SUCCESS" })).toBe(Math.round(4 * mean));
    expect(sample(text, "ebb_results", { tier: "none", state: "FAILURE" })).toBe(1);
    expect(sample(text, "ebb_result_bytes", { tier: "none", state: "FAILURE" })).toBe(300);
    expect(sample(text, "ebb_results_expiring", { within: "1h" })).toBe(1);
    expect(sample(text, "ebb_results_written_total", { tier: "api" })).toBe(2);
    expect(sample(text, "ebb_results_written_total", { tier: "none" })).toBe(1);
  });

  it("counts cleanup removals by reason (expired, manual, included_permanent) with their ages, and moves the census", async () => {
    const { app, backend, seed, metrics } = await setup();
    await seed([
      { taskId: "e1", lifetimeMs: H, doneAgoMs: 2 * H, tier: "api" },
      { taskId: "e2", lifetimeMs: H, doneAgoMs: 3 * H, tier: "api" },
      { taskId: "old", lifetimeMs: 30 * D, doneAgoMs: 10 * D },
      { taskId: "perm", lifetimeMs: null, doneAgoMs: 20 * D },
      { taskId: "fresh", lifetimeMs: D, doneAgoMs: 0 },
    ]);
    metrics.setCensus(await census(backend));
    expect(sample(await metrics.text(), "ebb_expired_pending_results")).toBe(2);

    const first = await app.retention.cleanup();
    expect(first.deleted).toBe(2);
    let text = await metrics.text();
    expect(sample(text, "ebb_results_removed_total", { reason: "expired" })).toBe(2);
    expect(sample(text, "ebb_results_removed_total", { reason: "manual" })).toBe(0);
    expect(sample(text, "ebb_results", { tier: "api", state: "SUCCESS" })).toBe(0);
    expect(sample(text, "ebb_expired_pending_results")).toBe(0);
    expect(sample(text, "ebb_oldest_expired_pending_age_seconds")).toBe(0);
    expect(sample(text, "ebb_result_age_at_removal_seconds_count")).toBe(2);
    expect(sample(text, "ebb_result_age_at_removal_seconds_sum")).toBe((5 * H) / 1000);
    expect(sample(text, "ebb_result_age_at_removal_seconds_bucket", { le: "3600" })).toBe(0);
    expect(sample(text, "ebb_result_age_at_removal_seconds_bucket", { le: "21600" })).toBe(2);
    expect(sample(text, "ebb_cleanup_duration_seconds_count")).toBe(1);
    expect(sample(text, "ebb_last_cleanup_success_timestamp_seconds")).toBe((await backend.now()) / 1000);

    await app.retention.cleanup({ olderThanMs: 5 * D });
    await app.retention.cleanup({ olderThanMs: 5 * D, includePermanent: true });
    // A dry run removes nothing and is not a cleanup run.
    await app.retention.cleanup({ dryRun: true });
    text = await metrics.text();
    expect(sample(text, "ebb_results_removed_total", { reason: "manual" })).toBe(1);
    expect(sample(text, "ebb_results_removed_total", { reason: "included_permanent" })).toBe(1);
    expect(sample(text, "ebb_results", { tier: "none", state: "SUCCESS" })).toBe(1);
    expect(sample(text, "ebb_cleanup_duration_seconds_count")).toBe(3);
  });

  it("counts archive --delete as archived, and the built-in cleanup task's run", async () => {
    const { app, backend, seed, metrics } = await setup();
    const dir = mkdtempSync(join(tmpdir(), "ebb-metrics-"));
    dirs.push(dir);
    await seed([
      { taskId: "old1", lifetimeMs: 30 * D, doneAgoMs: 10 * D },
      { taskId: "old2", lifetimeMs: 30 * D, doneAgoMs: 12 * D },
      { taskId: "new", lifetimeMs: 30 * D, doneAgoMs: 0 },
    ]);
    metrics.setCensus(await census(backend));
    const out = await archiveResults(backend, {
      to: join(dir, "a.jsonl.gz"),
      olderThanMs: 7 * D,
      delete: true,
      source: backend.url,
      observer: metrics.retentionObserver,
    });
    expect(out.deleted).toBe(2);
    const text = await metrics.text();
    expect(sample(text, "ebb_results_removed_total", { reason: "archived" })).toBe(2);
    expect(sample(text, "ebb_results", { tier: "none", state: "SUCCESS" })).toBe(1);
    expect(sample(text, "ebb_result_age_at_removal_seconds_count")).toBe(2);
    expect(app.tasks.has("celery.backend_cleanup")).toBe(true);
  });

  it("seeds the last cleanup success from recorded runs, skipping dry and failed ones; forecast when known", async () => {
    const metrics = createMetrics();
    const run = (startedAt: number, more: Partial<CleanupRunRecord> = {}): CleanupRunRecord => ({
      task: "celery.backend_cleanup",
      taskId: null,
      startedAt,
      durationMs: 500,
      tier: null,
      olderThanMs: null,
      dryRun: false,
      matched: 0,
      removed: 0,
      bytes: 0,
      archived: 0,
      archiveFile: null,
      trimmed: 0,
      errors: [],
      ...more,
    });
    metrics.seedCleanupRuns([run(3_000_000, { dryRun: true }), run(2_000_000, { errors: ["boom"] }), run(1_000_000)]);
    let text = await metrics.text();
    expect(sample(text, "ebb_last_cleanup_success_timestamp_seconds")).toBe(1_000.5);
    metrics.cleanupFinished({ durationMs: 100, ok: false, at: 5_000_000 });
    expect(sample(await metrics.text(), "ebb_last_cleanup_success_timestamp_seconds")).toBe(1_000.5);
    expect(sample(text, "ebb_forecast_bytes")).toBeUndefined();
    metrics.setForecast(123_456);
    text = await metrics.text();
    expect(sample(text, "ebb_forecast_bytes", { horizon: "7d" })).toBe(123_456);
    expect(sample(text, "ebb_cleanup_duration_seconds_count")).toBe(1);
    metrics.setForecast(null);
    expect(sample(await metrics.text(), "ebb_forecast_bytes")).toBeUndefined();
  });

  it("take the census beat's history sampler counts in this app", async () => {
    const { app, seed, metrics } = await setup();
    await seed([{ taskId: "a1", lifetimeMs: D, tier: "api" }]);
    expect(sample(await metrics.text(), "ebb_results")).toBeUndefined();
    const beat = await app.beat();
    expect(await beat.sampleHistory()).not.toBeNull();
    expect(sample(await metrics.text(), "ebb_results", { tier: "api", state: "SUCCESS" })).toBe(1);
  });

  it("counts what a store drops in bulk as expired and lowers the backlog", async () => {
    const { backend, seed, metrics } = await setup();
    await seed([{ taskId: "e1", lifetimeMs: H, doneAgoMs: 2 * H }]);
    metrics.setCensus(await census(backend));
    metrics.retentionObserver.droppedExpired?.(1, 100, await backend.now());
    const text = await metrics.text();
    expect(sample(text, "ebb_results_removed_total", { reason: "expired" })).toBe(1);
    expect(sample(text, "ebb_expired_pending_results")).toBe(0);
  });
});
