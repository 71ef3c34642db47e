import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it, onTestFinished } from "vitest";
import { createApp } from "../../src/app.js";
import type { ResultBackend } from "../../src/backends/result-backend.js";
import type { ResultRecord, RetentionStore } from "../../src/backends/retention-store.js";
import { every } from "../../src/beat/schedules.js";
import { manualClock } from "../../src/clock.js";
import { silentLogger } from "../../src/logger.js";
import { clockedApp, collectingLogger } from "../app/helpers.js";

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const MIN = 60_000;
const NO_BEAT_ENTRIES = { "celery.backend_cleanup": null };

async function storeResult(backend: ResultBackend, taskId: string, result: unknown, lifetimeMs: number | null = 3_600_000) {
  await backend.store({ taskId, status: "SUCCESS", result, traceback: null, children: [], lifetimeMs, tier: "api", action: "delete" });
}

describe("beat keeps the storage history: one census sample per slot", () => {
  it("records one sample per slot with a manual clock, counting the result store", async () => {
    const { app, clock, backend } = await clockedApp({ beatSchedule: NO_BEAT_ENTRIES });
    clock.set(T0 + 30_000);
    await storeResult(backend, "a", "x".repeat(100));
    const beat = await app.beat();
    const first = await beat.sampleHistory();
    expect(first).toMatchObject({ at: T0 + 30_000, total: 1, cells: [{ tier: "api", state: "SUCCESS", count: 1 }] });
    expect(first!.bytes).toBeGreaterThan(100);
    // Later in the same slot: nothing.
    clock.advance(4 * MIN);
    expect(await beat.sampleHistory()).toBeNull();
    // An hour, looked at every 40 s: one sample per 5-minute slot.
    for (let i = 0; i < 90; i++) {
      clock.advance(40_000);
      await beat.sampleHistory();
    }
    const samples = await (await app.scheduleStore()).samples(0, 1000);
    const slots = samples.map((s) => Math.floor(s.at / (5 * MIN)));
    expect(new Set(slots).size).toBe(slots.length);
    const firstSlot = Math.floor((T0 + 30_000) / (5 * MIN));
    const lastSlot = Math.floor(clock() / (5 * MIN));
    expect(slots).toEqual(Array.from({ length: lastSlot - firstSlot + 1 }, (_, i) => firstSlot + i));
  });

  it("two beats on one SQLite store record one sample per slot between them", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ebb-history-"));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const url = `sqlite://${join(dir, "ebb.db")}`;
    const clock = manualClock(T0);
    const apps = [0, 1].map(() => createApp({ broker: url, backend: url, clock, beatSchedule: NO_BEAT_ENTRIES }, { log: silentLogger }));
    onTestFinished(() => Promise.all(apps.map((a) => a.close())).then(() => undefined));
    await storeResult(await apps[0]!.backend(), "a", 1);
    const beats = await Promise.all(apps.map((a) => a.beat()));
    let stored = 0;
    for (let i = 0; i < 36; i++) {
      // Both look at once: both may find the slot empty and count; the store keeps one sample.
      const got = await Promise.all(beats.map((b) => b.sampleHistory()));
      stored += got.filter((g) => g !== null).length;
      clock.advance(2.5 * MIN);
    }
    const samples = await (await apps[1]!.scheduleStore()).samples(0, 1000);
    expect(samples).toHaveLength(18);
    expect(stored).toBe(18);
    expect(new Set(samples.map((s) => Math.floor(s.at / (5 * MIN)))).size).toBe(18);
    expect(samples.every((s) => s.total === 1)).toBe(true);
  });

  it("history: false records none, not even from the running loop", async () => {
    const { app, clock } = await clockedApp({ beatSchedule: NO_BEAT_ENTRIES, history: false });
    clock.set(T0);
    const beat = await app.beat({
      sleep: async () => {
        clock.advance(5 * MIN);
        await new Promise((r) => setImmediate(r));
      },
    });
    expect(await beat.sampleHistory()).toBeNull();
    const running = beat.start();
    await new Promise((r) => setTimeout(r, 20));
    await beat.stop();
    await running;
    const store = await app.scheduleStore();
    expect(await store.latestSampleAt()).toBeNull();
  });

  it("drops samples older than keep", async () => {
    const { app, clock } = await clockedApp({ beatSchedule: NO_BEAT_ENTRIES, history: { every: "5m", keep: "1h" } });
    clock.set(T0);
    const beat = await app.beat();
    for (let i = 0; i < 36; i++) {
      expect(await beat.sampleHistory()).not.toBeNull();
      clock.advance(5 * MIN);
    }
    const samples = await (await app.scheduleStore()).samples(0, 1000);
    const newest = T0 + 35 * 5 * MIN;
    expect(samples.map((s) => s.at)).toEqual(Array.from({ length: 13 }, (_, i) => newest - 60 * MIN + i * 5 * MIN));
  });

  it("the loop samples beside the ticks: a census that hangs delays no tick; a failing one is logged once", async () => {
    const { log, lines } = collectingLogger();
    const { app, clock, backend } = await clockedApp(
      { beatSchedule: { ...NO_BEAT_ENTRIES, e: { task: "t", schedule: every("10s") } }, history: { every: "1m" } },
      log,
    );
    app.task("t", async () => 1);
    clock.set(T0);
    let release: () => void = () => undefined;
    let mode: "hang" | "fail" | "work" = "hang";
    const scan = backend.scan.bind(backend);
    (backend as RetentionStore).scan = (query) =>
      (async function* () {
        if (mode === "hang") await new Promise<void>((r) => (release = r));
        if (mode === "fail") throw new Error("scan refused");
        yield* scan(query) as AsyncIterable<ResultRecord[]>;
      })();
    let passes = 0;
    const beat = await app.beat({
      sleep: async () => {
        passes++;
        clock.advance(10_000);
        // Let the sampler run between passes, as real sleeps do.
        await new Promise((r) => setImmediate(r));
        if (passes === 40) mode = "fail";
        if (passes === 41) release();
        if (passes === 200) mode = "work";
        if (passes >= 300) void beat.stop();
      },
    });
    await beat.start();
    const store = await app.scheduleStore();
    // 300 passes, 10 s apart: the first saw the entry, each of the other 299 fired its tick, the census hanging or not.
    expect((await store.states(["e"])).get("e")?.fired).toBe(299);
    const errors = lines.filter((l) => l.message.includes("storage history failed"));
    expect(errors).toHaveLength(1);
    expect(errors[0]!.message).toContain("scan refused");
    expect(lines.filter((l) => l.message.includes("storage history works again"))).toHaveLength(1);
    // Samples only once it worked (pass 200 on), then one per minute.
    const samples = await store.samples(0, 100);
    expect(samples.length).toBeGreaterThanOrEqual(15);
    expect(samples[0]!.at).toBeGreaterThanOrEqual(T0 + 200 * 10_000 - MIN);
    expect(new Set(samples.map((s) => Math.floor(s.at / MIN))).size).toBe(samples.length);
  });
});
