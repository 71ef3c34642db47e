import { describe, it, expect } from "vitest";
import { BUILTIN_TIERS } from "../../src/retention/tiers.js";

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

describe("BUILTIN_TIERS (the guide's Expiration Strategy Matrix)", () => {
  it("has exactly the six matrix tiers", () => {
    expect(Object.keys(BUILTIN_TIERS).sort()).toEqual(["api", "audit", "compliance", "critical", "realtime", "standard"]);
  });

  it.each([
    ["realtime", 15 * MIN, "delete"],
    ["api", 6 * HOUR, "delete"],
    ["standard", DAY, "delete"],
    ["audit", 30 * DAY, "archive"],
    ["compliance", 90 * DAY, "archive"],
  ] as const)("%s lives %d ms then %s", (name, ms, action) => {
    expect(BUILTIN_TIERS[name]).toEqual({ expiresMs: ms, action });
  });

  it("critical never expires", () => {
    expect(BUILTIN_TIERS.critical!.expiresMs).toBeNull();
  });

  it("cannot be changed by adding or replacing a tier", () => {
    const tiers = BUILTIN_TIERS as Record<string, unknown>;
    expect(() => {
      tiers.extra = { expiresMs: 1, action: "delete" };
    }).toThrow(TypeError);
    expect(() => {
      tiers.audit = { expiresMs: 1, action: "delete" };
    }).toThrow(TypeError);
    expect(BUILTIN_TIERS.audit).toEqual({ expiresMs: 30 * DAY, action: "archive" });
  });
});
