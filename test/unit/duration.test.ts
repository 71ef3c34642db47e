import { describe, it, expect } from "vitest";
import { formatDuration, parseDuration } from "../../src/duration.js";
import { ConfigError } from "../../src/errors.js";

const opt = { option: "resultExpires" };

function configErrorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error("expected a ConfigError, nothing was thrown");
}

describe("parseDuration: strings with units", () => {
  it.each([
    ["500ms", 500],
    ["30s", 30_000],
    ["5m", 300_000],
    ["24h", 86_400_000],
    ["7d", 604_800_000],
    ["2w", 1_209_600_000],
    ["1h30m", 5_400_000],
    ["1d2h3m4s5ms", 93_784_005],
    ["1.5s", 1_500],
    ["0.5h", 1_800_000],
    ["90s", 90_000],
  ])("%s → %d ms", (text, ms) => {
    expect(parseDuration(text, opt)).toBe(ms);
  });

  it("does not confuse ms with m", () => {
    expect(parseDuration("1ms", opt)).toBe(1);
    expect(parseDuration("1m", opt)).toBe(60_000);
    expect(parseDuration("1m1ms", opt)).toBe(60_001);
  });

  it("ignores surrounding whitespace and a space before the unit", () => {
    expect(parseDuration("  30s ", opt)).toBe(30_000);
    expect(parseDuration("\t5m\n", opt)).toBe(300_000);
    expect(parseDuration("5 m", opt)).toBe(300_000);
  });

  it('"0s" is zero, not never', () => {
    expect(parseDuration("0s", opt)).toBe(0);
    expect(parseDuration("0ms", opt)).toBe(0);
  });
});

describe("parseDuration: never", () => {
  it('null and "never" mean never', () => {
    expect(parseDuration(null, opt)).toBeNull();
    expect(parseDuration("never", opt)).toBeNull();
    expect(parseDuration(null, { ...opt, allowNever: true })).toBeNull();
  });

  it.each([null, "never"])("%j is rejected when allowNever is false, naming the option", (value) => {
    const e = configErrorOf(() => parseDuration(value, { option: "visibilityTimeout", allowNever: false }));
    expect(e.message).toContain("visibilityTimeout");
    expect(e.message).toMatch(/cannot be never/);
    expect(e.message).not.toMatch(/or null for never/);
  });
});

describe("parseDuration: numbers", () => {
  it("accepts a number only when the option carries its unit", () => {
    expect(parseDuration(1500, { option: "timeoutMs", numberUnit: "ms" })).toBe(1500);
    expect(parseDuration(30, { option: "countdown", numberUnit: "s" })).toBe(30_000);
    expect(parseDuration(1.5, { option: "countdown", numberUnit: "s" })).toBe(1500);
    expect(parseDuration(0, { option: "countdown", numberUnit: "s" })).toBe(0);
  });

  it("accepts a numeric string when the option carries its unit", () => {
    expect(parseDuration("30", { option: "countdown", numberUnit: "s" })).toBe(30_000);
    expect(parseDuration(" 250 ", { option: "timeoutMs", numberUnit: "ms" })).toBe(250);
  });

  it("rejects a bare number without a unit, suggesting one", () => {
    const e = configErrorOf(() => parseDuration(300, opt));
    expect(e.message).toContain("resultExpires");
    expect(e.message).toContain("300");
    expect(e.message).toContain('"300s"');
  });

  it('rejects a unitless numeric string such as "300" without numberUnit', () => {
    const e = configErrorOf(() => parseDuration("300", opt));
    expect(e.message).toContain('"300"');
  });

  it.each([
    ["-1", -1],
    ["NaN", Number.NaN],
    ["Infinity", Number.POSITIVE_INFINITY],
    ["-Infinity", Number.NEGATIVE_INFINITY],
  ])("rejects %s even with numberUnit, naming the option and the value", (shown, value) => {
    const e = configErrorOf(() => parseDuration(value, { option: "countdown", numberUnit: "s" }));
    expect(e.message).toContain("countdown");
    expect(e.message).toContain(shown);
  });
});

describe("parseDuration: rejections name the option and show the bad value", () => {
  it.each([
    ["-5m", '"-5m"', /negative/],
    ["5 minutes", '"5 minutes"', /duration/],
    ["", '""', /duration/],
    ["   ", '"   "', /duration/],
    ["5x", '"5x"', /duration/],
    ["5", '"5"', /duration/],
    ["m", '"m"', /duration/],
    ["1h30", '"1h30"', /duration/],
    ["Infinity", '"Infinity"', /duration/],
    ["NaNs", '"NaNs"', /duration/],
    ["1e3s", '"1e3s"', /duration/],
    ["5M", '"5M"', /duration/],
    ["forever", '"forever"', /duration/],
  ])("%j", (input, shown, why) => {
    const e = configErrorOf(() => parseDuration(input, opt));
    expect(e.message).toContain("resultExpires");
    expect(e.message).toContain(shown);
    expect(e.message).toMatch(why);
    expect(e.code).toBe("CONFIG");
  });

  it.each([
    ["an object", { hours: 1 }, '{"hours":1}'],
    ["an array", ["5m"], '["5m"]'],
    ["a boolean", true, "true"],
    ["undefined", undefined, "undefined"],
  ])("%s", (_label, input, shown) => {
    const e = configErrorOf(() => parseDuration(input, opt));
    expect(e.message).toContain("resultExpires");
    expect(e.message).toContain(shown);
  });

  it("gives examples of valid durations", () => {
    expect(configErrorOf(() => parseDuration("soon", opt)).message).toMatch(/"30s".*"5m".*"24h"/);
  });
});

describe("formatDuration", () => {
  it.each([
    [null, "never"],
    [0, "0s"],
    [500, "500ms"],
    [1000, "1s"],
    [90_000, "1m30s"],
    [5_400_000, "1h30m"],
    [86_400_000, "1d"],
    [604_800_000, "7d"],
    [93_784_005, "1d2h3m4s5ms"],
    [1_500, "1s500ms"],
  ] as const)("%j → %s", (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it("writes what parseDuration reads back", () => {
    for (const ms of [0, 1, 999, 1000, 61_001, 3_600_000, 90_061_001, 2_592_000_000]) {
      expect(parseDuration(formatDuration(ms), opt)).toBe(ms);
    }
    expect(parseDuration(formatDuration(null), opt)).toBeNull();
  });
});
