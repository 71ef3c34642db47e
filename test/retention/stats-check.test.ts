import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { check } from "../../src/monitor/check.js";
import { stats } from "../../src/monitor/stats.js";
import { cleanup } from "../../src/retention/cleanup.js";
import { fullScan, LOCAL_RETENTION_STORES, type RetentionFixture } from "../support/retention-stores.js";

const H = 3_600_000;
const D = 24 * H;

for (const [name, make] of LOCAL_RETENTION_STORES) {
  describe(`stats on ${name}`, () => {
    let f: RetentionFixture;
    beforeEach(async () => {
      f = await make();
    });
    afterEach(async () => {
      await f.store.close();
      await f.cleanup?.();
    });

    it("an empty store", async () => {
      const r = await stats(f.store);
      expect(r).toMatchObject({
        total: 0,
        bytes: 0,
        byTier: {},
        expiredPending: 0,
        expiredOverGrace: null,
        held: 0,
        permanent: 0,
        oldestDateDone: null,
        nextExpiry: null,
      });
      expect(r.byState).toEqual({ PENDING: 0, RECEIVED: 0, STARTED: 0, RETRY: 0, SUCCESS: 0, FAILURE: 0, REVOKED: 0 });
    });

    it("counts by state and tier, bytes, the cleanup backlog, holds, permanent results, oldest and next expiry", async () => {
      await f.seed([
        { taskId: "old-expired", lifetimeMs: H, doneAgoMs: 10 * D, tier: "standard" },
        { taskId: "expired", lifetimeMs: H, doneAgoMs: 2 * H },
        { taskId: "held-expired", lifetimeMs: H, doneAgoMs: 3 * H, held: true },
        {
          taskId: "failed",
          status: "FAILURE",
          result: { exc_type: "ValueError", exc_message: ["x"], exc_module: "builtins" },
          lifetimeMs: 5 * H,
          doneAgoMs: H,
          tier: "audit",
          action: "archive",
        },
        { taskId: "started", status: "STARTED", lifetimeMs: 2 * H },
        { taskId: "forever", lifetimeMs: null, doneAgoMs: 20 * D },
      ]);
      const now = f.clock();
      const r = await stats(f.store, { graceMs: 7 * D });
      expect(r).toMatchObject({
        total: 6,
        byTier: { standard: 1, none: 4, audit: 1 },
        bytes: (await fullScan(f.store)).reduce((n, x) => n + x.bytes, 0),
        expiredPending: 2,
        expiredOverGrace: 1,
        held: 1,
        permanent: 1,
        oldestDateDone: new Date(now - 20 * D).toISOString(),
        nextExpiry: new Date(now + 2 * H).toISOString(),
      });
      expect(r.byState).toMatchObject({ SUCCESS: 4, FAILURE: 1, STARTED: 1, RETRY: 0 });
      expect(r.store).toEqual(expect.objectContaining({ kind: name }));
      // After cleanup the backlog is gone, and stats shows it.
      await cleanup(f.store, {});
      expect(await stats(f.store)).toMatchObject({ total: 4, expiredPending: 0 });
    });
  });
}

describe("check", () => {
  const report = { total: 120, bytes: 5_000 };

  it("is ok within the limits, and exactly at a limit", () => {
    expect(check(report, { maxResults: 120, maxBytes: 10_000 })).toEqual({
      ok: true,
      total: 120,
      bytes: 5_000,
      limits: { maxResults: 120, maxBytes: 10_000 },
      over: [],
    });
  });

  it("says which limit is exceeded and by how much", () => {
    expect(check(report, { maxResults: 100, maxBytes: 4_000 })).toEqual({
      ok: false,
      total: 120,
      bytes: 5_000,
      limits: { maxResults: 100, maxBytes: 4_000 },
      over: [
        { limit: "maxResults", value: 120, max: 100, by: 20 },
        { limit: "maxBytes", value: 5_000, max: 4_000, by: 1_000 },
      ],
    });
    expect(check(report, { maxBytes: 4_999 }).over).toEqual([{ limit: "maxBytes", value: 5_000, max: 4_999, by: 1 }]);
  });

  it("a limit not given is null and never breached", () => {
    expect(check(report, { maxResults: 1_000 })).toMatchObject({ ok: true, limits: { maxResults: 1_000, maxBytes: null } });
  });
});
