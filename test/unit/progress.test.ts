import { describe, expect, it } from "vitest";
import { progressReporter } from "../../src/cli/progress.js";

function fakeClock() {
  let t = 0;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe("progressReporter", () => {
  it("without a TTY prints nothing until one summary line at the end", () => {
    const out: string[] = [];
    const clock = fakeClock();
    const p = progressReporter({ write: (s) => out.push(s), isTTY: false, label: "cleanup", now: clock.now });
    p.update({ scanned: 500, matched: 400, deleted: 400 });
    clock.advance(2_000);
    p.update({ scanned: 1000, matched: 800, deleted: 800 });
    expect(out).toEqual([]);
    p.finish({ matched: 800, deleted: 800, bytes: 1_500_000, dryRun: false });
    expect(out).toEqual(["cleanup: matched 800, deleted 800, freed 1.5 MB in 2.0s (400/s)\n"]);
  });

  it("a dry run says what would be freed and the scan rate", () => {
    const out: string[] = [];
    const clock = fakeClock();
    const p = progressReporter({ write: (s) => out.push(s), isTTY: false, label: "cleanup", now: clock.now });
    p.update({ scanned: 3000, matched: 10, deleted: 0 });
    clock.advance(1_500);
    p.finish({ matched: 10, deleted: 0, bytes: 2_000, dryRun: true });
    expect(out).toEqual(["cleanup (dry run): matched 10, would free 2.0 KB; scanned 3000 in 1.5s (2000/s)\n"]);
  });

  it("on a TTY redraws one line in place, at most every redrawMs, and clears it before the summary", () => {
    const out: string[] = [];
    const clock = fakeClock();
    const p = progressReporter({ write: (s) => out.push(s), isTTY: true, label: "cleanup", now: clock.now, redrawMs: 100 });
    clock.advance(1_000);
    p.update({ scanned: 100, matched: 50, deleted: 50 });
    clock.advance(10);
    p.update({ scanned: 200, matched: 100, deleted: 100 });
    clock.advance(200);
    p.update({ scanned: 300, matched: 150, deleted: 150 });
    expect(out).toEqual([
      "\r\x1b[Kcleanup: scanned 100, matched 50, deleted 50 (50/s)",
      "\r\x1b[Kcleanup: scanned 300, matched 150, deleted 150 (124/s)",
    ]);
    p.finish({ matched: 150, deleted: 150, bytes: 10, dryRun: false });
    expect(out.slice(2)).toEqual(["\r\x1b[K", "cleanup: matched 150, deleted 150, freed 10 B in 1.2s (124/s)\n"]);
    expect(out.join("").includes("\n")).toBe(true);
  });
});
