import { describe, expect, it } from "vitest";
import { manualClock } from "../../src/clock.js";
import { REVOKED_EXPIRES_MS, REVOKED_MAX, RevokedSet } from "../../src/control/revoked-set.js";

describe("the revoked set", () => {
  it("is bounded as Celery's worker bounds it by default: 50,000 ids, each for 3 hours", () => {
    const s = new RevokedSet();
    expect([s.maxSize, s.expiresMs]).toEqual([REVOKED_MAX, REVOKED_EXPIRES_MS]);
    expect([REVOKED_MAX, REVOKED_EXPIRES_MS]).toEqual([50_000, 10_800 * 1000]);
  });

  it("forgets the oldest ids beyond maxSize, at once", () => {
    const clock = manualClock();
    const s = new RevokedSet({ maxSize: 3, clock });
    s.add(["a", "b"]);
    clock.advance(1);
    s.add(["c", "d"]);
    expect(s.ids()).toEqual(["b", "c", "d"]);
    expect(s.has("a")).toBe(false);
    expect(s.has("d")).toBe(true);
    expect(s.size).toBe(3);
  });

  it("stops counting an id as revoked once it expires, however empty the set is", () => {
    const clock = manualClock();
    const s = new RevokedSet({ expiresMs: 1_000, clock });
    s.add(["a"]);
    clock.advance(600);
    s.add(["b"]);
    clock.advance(399);
    expect([s.has("a"), s.has("b")]).toEqual([true, true]);
    clock.advance(1);
    expect([s.has("a"), s.has("b")]).toEqual([false, true]);
    expect(s.ids()).toEqual(["b"]);
  });

  it("a second revoke of an id restarts its time and makes it the newest", () => {
    const clock = manualClock();
    const s = new RevokedSet({ maxSize: 2, expiresMs: 1_000, clock });
    s.add(["a", "b"]);
    clock.advance(900);
    s.add(["a"]);
    s.add(["c"]);
    expect(s.ids()).toEqual(["a", "c"]);
    clock.advance(500);
    expect(s.has("a")).toBe(true);
  });

  it("rejects nonsense bounds, naming them", () => {
    expect(() => new RevokedSet({ maxSize: 0 })).toThrow(/maxSize to be an integer >= 1, got 0/);
    expect(() => new RevokedSet({ expiresMs: -1 })).toThrow(/expiresMs to be a number > 0, got -1/);
  });
});
