/**
 * app.retention: the retention operations from TypeScript, on an app's own store, driven by a
 * manual clock that the memory stores share.
 */
import { describe, expect, it } from "vitest";
import { clockedApp, startWorker } from "./helpers.js";

describe("app.retention", () => {
  it("cleans exactly the expired results, keeps held ones, and reports the same in a dry run", async () => {
    const { app, clock } = await clockedApp();
    const short = app.task("short", async (x: number) => x, { resultExpires: "1m" });
    const long = app.task("long", async (x: number) => x, { resultExpires: "1d" });
    await startWorker(app, { concurrency: 2 });
    const [a, b, c] = [await short.delay(1), await short.delay(2), await long.delay(3)];
    for (const r of [a, b, c]) await r.get({ timeoutMs: 10_000 });
    expect(await app.retention.hold(b.id)).toBe(true);
    clock.advance(2 * 60_000);

    const dry = await app.retention.cleanup({ dryRun: true });
    expect(dry).toMatchObject({ matched: 1, deleted: 0, dryRun: true });
    expect(await a.state()).toBe("EXPIRED");

    const real = await app.retention.cleanup();
    expect(real).toMatchObject({ matched: 1, deleted: 1, dryRun: false });
    expect(real.bytes).toBe(dry.bytes);
    expect(await a.state()).toBe("EXPIRED"); // remembered for the grace window
    expect(await b.state()).toBe("SUCCESS"); // held: never expired or cleaned
    expect(await c.state()).toBe("SUCCESS");

    expect(await app.retention.release(b.id)).toBe(true);
    expect(await b.state()).toBe("EXPIRED");
    expect(await app.retention.hold("no-such-id")).toBe(false);
  });

  it("reports stats and checks growth limits, naming the one that is over", async () => {
    const { app } = await clockedApp();
    const t = app.task("t", async (x: number) => ({ x }), { tier: "audit" });
    await startWorker(app);
    for (let i = 0; i < 3; i++) await (await t.delay(i)).get({ timeoutMs: 10_000 });
    const s = await app.retention.stats();
    expect(s.total).toBe(3);
    expect(s.byTier.audit).toBe(3);
    expect(s.byState.SUCCESS).toBe(3);
    expect((await app.retention.check({ maxResults: 3 })).ok).toBe(true);
    const over = await app.retention.check({ maxResults: 2 });
    expect(over.ok).toBe(false);
    expect(over.over).toEqual([expect.objectContaining({ limit: "maxResults", value: 3, max: 2, by: 1 })]);
  });

  it("explains which rule gives a task its lifetime", async () => {
    const { app } = await clockedApp({ resultExpires: "12h" });
    app.task("tiered", async () => 1, { tier: "compliance" });
    expect(app.retention.explain("tiered")).toMatchObject({
      task: "tiered",
      tier: "compliance",
      expires: "90d",
      action: "archive",
      source: "tier",
    });
    expect(app.retention.explain("unknown.task")).toMatchObject({ expires: "12h", source: "global" });
  });
});

describe("the built-in celery.backend_cleanup task", () => {
  it("archives expired archive-tier results into archiveDir, then cleans expired delete-tier ones", async () => {
    const { mkdtempSync, readdirSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const archiveDir = join(mkdtempSync(join(tmpdir(), "ebb-bc-")), "archives");
    const { app, clock } = await clockedApp({ archiveDir, tiers: { "audit-short": { expires: "1m", action: "archive" } } });
    const audit = app.task("audit", async (x: number) => ({ x }), { tier: "audit-short" });
    const tick = app.task("tick", async (x: number) => x, { resultExpires: "1m" });
    const keep = app.task("keep", async (x: number) => x, { resultExpires: "1d" });
    await startWorker(app, { concurrency: 2 });
    const done = await Promise.all([audit.delay(1), audit.delay(2), tick.delay(3), keep.delay(4)]);
    for (const r of done) await r.get({ timeoutMs: 10_000 });
    clock.advance(2 * 60_000);

    const run = await app.sendTask<{ archive: { archived: number; file: string | null }; cleanup: { deleted: number } }>(
      "celery.backend_cleanup",
    );
    const summary = await run.get({ timeoutMs: 20_000 });
    expect(summary.archive.archived).toBe(2);
    expect(summary.cleanup.deleted).toBe(1);
    expect(readdirSync(archiveDir).filter((f) => f.endsWith(".jsonl.gz"))).toHaveLength(1);
    expect(await done[0]!.state()).toBe("EXPIRED");
    expect(await done[2]!.state()).toBe("EXPIRED");
    expect(await done[3]!.state()).toBe("SUCCESS");
    const s = await app.retention.stats();
    expect(s.byTier["audit-short"] ?? 0).toBe(0);
  });

  it("can be replaced by the app's own task of that name", async () => {
    const { app } = await clockedApp();
    app.task("celery.backend_cleanup", async () => "mine");
    await startWorker(app);
    expect(await (await app.sendTask("celery.backend_cleanup")).get({ timeoutMs: 10_000 })).toBe("mine");
  });
});
