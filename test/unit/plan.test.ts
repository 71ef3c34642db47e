import { describe, expect, it } from "vitest";
import { ON_TIME_WINDOW_MS, planEntry, planTicks, type CatchUpPolicy, type PlanEntry } from "../../src/beat/plan.js";
import { crontab, every } from "../../src/beat/schedules.js";

const at = (iso: string) => Date.parse(iso);
const daily4 = crontab({ hour: 4, minute: 0 }).bind("UTC");
const perSecond = every("1s").bind("UTC");

function entry(ticks = daily4, catchUp: CatchUpPolicy = { kind: "latest" }, name = "e"): PlanEntry {
  return { name, ticks, catchUp };
}

/** The state a beat leaves after sending the 04:00 tick of this day. */
const sentOn = (day: string, ticks = daily4) => ({ lastTick: at(`${day}T04:00:00Z`), schedule: ticks.fingerprint });

describe("which ticks are due", () => {
  it("a new entry starts from now: nothing from before it existed is sent or counted missed", () => {
    const plan = planEntry(entry(), null, at("2026-06-10T12:00:00Z"))!;
    expect(plan).toMatchObject({
      expect: null,
      fires: [],
      missed: 0,
      lastTick: at("2026-06-10T04:00:00Z"),
      nextTick: at("2026-06-11T04:00:00Z"),
    });
  });

  it("nothing is due before the next tick, and the plan is null (nothing to claim)", () => {
    expect(planEntry(entry(), sentOn("2026-06-10"), at("2026-06-11T03:59:59.999Z"))).toBeNull();
  });

  it("a tick found within its on-time window is sent on time", () => {
    const plan = planEntry(entry(), sentOn("2026-06-10"), at("2026-06-11T04:00:00.020Z"))!;
    expect(plan.fires).toEqual([{ tick: at("2026-06-11T04:00:00Z"), catchUp: false }]);
    expect(plan).toMatchObject({ missed: 0, lastTick: at("2026-06-11T04:00:00Z"), nextTick: at("2026-06-12T04:00:00Z") });
  });

  it(`a tick found later than min(its period, ${ON_TIME_WINDOW_MS / 1000}s) was missed`, () => {
    const late = at("2026-06-11T04:00:00Z") + ON_TIME_WINDOW_MS;
    expect(planEntry(entry(), sentOn("2026-06-10"), late - 1)!.fires).toEqual([{ tick: at("2026-06-11T04:00:00Z"), catchUp: false }]);
    expect(planEntry(entry(), sentOn("2026-06-10"), late)!.fires).toEqual([{ tick: at("2026-06-11T04:00:00Z"), catchUp: true }]);
    // A 1-second entry's window is its period.
    const s = { lastTick: at("2026-06-11T04:00:00Z"), schedule: perSecond.fingerprint };
    expect(planEntry(entry(perSecond), s, at("2026-06-11T04:00:01.999Z"))!.fires).toEqual([
      { tick: at("2026-06-11T04:00:01Z"), catchUp: false },
    ]);
  });
});

describe("catch-up after downtime", () => {
  // Sent on the 10th; beat down until the 14th at 12:00: the 11th, 12th, 13th and 14th were missed.
  const back = at("2026-06-14T12:00:00Z");
  const missedDays = ["2026-06-11", "2026-06-12", "2026-06-13", "2026-06-14"].map((d) => at(`${d}T04:00:00Z`));

  it('"latest" (the default) sends one run, for the most recent missed tick', () => {
    const plan = planEntry(entry(), sentOn("2026-06-10"), back)!;
    expect(plan.fires).toEqual([{ tick: missedDays[3], catchUp: true }]);
    expect(plan).toMatchObject({ missed: 3, lastTick: missedDays[3], nextTick: at("2026-06-15T04:00:00Z") });
  });

  it('"skip" sends nothing and counts every missed tick', () => {
    const plan = planEntry(entry(daily4, { kind: "skip" }), sentOn("2026-06-10"), back)!;
    expect(plan).toMatchObject({ fires: [], missed: 4, lastTick: missedDays[3] });
  });

  it("{ all: true, within, max } sends the missed ticks within the window, oldest first, never more than max", () => {
    const all = planEntry(entry(daily4, { kind: "all", withinMs: null, max: 100 }), sentOn("2026-06-10"), back)!;
    expect(all.fires).toEqual(missedDays.map((tick) => ({ tick, catchUp: true })));
    expect(all.missed).toBe(0);
    const within = planEntry(entry(daily4, { kind: "all", withinMs: 2 * 86_400_000, max: 100 }), sentOn("2026-06-10"), back)!;
    expect(within.fires.map((f) => f.tick)).toEqual([missedDays[2], missedDays[3]]);
    expect(within.missed).toBe(2);
    const capped = planEntry(entry(daily4, { kind: "all", withinMs: null, max: 3 }), sentOn("2026-06-10"), back)!;
    expect(capped.fires.map((f) => f.tick)).toEqual(missedDays.slice(1));
    expect(capped.missed).toBe(1);
  });

  it("a missed tick is sent as a catch-up beside the tick that is on time now", () => {
    // A 1-second entry whose beats were all down for about 5 s.
    const s = { lastTick: at("2026-06-11T04:00:00Z"), schedule: perSecond.fingerprint };
    const plan = planEntry(entry(perSecond), s, at("2026-06-11T04:00:05.300Z"))!;
    expect(plan.fires).toEqual([
      { tick: at("2026-06-11T04:00:04Z"), catchUp: true },
      { tick: at("2026-06-11T04:00:05Z"), catchUp: false },
    ]);
    expect(plan.missed).toBe(3);
    const burst = planEntry(entry(perSecond, { kind: "all", withinMs: null, max: 2 }), s, at("2026-06-11T04:00:05.300Z"))!;
    expect(burst.fires.map((f) => [f.tick - s.lastTick, f.catchUp])).toEqual([
      [3_000, true],
      [4_000, true],
      [5_000, false],
    ]);
  });

  it("a long outage is counted, up to the cap, without sending a burst", () => {
    const s = { lastTick: at("2026-01-01T00:00:00Z"), schedule: perSecond.fingerprint };
    const plan = planEntry(entry(perSecond), s, at("2026-01-31T00:00:00.500Z"))!;
    expect(plan.fires).toHaveLength(2);
    expect(plan.missed).toBe(10_000 - 2);
  });
});

describe("schedule changes", () => {
  it("an entry whose schedule changed starts afresh from now: no catch-up for ticks of a schedule that did not exist", () => {
    const hourly = crontab({ minute: 0 }).bind("UTC");
    const old = sentOn("2026-06-10");
    const plan = planEntry(entry(hourly), old, at("2026-06-10T12:30:00Z"))!;
    expect(plan).toMatchObject({
      expect: old,
      schedule: hourly.fingerprint,
      fires: [],
      missed: 0,
      lastTick: at("2026-06-10T12:00:00Z"),
      nextTick: at("2026-06-10T13:00:00Z"),
    });
  });

  it("moving to another time zone is a schedule change", () => {
    const berlin = crontab({ hour: 4, minute: 0 }).bind("Europe/Berlin");
    expect(berlin.fingerprint).not.toBe(daily4.fingerprint);
    expect(planEntry(entry(berlin), sentOn("2026-06-10"), at("2026-06-10T05:00:00Z"))!.fires).toEqual([]);
  });
});

describe("when to look next", () => {
  it("is the soonest next tick of any entry", () => {
    const entries = [entry(daily4, { kind: "latest" }, "daily"), entry(every("15m").bind("UTC"), { kind: "latest" }, "quarter")];
    const now = at("2026-06-10T12:07:00Z");
    const states = new Map([
      ["daily", sentOn("2026-06-10")],
      ["quarter", { lastTick: at("2026-06-10T12:00:00Z"), schedule: entries[1]!.ticks.fingerprint }],
    ]);
    const plan = planTicks(entries, states, now);
    expect(plan.due).toEqual([]);
    expect(plan.nextCheckAt).toBe(at("2026-06-10T12:15:00Z"));
  });

  it("includes the entries that are due now, with their plans", () => {
    const entries = [entry(daily4, { kind: "latest" }, "daily")];
    const plan = planTicks(entries, new Map(), at("2026-06-10T12:07:00Z"));
    expect(plan.due.map((p) => p.entry)).toEqual(["daily"]);
    expect(plan.nextCheckAt).toBe(at("2026-06-11T04:00:00Z"));
  });

  it("is null when no entry has another tick", () => {
    const never = crontab({ monthOfYear: 2, dayOfMonth: 30 });
    expect(never.problem).toBeNull();
    expect(planTicks([], new Map(), 0).nextCheckAt).toBeNull();
  });
});
