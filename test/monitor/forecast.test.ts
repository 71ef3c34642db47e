import { describe, expect, it } from "vitest";
import { forecast, growthPerDay } from "../../src/monitor/forecast.js";
import type { StorageSample } from "../../src/monitor/history.js";

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const STEP = 5 * MIN;
const T0 = Date.UTC(2026, 0, 1);

/** A seeded PRNG (mulberry32): the same sequence on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function sample(at: number, bytes: number): StorageSample {
  return { at, total: 0, bytes, cells: [], expiredPending: 0, pendingBytes: 0 };
}

/**
 * A result store under steady synthetic load: every 5 minutes about 50 results (±30 %) of about
 * 2 KB (±20 %) are written, 45 % to live 1 h, 30 % 24 h, 15 % 7 d and 10 % forever; an expired
 * result stays until the daily cleanup at 04:00 UTC removes it. So the store draws a saw-tooth
 * (the expired results of a day pile up until 04:00) on a slow rise (the permanent ones).
 */
class SimulatedStore {
  private readonly rand = prng(20260101);
  private items: Array<{ expiresAt: number; bytes: number }> = [];
  bytes = 0;
  private static readonly CLASSES = [
    { share: 0.45, lifetimeMs: HOUR },
    { share: 0.3, lifetimeMs: DAY },
    { share: 0.15, lifetimeMs: 7 * DAY },
    { share: 0.1, lifetimeMs: Number.POSITIVE_INFINITY },
  ];

  /** One 5-minute step ending at `now`: writes, then the cleanup if it is 04:00. */
  step(now: number): void {
    const count = Math.round(50 * (0.7 + 0.6 * this.rand()));
    for (const c of SimulatedStore.CLASSES) {
      const n = count * c.share;
      const bytes = Math.round(n * 2_048 * (0.8 + 0.4 * this.rand()));
      this.items.push({ expiresAt: now + c.lifetimeMs, bytes });
      this.bytes += bytes;
    }
    if (now % DAY === 4 * HOUR) {
      this.items = this.items.filter((i) => i.expiresAt > now);
      this.bytes = this.items.reduce((a, i) => a + i.bytes, 0);
    }
  }
}

/** Run the store from `from` (exclusive) to `to` (inclusive), one sample per step. */
function simulate(store: SimulatedStore, from: number, to: number): StorageSample[] {
  const out: StorageSample[] = [];
  for (let at = from + STEP; at <= to; at += STEP) {
    store.step(at);
    out.push(sample(at, store.bytes));
  }
  return out;
}

describe("forecast", () => {
  it.each([
    ["midnight, late in the day's pile of expired results", 0],
    ["06:00, just after the daily cleanup", 6 * HOUR],
  ])("replayed growth: 14 days of samples of a steadily loaded store forecast its size 7 days on within 10 %% (now at %s)", (_, phase) => {
    const store = new SimulatedStore();
    // The store has run for a while (every lifetime but the permanent one has come round) before beat samples it.
    simulate(store, T0 - 8 * DAY, T0 + phase);
    const now = T0 + phase + 14 * DAY;
    const history = simulate(store, T0 + phase, now);
    expect(history).toHaveLength(14 * 24 * 12);
    const f = forecast(history, { now });
    simulate(store, now, now + 7 * DAY);
    const actual = store.bytes;
    expect(f.method).toBe("daily-peaks");
    expect(f.samples).toBe(7 * 24 * 12 + 1);
    expect(f.basisDays).toBeCloseTo(7, 5);
    expect(f.bytesIn7d).not.toBeNull();
    expect(Math.abs(f.bytesIn7d! - actual) / actual).toBeLessThan(0.1);
    // The store grows by its permanent results: 10 % of ~50 × 2 KB every 5 minutes, about 2.9 MB a day.
    const permanentPerDay = 0.1 * 50 * 2_048 * 12 * 24;
    expect(f.slopeBytesPerDay / permanentPerDay).toBeGreaterThan(0.9);
    expect(f.slopeBytesPerDay / permanentPerDay).toBeLessThan(1.1);
    // A forecast that ignored the growth would be off by more than the bound: the test can fail.
    expect(Math.abs(history.at(-1)!.bytes - actual) / actual).toBeGreaterThan(0.1);
    expect(f.bytesIn30d!).toBeGreaterThan(f.bytesIn7d!);
    expect(growthPerDay(history)).toBeCloseTo(f.slopeBytesPerDay, 6);
  });

  it("a flat store forecasts flat", () => {
    const rand = prng(7);
    const samples = Array.from({ length: 7 * 24 * 12 }, (_, i) => sample(T0 + i * STEP, 50_000_000 * (0.98 + 0.04 * rand())));
    const now = samples.at(-1)!.at;
    const f = forecast(samples, { now, budgetBytes: 100_000_000 });
    expect(Math.abs(f.slopeBytesPerDay * 30)).toBeLessThan(0.02 * 50_000_000);
    expect(Math.abs(f.bytesIn7d! - 50_000_000)).toBeLessThan(0.02 * 50_000_000);
    expect(Math.abs(f.bytesIn30d! - 50_000_000)).toBeLessThan(0.03 * 50_000_000);
  });

  it("a shrinking store has no days to budget", () => {
    const samples = Array.from({ length: 4 * 24 * 12 }, (_, i) => sample(T0 + i * STEP, 80_000_000 - i * 10_000));
    const f = forecast(samples, { now: samples.at(-1)!.at, budgetBytes: 100_000_000 });
    expect(f.slopeBytesPerDay).toBeCloseTo(-10_000 * 12 * 24, 3);
    expect(f.daysToBudget).toBeNull();
    expect(f.bytesIn7d!).toBeLessThan(samples.at(-1)!.bytes);
  });

  it("a growing store reaches its budget when its daily peak does", () => {
    // 1 MB a day, linear, sampled for 2 days (least squares through every sample).
    const samples = Array.from({ length: 2 * 24 * 12 + 1 }, (_, i) => sample(T0 + i * STEP, 10_000_000 + (i * STEP * 1_000_000) / DAY));
    const now = samples.at(-1)!.at;
    const f = forecast(samples, { now, budgetBytes: 20_000_000 });
    expect(f.method).toBe("least-squares");
    expect(f.slopeBytesPerDay).toBeCloseTo(1_000_000, 3);
    expect(f.bytesIn7d).toBeCloseTo(19_000_000, 0);
    expect(f.daysToBudget).toBeCloseTo(8, 6);
    expect(forecast(samples, { now, budgetBytes: 5_000_000 }).daysToBudget).toBe(0);
    expect(forecast(samples, { now }).daysToBudget).toBeNull();
  });

  it("too few samples, or too short a span, forecast nothing", () => {
    const none = { method: "none", slopeBytesPerDay: 0, bytesIn7d: null, bytesIn30d: null, daysToBudget: null };
    expect(forecast([], { now: T0 })).toMatchObject({ ...none, samples: 0, basisDays: 0 });
    expect(forecast([sample(T0, 1), sample(T0 + 2 * HOUR, 2)], { now: T0 + 2 * HOUR })).toMatchObject({ ...none, samples: 2 });
    // Three samples within half an hour.
    const close = [sample(T0, 1), sample(T0 + 15 * MIN, 2), sample(T0 + 30 * MIN, 3)];
    expect(forecast(close, { now: T0 + 30 * MIN, budgetBytes: 10 })).toMatchObject({ ...none, samples: 3 });
    expect(growthPerDay(close)).toBeNull();
    expect(growthPerDay([])).toBeNull();
    // An hour of them is enough.
    const hour = [sample(T0, 1_000), sample(T0 + 30 * MIN, 2_000), sample(T0 + HOUR, 3_000)];
    expect(forecast(hour, { now: T0 + HOUR })).toMatchObject({ method: "least-squares", slopeBytesPerDay: 48_000, samples: 3 });
    // Samples after `now`, or older than 7 days, are not read.
    const f = forecast([sample(T0 - 8 * DAY, 0), ...hour, sample(T0 + 2 * HOUR, 99)], { now: T0 + HOUR });
    expect(f.samples).toBe(3);
  });
});
