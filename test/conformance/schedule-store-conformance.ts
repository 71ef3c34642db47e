import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { manualClock } from "../../src/clock.js";
import type { ClaimRequest, FireClaim, ScheduleStore } from "../../src/beat/schedule-store.js";
import type { StorageSample } from "../../src/monitor/history.js";

export interface ScheduleStoreFixture {
  store: ScheduleStore;
  /** The store's clock, set by the test. */
  clock: ReturnType<typeof manualClock>;
  cleanup: () => Promise<void>;
}

const T0 = Date.UTC(2026, 0, 1);
const SCHED = "every 1s";

function fire(tick: number, over: Partial<FireClaim> = {}): FireClaim {
  return {
    tick,
    taskId: `task-${tick}`,
    catchUp: false,
    message: { raw: `{"tick":${tick}}`, queue: "celery", priority: 0, availableAt: null },
    ...over,
  };
}

const MIN = 60_000;
const SLOT = { slotMs: 5 * MIN, keepMs: 60 * MIN };

function sample(at: number, bytes = 1_000, over: Partial<StorageSample> = {}): StorageSample {
  return {
    at,
    total: 3,
    bytes,
    cells: [
      { tier: "api", state: "SUCCESS", count: 2, bytes: bytes - 100 },
      { tier: "none", state: "FAILURE", count: 1, bytes: 100 },
    ],
    expiredPending: 1,
    pendingBytes: 100,
    ...over,
  };
}

function claim(over: Partial<ClaimRequest> & Pick<ClaimRequest, "lastTick">): ClaimRequest {
  return {
    entry: "e",
    expect: null,
    schedule: SCHED,
    nextTick: over.lastTick + 1000,
    fires: [],
    missed: 0,
    historyLimit: 1000,
    claimTtlMs: 600_000,
    ...over,
  };
}

/**
 * The behaviour every schedule store must have (src/beat/schedule-store.ts). make() returns an
 * empty store in its own namespace whose clock is a manual clock.
 */
export function scheduleStoreConformance(name: string, make: () => Promise<ScheduleStoreFixture>): void {
  describe(`schedule store conformance: ${name}`, () => {
    let f: ScheduleStoreFixture;
    let store: ScheduleStore;

    beforeEach(async () => {
      f = await make();
      f.clock.set(T0 + 5_000);
      store = f.store;
    });
    afterEach(async () => {
      await f.cleanup();
    });

    it("tells time by the store's clock", async () => {
      expect(await store.now()).toBe(T0 + 5_000);
    });

    it("has no state for an entry it never saw", async () => {
      expect((await store.states(["e", "other"])).size).toBe(0);
      expect(await store.history("e", 10)).toEqual([]);
    });

    it("creates an entry's state once: a second claim planned from 'no state' fails and returns what is there", async () => {
      expect(await store.claim(claim({ lastTick: T0 }))).toEqual({ ok: true, claimedAt: T0 + 5_000 });
      const second = await store.claim(claim({ lastTick: T0 + 1_000 }));
      expect(second.ok).toBe(false);
      expect(second.ok === false && second.state).toMatchObject({
        entry: "e",
        schedule: SCHED,
        lastTick: T0,
        nextTick: T0 + 1_000,
        fired: 0,
        missed: 0,
        catchUps: 0,
        lastFire: null,
      });
      expect((await store.states(["e"])).get("e")?.lastTick).toBe(T0);
    });

    it("applies a claim only when the state is still the one it was planned from", async () => {
      await store.claim(claim({ lastTick: T0 }));
      const stale = await store.claim(
        claim({ expect: { lastTick: T0 - 1_000, schedule: SCHED }, lastTick: T0 + 1_000, fires: [fire(T0 + 1_000)] }),
      );
      expect(stale.ok).toBe(false);
      const otherSchedule = await store.claim(
        claim({ expect: { lastTick: T0, schedule: "every 2s" }, lastTick: T0 + 1_000, fires: [fire(T0 + 1_000)] }),
      );
      expect(otherSchedule.ok).toBe(false);
      expect(await store.history("e", 10)).toEqual([]);
      const fresh = await store.claim(
        claim({ expect: { lastTick: T0, schedule: SCHED }, lastTick: T0 + 1_000, fires: [fire(T0 + 1_000)] }),
      );
      expect(fresh.ok).toBe(true);
    });

    it("keeps fires, counters and the last fire; a catch-up is counted as one", async () => {
      await store.claim(claim({ lastTick: T0 }));
      f.clock.set(T0 + 9_000);
      await store.claim(
        claim({
          expect: { lastTick: T0, schedule: SCHED },
          lastTick: T0 + 9_000,
          missed: 7,
          fires: [fire(T0 + 8_000, { catchUp: true }), fire(T0 + 9_000)],
        }),
      );
      const state = (await store.states(["e"])).get("e")!;
      expect(state).toMatchObject({ lastTick: T0 + 9_000, nextTick: T0 + 10_000, fired: 2, missed: 7, catchUps: 1 });
      expect(state.lastFire).toEqual({
        entry: "e",
        tick: T0 + 9_000,
        taskId: `task-${T0 + 9_000}`,
        catchUp: false,
        claimedAt: T0 + 9_000,
        sentAt: null,
      });
      const history = await store.history("e", 10);
      expect(history.map((h) => [h.tick, h.catchUp])).toEqual([
        [T0 + 9_000, false],
        [T0 + 8_000, true],
      ]);
      expect(await store.history("e", 1)).toHaveLength(1);
    });

    it("takes each (entry, tick) once: a claim naming a tick already taken fails as a whole", async () => {
      await store.claim(claim({ lastTick: T0 }));
      await store.claim(claim({ expect: { lastTick: T0, schedule: SCHED }, lastTick: T0 + 1_000, fires: [fire(T0 + 1_000)] }));
      // A state that moved back (a schedule changed back and forth) must still not fire T0+1000 twice.
      const again = await store.claim(
        claim({ expect: { lastTick: T0 + 1_000, schedule: SCHED }, lastTick: T0 + 2_000, fires: [fire(T0 + 1_000), fire(T0 + 2_000)] }),
      );
      expect(again.ok).toBe(false);
      expect((await store.history("e", 10)).map((h) => h.tick)).toEqual([T0 + 1_000]);
      expect((await store.states(["e"])).get("e")?.lastTick).toBe(T0 + 1_000);
    });

    it("lets exactly one of many concurrent claims from the same state win", async () => {
      await store.claim(claim({ lastTick: T0 }));
      const outcomes = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          store.claim(
            claim({ expect: { lastTick: T0, schedule: SCHED }, lastTick: T0 + 1_000, fires: [fire(T0 + 1_000, { taskId: `racer-${i}` })] }),
          ),
        ),
      );
      expect(outcomes.filter((o) => o.ok)).toHaveLength(1);
      expect(await store.history("e", 10)).toHaveLength(1);
    });

    it("keeps entries apart", async () => {
      await store.claim(claim({ entry: "a", lastTick: T0 }));
      await store.claim(claim({ entry: "b", lastTick: T0 + 3_000 }));
      await store.claim(claim({ entry: "a", expect: { lastTick: T0, schedule: SCHED }, lastTick: T0 + 1_000, fires: [fire(T0 + 1_000)] }));
      const states = await store.states(["a", "b", "c"]);
      expect([...states.keys()].sort()).toEqual(["a", "b"]);
      expect(states.get("b")?.lastTick).toBe(T0 + 3_000);
      expect(await store.history("b", 10)).toEqual([]);
      expect(await store.history("a", 10)).toHaveLength(1);
    });

    it("keeps an unsent fire's message until it is marked sent, and finds unsent fires by claim time", async () => {
      await store.claim(claim({ lastTick: T0 }));
      f.clock.set(T0 + 10_000);
      await store.claim(claim({ expect: { lastTick: T0, schedule: SCHED }, lastTick: T0 + 1_000, fires: [fire(T0 + 1_000)] }));
      f.clock.set(T0 + 20_000);
      await store.claim(
        claim({
          expect: { lastTick: T0 + 1_000, schedule: SCHED },
          lastTick: T0 + 2_000,
          fires: [fire(T0 + 2_000, { message: { raw: "two", queue: "q2", priority: 3, availableAt: T0 + 99 } })],
        }),
      );
      const all = await store.unsent(0, T0 + 20_000, 10);
      expect(all.map((u) => u.tick)).toEqual([T0 + 1_000, T0 + 2_000]);
      expect(all[1]).toMatchObject({
        entry: "e",
        taskId: `task-${T0 + 2_000}`,
        claimedAt: T0 + 20_000,
        sentAt: null,
        message: { raw: "two", queue: "q2", priority: 3, availableAt: T0 + 99 },
      });
      expect((await store.unsent(T0 + 15_000, T0 + 25_000, 10)).map((u) => u.tick)).toEqual([T0 + 2_000]);
      expect((await store.unsent(0, T0 + 15_000, 10)).map((u) => u.tick)).toEqual([T0 + 1_000]);
      expect(await store.unsent(0, T0 + 20_000, 1)).toHaveLength(1);

      f.clock.set(T0 + 21_000);
      expect(await store.markSent("e", T0 + 1_000)).toBe(true);
      expect(await store.markSent("e", T0 + 1_000)).toBe(false);
      expect(await store.markSent("e", T0 + 7_000)).toBe(false);
      expect((await store.unsent(0, T0 + 30_000, 10)).map((u) => u.tick)).toEqual([T0 + 2_000]);
      const history = await store.history("e", 10);
      expect(history.find((h) => h.tick === T0 + 1_000)?.sentAt).toBe(T0 + 21_000);
      await store.markSent("e", T0 + 2_000);
      expect((await store.states(["e"])).get("e")?.lastFire?.sentAt).toBe(T0 + 21_000);
    });

    it("bounds an entry's history, dropping the oldest fires", async () => {
      await store.claim(claim({ lastTick: T0, historyLimit: 3 }));
      for (let i = 1; i <= 5; i++) {
        const ok = await store.claim(
          claim({
            expect: { lastTick: T0 + (i - 1) * 1_000, schedule: SCHED },
            lastTick: T0 + i * 1_000,
            fires: [fire(T0 + i * 1_000)],
            historyLimit: 3,
          }),
        );
        expect(ok.ok).toBe(true);
      }
      expect((await store.history("e", 10)).map((h) => h.tick)).toEqual([T0 + 5_000, T0 + 4_000, T0 + 3_000]);
      expect((await store.states(["e"])).get("e")?.fired).toBe(5);
    });

    it("records cleanup runs, newest first", async () => {
      const run = {
        task: "celery.backend_cleanup",
        taskId: "t1",
        startedAt: T0,
        durationMs: 12,
        tier: null,
        olderThanMs: null,
        dryRun: false,
        matched: 3,
        removed: 2,
        bytes: 300,
        archived: 1,
        archiveFile: "/a/b.jsonl.gz",
        trimmed: 0,
        errors: [],
      };
      await store.recordRun(run);
      await store.recordRun({ ...run, task: "ebb.cleanup", taskId: "t2", tier: "api", startedAt: T0 + 1, errors: ["disk full"] });
      const runs = await store.runs(10);
      expect(runs.map((r) => r.taskId)).toEqual(["t2", "t1"]);
      expect(runs[0]).toEqual({ ...run, task: "ebb.cleanup", taskId: "t2", tier: "api", startedAt: T0 + 1, errors: ["disk full"] });
      expect(await store.runs(1)).toHaveLength(1);
    });
    it("stores one history sample per slot, however many adds race for it", async () => {
      const at = T0 + 10 * MIN + 7_000;
      const outcomes = await Promise.all(Array.from({ length: 20 }, (_, i) => store.addSample(sample(at + i, 1_000 + i), SLOT)));
      expect(outcomes.filter(Boolean)).toHaveLength(1);
      const stored = await store.samples(0, 100);
      expect(stored).toHaveLength(1);
      // The winner's sample, whole.
      const winner = outcomes.indexOf(true);
      expect(stored[0]).toEqual(sample(at + winner, 1_000 + winner));
      // Later in the same slot: refused; in the next slot: stored.
      expect(await store.addSample(sample(T0 + 14 * MIN + 59_000), SLOT)).toBe(false);
      expect(await store.addSample(sample(T0 + 15 * MIN), SLOT)).toBe(true);
      expect(await store.latestSampleAt()).toBe(T0 + 15 * MIN);
    });

    it("has no samples before the first, and keeps a sample's cells exactly", async () => {
      expect(await store.latestSampleAt()).toBeNull();
      expect(await store.samples(0, 10)).toEqual([]);
      const s = sample(T0, 123_456_789_012, {
        total: 9_007_199_254,
        cells: [
          { tier: "a.b-c", state: "PENDING", count: 0, bytes: 0 },
          { tier: "compliance", state: "REVOKED", count: 7, bytes: 123_456_789_012 },
          { tier: "none", state: "STARTED", count: 2, bytes: 5 },
        ],
        expiredPending: 0,
        pendingBytes: 0,
      });
      expect(await store.addSample({ ...s, extra: "not kept" } as StorageSample, SLOT)).toBe(true);
      expect(await store.samples(0, 10)).toEqual([s]);
      expect(await store.latestSampleAt()).toBe(T0);
    });

    it("drops samples older than keepMs when it adds one", async () => {
      for (let i = 0; i < 12; i++) expect(await store.addSample(sample(T0 + i * 5 * MIN, i), SLOT)).toBe(true);
      // All 12 are within an hour of the newest (at T0 + 55 min).
      expect(await store.samples(0, 100)).toHaveLength(12);
      // At T0 + 70 min the cutoff is T0 + 10 min: the samples at T0 and T0 + 5 min go, T0 + 10 min stays.
      expect(await store.addSample(sample(T0 + 70 * MIN, 14), SLOT)).toBe(true);
      const kept = await store.samples(0, 100);
      expect(kept.map((k) => (k.at - T0) / MIN)).toEqual([10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 70]);
      // A refused add trims too.
      expect(await store.addSample(sample(T0 + 72 * MIN), { slotMs: 5 * MIN, keepMs: 30 * MIN })).toBe(false);
      expect((await store.samples(0, 100)).map((k) => (k.at - T0) / MIN)).toEqual([45, 50, 55, 70]);
      expect(await store.latestSampleAt()).toBe(T0 + 70 * MIN);
    });

    it("reads samples oldest first, from `since`, at most `limit`", async () => {
      // Added out of order.
      for (const i of [3, 0, 4, 1, 2]) await store.addSample(sample(T0 + i * 5 * MIN + i, i), { slotMs: 5 * MIN, keepMs: 86_400_000 });
      const ats = (list: StorageSample[]) => list.map((x) => x.at);
      expect(ats(await store.samples(0, 10))).toEqual([0, 1, 2, 3, 4].map((i) => T0 + i * 5 * MIN + i));
      expect(ats(await store.samples(T0 + 10 * MIN + 2, 10))).toEqual([T0 + 10 * MIN + 2, T0 + 15 * MIN + 3, T0 + 20 * MIN + 4]);
      expect(ats(await store.samples(T0 + 10 * MIN + 3, 10))).toEqual([T0 + 15 * MIN + 3, T0 + 20 * MIN + 4]);
      expect(ats(await store.samples(T0, 2))).toEqual([T0, T0 + 5 * MIN + 1]);
      expect(await store.samples(T0, 0)).toEqual([]);
      expect(await store.samples(T0 + 99 * MIN, 10)).toEqual([]);
    });
  });
}
