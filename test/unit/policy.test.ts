import { describe, it, expect } from "vitest";
import { ConfigError } from "../../src/errors.js";
import { decideRetention, lookupTier, type RetentionInput } from "../../src/retention/policy.js";
import { BUILTIN_TIERS } from "../../src/retention/tiers.js";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const base: RetentionInput = { globalMs: DAY, tiers: BUILTIN_TIERS };

describe("decideRetention precedence: dynamic > call > task > tier > global", () => {
  const all: RetentionInput = { ...base, dynamicMs: 1, callMs: 2, taskMs: 3, tier: "api" };

  it("dynamic wins over everything", () => {
    expect(decideRetention(all)).toEqual({ lifetimeMs: 1, tier: "api", action: "delete", source: "dynamic" });
  });

  it("call wins when there is no dynamic value", () => {
    expect(decideRetention({ ...all, dynamicMs: undefined })).toMatchObject({ lifetimeMs: 2, source: "call" });
  });

  it("task wins over tier and global", () => {
    expect(decideRetention({ ...all, dynamicMs: undefined, callMs: undefined })).toMatchObject({ lifetimeMs: 3, source: "task" });
  });

  it("the tier wins over global", () => {
    expect(decideRetention({ ...base, tier: "api" })).toEqual({ lifetimeMs: 6 * HOUR, tier: "api", action: "delete", source: "tier" });
  });

  it("global applies when nothing else is set", () => {
    expect(decideRetention(base)).toEqual({ lifetimeMs: DAY, tier: null, action: "delete", source: "global" });
  });

  it("0 is a setting, not unset", () => {
    expect(decideRetention({ ...base, dynamicMs: 0, callMs: 5 })).toMatchObject({ lifetimeMs: 0, source: "dynamic" });
    expect(decideRetention({ ...base, taskMs: 0, tier: "audit" })).toMatchObject({ lifetimeMs: 0, source: "task" });
  });
});

describe("decideRetention: null means never, at every level", () => {
  it("dynamic null beats a call value", () => {
    expect(decideRetention({ ...base, dynamicMs: null, callMs: HOUR })).toMatchObject({ lifetimeMs: null, source: "dynamic" });
  });

  it("call null beats a task value", () => {
    expect(decideRetention({ ...base, callMs: null, taskMs: HOUR })).toMatchObject({ lifetimeMs: null, source: "call" });
  });

  it("task null beats the tier", () => {
    expect(decideRetention({ ...base, taskMs: null, tier: "realtime" })).toMatchObject({
      lifetimeMs: null,
      source: "task",
      tier: "realtime",
    });
  });

  it("a tier that never expires beats global", () => {
    expect(decideRetention({ ...base, tier: "critical" })).toMatchObject({ lifetimeMs: null, source: "tier" });
  });

  it("global null", () => {
    expect(decideRetention({ ...base, globalMs: null })).toMatchObject({ lifetimeMs: null, source: "global" });
  });

  it("undefined is unset, and falls through", () => {
    expect(decideRetention({ ...base, dynamicMs: undefined, callMs: undefined, taskMs: 7 })).toMatchObject({
      lifetimeMs: 7,
      source: "task",
    });
  });
});

describe("decideRetention: the tier's action is carried whichever rule wins", () => {
  it.each([
    ["dynamic", { dynamicMs: 5 }],
    ["call", { callMs: 5 }],
    ["task", { taskMs: 5 }],
    ["tier", {}],
  ] as const)("audit archives when %s decides the lifetime", (source, extra) => {
    expect(decideRetention({ ...base, tier: "audit", ...extra })).toMatchObject({ tier: "audit", action: "archive", source });
  });

  it("compliance archives even with a never lifetime from the call", () => {
    expect(decideRetention({ ...base, tier: "compliance", callMs: null })).toMatchObject({ action: "archive", lifetimeMs: null });
  });

  it("without a tier the action is delete and the tier is null", () => {
    expect(decideRetention({ ...base, callMs: 5 })).toMatchObject({ action: "delete", tier: null });
  });

  it("uses the tiers it is given, including user tiers", () => {
    const tiers = {
      ...BUILTIN_TIERS,
      "audit-eu": { expiresMs: 40 * DAY, action: "archive" as const },
      api: { expiresMs: HOUR, action: "archive" as const },
    };
    expect(decideRetention({ ...base, tiers, tier: "audit-eu" })).toEqual({
      lifetimeMs: 40 * DAY,
      tier: "audit-eu",
      action: "archive",
      source: "tier",
    });
    expect(decideRetention({ ...base, tiers, tier: "api" })).toEqual({ lifetimeMs: HOUR, tier: "api", action: "archive", source: "tier" });
  });
});

describe("unknown tiers", () => {
  it("decideRetention throws a ConfigError naming the tier and listing the known ones", () => {
    let thrown: unknown;
    try {
      decideRetention({ ...base, tier: "gold" });
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    const message = (thrown as Error).message;
    expect(message).toContain('"gold"');
    for (const name of Object.keys(BUILTIN_TIERS)) expect(message).toContain(name);
  });

  it("throws even when a higher rule would decide the lifetime (a typo is never silent)", () => {
    expect(() => decideRetention({ ...base, tier: "audti", dynamicMs: 5 })).toThrow(ConfigError);
  });

  it("lookupTier lists user tiers too", () => {
    const tiers = { ...BUILTIN_TIERS, "audit-eu": { expiresMs: DAY, action: "archive" as const } };
    expect(() => lookupTier("nope", tiers)).toThrow(/audit-eu/);
    expect(lookupTier("audit-eu", tiers)).toBe(tiers["audit-eu"]);
  });

  it("does not treat Object.prototype names as tiers", () => {
    expect(() => lookupTier("toString", BUILTIN_TIERS)).toThrow(ConfigError);
    expect(() => lookupTier("__proto__", BUILTIN_TIERS)).toThrow(ConfigError);
  });
});
