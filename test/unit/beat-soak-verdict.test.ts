import { describe, expect, it } from "vitest";
import { verify, type Run, type SoakOutcome } from "../e2e/beat-soak.js";

// The soak's verdict must catch what it claims to catch; here it is fed runs with known faults.
const S = Date.UTC(2026, 0, 1, 12, 0, 0);
const run = (entry: string, tick: number, id = `${entry}-${tick}`, catchUp = false): Run => ({ entry, tick, catchUp, id, pid: 1 });

/** No beat was up until S - 4 s: the first ticks the runs hold are after it. */
const STARTUP: [number, number] = [S - 10_000, S - 4_000];

function outcome(runs: Run[], downWindows: Array<[number, number]> = [], startupWindow = STARTUP): SoakOutcome {
  return { runs, fires: [], startupWindow, downWindows, start: S, end: S + 60_000, kills: 0, log: "" };
}

/** A clean run: every second, every 2 s and every minute tick of 2 minutes, once. */
function clean(): Run[] {
  const out: Run[] = [];
  for (let t = S; t <= S + 120_000; t += 1_000) out.push(run("second", t));
  for (let t = S; t <= S + 120_000; t += 2_000) out.push(run("pair", t));
  for (let t = S; t <= S + 120_000; t += 60_000) out.push(run("minute", t));
  return out;
}

describe("the soak's verdict", () => {
  it("passes a clean run", () => {
    expect(verify(outcome(clean())).problems).toEqual([]);
  });

  it("takes the time before the first beat was up as a down window: its catch-up is owed there, and only there", () => {
    // The first beat came up late (S + 2 s): ticks S and S + 1 s were missed, and the latest is caught up.
    const late = clean().filter((r) => !(r.entry === "second" && r.tick <= S + 1_000));
    const caughtUp = [...late, run("second", S + 1_000, "late-catch-up", true)];
    expect(verify(outcome(caughtUp, [], [S - 3_000, S + 2_000])).problems).toEqual([]);
    expect(verify(outcome(caughtUp)).problems).toEqual([
      expect.stringMatching(/second: catch-up run for .*12:00:01.* outside every down window/),
    ]);
  });

  it("catches a tick sent twice (two task ids), but not a redelivery of one message", () => {
    const twice = [...clean(), run("second", S + 5_000, "other-id")];
    expect(verify(outcome(twice)).problems).toEqual([expect.stringMatching(/second: tick .* sent 2 times/)]);
    const redelivered = [...clean(), run("second", S + 5_000)];
    expect(verify(outcome(redelivered)).problems).toEqual([]);
  });

  it("catches a gap while some process was running, and accepts one inside a down window with its catch-up", () => {
    const gap = clean().filter((r) => !(r.entry === "second" && r.tick === S + 30_000));
    expect(verify(outcome(gap)).problems).toEqual([
      expect.stringMatching(/second: tick .*12:00:30.* never ran, and some process was running/),
    ]);
    const down: [number, number] = [S + 30_000, S + 36_000];
    const caughtUp = clean()
      .filter((r) => !(r.tick >= S + 30_000 && r.tick <= S + 35_000 && r.entry !== "minute"))
      .concat([
        run("second", S + 35_000, "c", true),
        run("pair", S + 30_000, "p1", true),
        run("pair", S + 32_000, "p2", true),
        run("pair", S + 34_000, "p3", true),
      ]);
    expect(verify(outcome(caughtUp, [down])).problems).toEqual([]);
  });

  it("catches a policy broken by one claim: two catch-ups for latest, four for all(max 3), or catch-ups that are not the most recent missed ticks", () => {
    const down: [number, number] = [S + 30_000, S + 40_000];
    const base = clean().filter((r) => !(r.tick >= S + 30_000 && r.tick <= S + 39_000 && r.entry !== "minute"));
    /** Catch-up runs with their fires, all claimed by one plan at S + 40 s. */
    const caught = (entry: string, secs: number[]) => secs.map((x) => run(entry, S + x * 1000, `${entry}${x}`, true));
    const withFires = (runs: Run[]) => ({
      ...outcome(runs, [down]),
      fires: runs
        .filter((r) => r.catchUp)
        .map((r) => ({ entry: r.entry, tick: r.tick, taskId: r.id, catchUp: true, claimedAt: S + 40_000, sentAt: S + 40_001 })),
    });
    const good = [...base, ...caught("second", [39]), ...caught("pair", [34, 36, 38])];
    expect(verify(withFires(good)).problems).toEqual([]);
    const latestTwice = [...base, ...caught("second", [38, 39]), ...caught("pair", [34, 36, 38])];
    expect(verify(withFires(latestTwice)).problems).toEqual([
      expect.stringMatching(/second: one claim sent 2 catch-up runs, its policy allows 1/),
    ]);
    const pairFour = [...base, ...caught("second", [39]), ...caught("pair", [32, 34, 36, 38])];
    expect(verify(withFires(pairFour)).problems).toEqual([
      expect.stringMatching(/pair: one claim sent 4 catch-up runs, its policy allows 3/),
    ]);
    const pairOld = [...base, ...caught("second", [39]), ...caught("pair", [30, 32, 36])];
    expect(verify(withFires(pairOld)).problems).toEqual([
      expect.stringMatching(/pair: the catch-ups claimed together .* are not the most recent missed ticks/),
    ]);
    const none = [...base, ...caught("pair", [34, 36, 38])];
    expect(verify(withFires(none)).problems).toEqual([
      expect.stringMatching(/second: 0 catch-up runs for 10 missed ticks .* expected at least 1/),
    ]);
  });

  it("accepts a second catch-up claimed apart, for a tick missed again after the restart (a lagging beat)", () => {
    const down: [number, number] = [S + 30_000, S + 45_000];
    const runs = clean().filter(
      (r) => !(r.entry === "second" && ((r.tick >= S + 30_000 && r.tick <= S + 38_000) || r.tick === S + 41_000)),
    );
    const marked = runs.map((r) =>
      r.entry === "second" && (r.tick === S + 39_000 || r.tick === S + 42_000) ? { ...r, catchUp: true } : r,
    );
    const fires = [S + 39_000, S + 42_000].map((tick, i) => ({
      entry: "second",
      tick,
      taskId: `second-${tick}`,
      catchUp: true,
      claimedAt: S + 40_000 + i * 3_000,
      sentAt: null,
    }));
    expect(verify({ ...outcome(marked, [down]), fires }).problems).toEqual([]);
  });

  it("catches a catch-up outside every down window, and a fire claimed before its tick", () => {
    const stray = clean().map((r) => (r.entry === "second" && r.tick === S + 50_000 ? { ...r, catchUp: true } : r));
    expect(verify(outcome(stray)).problems).toEqual([expect.stringMatching(/catch-up run for .* outside every down window/)]);
    const early = {
      ...outcome(clean()),
      fires: [{ entry: "second", tick: S + 40_000, taskId: "x", catchUp: false, claimedAt: S + 10_000, sentAt: S + 10_001 }],
    };
    expect(verify(early).problems).toEqual([expect.stringMatching(/claimed 30000 ms early/)]);
  });
});
