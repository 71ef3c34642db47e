import { describe, expect, it } from "vitest";
import { MAX_DURATION_MS, parseDuration } from "../../src/duration.js";
import { ConfigError } from "../../src/errors.js";

/** A duration must fit in a Date once added to now; longer ones are refused naming the option. */
describe("parseDuration's upper bound", () => {
  it("keeps now ± the longest duration a valid Date", () => {
    const now = Date.now();
    expect(Number.isFinite(new Date(now + MAX_DURATION_MS).getTime())).toBe(true);
    expect(Number.isFinite(new Date(now - MAX_DURATION_MS).getTime())).toBe(true);
  });

  it("accepts the longest duration, in every spelling", () => {
    expect(parseDuration("50000000d", { option: "x" })).toBe(MAX_DURATION_MS);
    expect(parseDuration(MAX_DURATION_MS / 1000, { option: "x", numberUnit: "s" })).toBe(MAX_DURATION_MS);
    expect(parseDuration(String(MAX_DURATION_MS / 1000), { option: "x", numberUnit: "s" })).toBe(MAX_DURATION_MS);
  });

  it.each([
    ["a string with units", "99999999999d", {}],
    ["a sum", "50000000d1ms", {}],
    ["a bare number of seconds (text)", "999999999999999999999", { numberUnit: "s" as const }],
    ["a number of ms", MAX_DURATION_MS + 1, { numberUnit: "ms" as const }],
  ])("refuses %s beyond it, naming the option and the value", (_what, input, extra) => {
    let error: unknown;
    try {
      parseDuration(input, { option: "--expires", ...extra });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain("--expires");
    expect((error as Error).message).toContain(JSON.stringify(input).replace(/^"|"$/g, ""));
    expect((error as Error).message).toContain("at most 50000000d");
  });
});
