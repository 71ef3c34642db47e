import { describe, expect, it } from "vitest";
import { newTaskId } from "../../src/protocol/task-id.js";
import { makeTaskMessage } from "../../src/protocol/task-message.js";

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe("newTaskId: version 7 UUIDs, ordered by time", () => {
  it("has the UUID form with version 7 and the RFC variant, and carries its millisecond", () => {
    const now = Date.parse("2026-12-02T08:00:00.123Z");
    const id = newTaskId(now);
    expect(id).toMatch(V7);
    expect(Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16)).toBe(now);
  });

  it("ids made later sort after ids made earlier; 100,000 made in one millisecond are all different", () => {
    const times = [0, 1, 999, 1_000, 1_700_000_000_000, 1_800_000_000_000, 2 ** 48 - 1];
    const ids = times.map((t) => newTaskId(t));
    expect([...ids].sort()).toEqual(ids);
    const same = new Set(Array.from({ length: 100_000 }, () => newTaskId(1_800_000_000_000)));
    expect(same.size).toBe(100_000);
    for (const id of [...same].slice(0, 1_000)) expect(id).toMatch(V7);
  });

  it("spreads its variant digit evenly over 8, 9, a and b (two random bits)", () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 40_000; i++) {
      const v = newTaskId(1_800_000_000_000)[19]!;
      counts.set(v, (counts.get(v) ?? 0) + 1);
    }
    expect([...counts.keys()].sort()).toEqual(["8", "9", "a", "b"]);
    // Each is 25% (10,000); 22–28% is over 13 standard deviations wide.
    for (const n of counts.values()) {
      expect(n / 40_000).toBeGreaterThan(0.22);
      expect(n / 40_000).toBeLessThan(0.28);
    }
  });

  it("refuses a time that is not epoch ms in 48 bits, naming it, rather than write a broken id", () => {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, -1, 2 ** 48]) expect(() => newTaskId(bad)).toThrow(RangeError);
    expect(() => newTaskId(Number.NaN)).toThrow(/epoch ms in \[0, 2\^48\), got NaN/);
  });

  it("is what a message gets when no id is given", () => {
    const before = Date.now();
    const m = makeTaskMessage({ task: "t", args: [] });
    expect(m.id).toMatch(V7);
    const ms = Number.parseInt(m.id.slice(0, 8) + m.id.slice(9, 13), 16);
    expect(ms).toBeGreaterThanOrEqual(before);
    expect(ms).toBeLessThanOrEqual(Date.now());
  });
});
