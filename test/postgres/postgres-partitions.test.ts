import { afterEach, describe, expect, it } from "vitest";
import { PostgresBackend } from "../../src/backends/postgres/postgres-backend.js";
import { manualClock } from "../../src/clock.js";
import { StoreUnavailableError } from "../../src/errors.js";
import { cleanup } from "../../src/retention/cleanup.js";
import { postgresSchema, type PostgresSchema, TEST_DATABASE_URL } from "../support/postgres-schema.js";
import { storeSeeder } from "../support/seed-results.js";
import { describeWithService } from "../support/services.js";
import { waitFor } from "../support/wait.js";

const H = 3_600_000;
const D = 24 * H;
/** 2026-06-01 10:30 UTC: half past an hour, so "the current hour" holds some expired results. */
const START = Date.UTC(2026, 5, 1, 10, 30);

const opened: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of opened.splice(0).reverse()) await close();
});

async function fresh(options: { partition?: "hour" | "day"; graceMs?: number; defaultLifetimeMs?: number } = {}) {
  const ns = await postgresSchema();
  opened.push(() => ns.cleanup());
  const clock = manualClock(START);
  const url = options.partition ? `${ns.url}&partition=${options.partition}` : ns.url;
  const store = await new PostgresBackend({ url, clock, graceMs: options.graceMs, defaultLifetimeMs: options.defaultLifetimeMs }).connect();
  opened.push(() => store.close());
  return { ns, clock, store, seed: storeSeeder(store, clock) };
}

/** Which table holds each id's row (none: it is gone). */
async function homes(ns: PostgresSchema, ids: string[]): Promise<Record<string, string>> {
  const rows = await ns.sql(`SELECT task_id, tableoid::regclass::text AS home FROM "${ns.schema}".ebb_results WHERE task_id = ANY($1)`, [
    ids,
  ]);
  // The hour's partition, not which of its hash parts holds the row.
  return Object.fromEntries(rows.map((r) => [r.task_id as string, (r.home as string).replace(`${ns.schema}.`, "").replace(/_h\d+$/, "")]));
}

async function tableExists(ns: PostgresSchema, name: string): Promise<boolean> {
  const [row] = await ns.sql("SELECT to_regclass($1) IS NOT NULL AS ok", [`"${ns.schema}".${name}`]);
  return row!.ok as boolean;
}

await describeWithService("postgres", "postgresql results: partitions", () => {
  it("makes the partitions the default lifetime needs at connect, so the first store makes no table", async () => {
    const { ns } = await fresh({ defaultLifetimeMs: D });
    // Now (10:30) plus 24 h: the hour of 2026-06-02 10:00 and the one after, for results and ledger.
    for (const name of [
      "ebb_results_d_2026060210",
      "ebb_results_d_2026060211",
      "ebb_expiry_ledger_2026060210",
      "ebb_expiry_ledger_2026060211",
    ])
      expect(await tableExists(ns, name), name).toBe(true);
    expect(await tableExists(ns, "ebb_results_d_2026060212")).toBe(false);
    const none = await fresh();
    expect(await tableExists(none.ns, "ebb_results_d_2026060210")).toBe(false);
  });

  it("puts each result in the partition of its lane and expiry, and makes the next partition ahead", async () => {
    const { ns, seed, store } = await fresh();
    await seed([
      { taskId: "plain", lifetimeMs: 2 * H },
      { taskId: "audit", lifetimeMs: 2 * H, tier: "audit", action: "archive" },
      { taskId: "forever", lifetimeMs: null },
      { taskId: "running", status: "STARTED", lifetimeMs: 2 * H },
    ]);
    expect(await homes(ns, ["plain", "audit", "forever", "running"])).toEqual({
      plain: "ebb_results_d_2026060112",
      audit: "ebb_results_a_2026060112",
      forever: "ebb_results_kept",
      running: "ebb_results_kept",
    });
    // Each hour is split in hash parts, so a drop frees its space a part at a time.
    const parts = await ns.sql(
      `SELECT c.relname AS part FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass($1) ORDER BY 1`,
      [`"${ns.schema}".ebb_results_d_2026060112`],
    );
    expect(parts.map((p) => p.part)).toEqual(["_h0", "_h1", "_h2", "_h3"].map((h) => `ebb_results_d_2026060112${h}`));
    // ebb stats' facts: the partitioned table's size and leaves.
    const facts = await store.storeFacts();
    expect(facts).toMatchObject({ kind: "postgres" });
    expect(facts.partitions).toBeGreaterThanOrEqual(1 + 3 * 4); // kept, and 4 parts of each hour in use or ahead
    expect(facts.tableBytes).toBeGreaterThan(0);
    // The hour after the one in use is there before anyone writes to it.
    expect(await tableExists(ns, "ebb_results_d_2026060113")).toBe(true);
    expect(await tableExists(ns, "ebb_expiry_ledger_2026060113")).toBe(true);
  });

  it("a hold, a release, a changed lifetime and a restore each move the row to its partition", async () => {
    const { ns, store, clock, seed } = await fresh();
    await seed([{ taskId: "r", lifetimeMs: 2 * H }]);
    expect(await store.setHeld("r", true)).toBe(true);
    expect(await homes(ns, ["r"])).toEqual({ r: "ebb_results_kept" });
    expect(await store.setHeld("r", false)).toBe(true);
    expect(await homes(ns, ["r"])).toEqual({ r: "ebb_results_d_2026060112" });

    // RETRY waits in the kept lane; its SUCCESS with another lifetime lands in that lifetime's hour.
    const base = { result: 1, traceback: null, children: [], tier: null, action: "delete" as const };
    await store.store({ taskId: "t", status: "RETRY", lifetimeMs: H, ...base });
    expect(await homes(ns, ["t"])).toEqual({ t: "ebb_results_kept" });
    await store.store({ taskId: "t", status: "SUCCESS", lifetimeMs: 5 * H, ...base });
    expect(await homes(ns, ["t"])).toEqual({ t: "ebb_results_d_2026060115" });

    // A restore with an expiry a day later goes to that day's hour, made on demand.
    const rec = (await store.read("r"))!;
    expect(await store.put({ ...rec, expiresAt: clock() + D }, { replace: true })).toBe(true);
    expect(await homes(ns, ["r"])).toEqual({ r: "ebb_results_d_2026060210" });
    expect((await store.lookup("r", { graceMs: H })).kind).toBe("found");
    // Each move left a dead row version behind, and ebb stats says so once PostgreSQL's statistics
    // have it (the writing connections report within seconds).
    await waitFor("the moves' dead rows in ebb stats", async () => ((await store.storeFacts()).deadTuples ?? 0) >= 4, 25_000, 250);
  }, 30_000);

  it("dropExpired drops whole expired partitions; held, permanent and unarchived results survive, and dropped ids read EXPIRED", async () => {
    const { ns, store, clock, seed } = await fresh({ graceMs: D });
    const old = Array.from({ length: 40 }, (_, i) => ({ taskId: `old-${i}`, lifetimeMs: H, doneAgoMs: 3 * H + i * 1_000 }));
    await seed([
      ...old,
      { taskId: "this-hour", lifetimeMs: H, doneAgoMs: H + 60_000 }, // expired at 10:29, in the 10:00 partition
      { taskId: "fresh", lifetimeMs: 2 * H },
      { taskId: "held", lifetimeMs: H, doneAgoMs: 3 * H, held: true },
      { taskId: "forever", lifetimeMs: null, doneAgoMs: 30 * D },
      { taskId: "audit-pending", lifetimeMs: H, doneAgoMs: 3 * H, tier: "audit", action: "archive" },
      { taskId: "audit-done", lifetimeMs: H, doneAgoMs: 5 * H, tier: "audit", action: "archive", archived: true },
    ]);
    const oldHome = "ebb_results_d_2026060108";
    expect(await tableExists(ns, oldHome)).toBe(true);

    const dropped = await store.dropExpired(clock());
    expect(dropped.removed).toBe(41); // the 40 old ones and the archived audit result, a partition each
    expect(dropped.bytes).toBeGreaterThan(0);
    // Detached at once: no read or scan sees the rows; the tables' drops finish in the background.
    expect(await homes(ns, ["old-0", "old-39"])).toEqual({});
    await store.reclaimed();
    expect(await tableExists(ns, oldHome)).toBe(false);
    expect(await tableExists(ns, "ebb_results_a_2026060106")).toBe(false);
    expect(await tableExists(ns, "ebb_results_a_2026060108")).toBe(true); // audit-pending keeps its partition
    expect(Object.keys(await homes(ns, ["held", "forever", "audit-pending", "this-hour", "fresh", "old-0"])).sort()).toEqual([
      "audit-pending",
      "forever",
      "fresh",
      "held",
      "this-hour",
    ]);
    // A dropped id reads EXPIRED, at its own expiry, from the ledger.
    const gone = await store.lookup("old-0", { graceMs: D });
    expect(gone).toEqual({ kind: "expired", taskId: "old-0", expiredAt: START - 3 * H + H });

    // cleanup() drops first, then its scan removes the few expired rows of the current hour.
    const report = await cleanup(store, {});
    expect(report.deleted).toBe(1);
    expect(report.kept["keep:held"]).toBe(1);
    expect(report.kept["keep:needs-archive"]).toBe(1);
    expect(await store.read("this-hour")).toBeNull();
    for (const id of ["held", "forever", "audit-pending", "fresh"]) expect(await store.read(id)).not.toBeNull();

    // Past the grace window the ledger's partitions go too, and the id is unknown.
    clock.advance(2 * D);
    expect(await store.housekeep()).toBeGreaterThan(0);
    expect(await store.lookup("old-0", { graceMs: D })).toEqual({ kind: "missing" });
    expect(await tableExists(ns, "ebb_expiry_ledger_2026060108")).toBe(false);
  });

  it("an archive partition goes only once every row in it is archived", async () => {
    const { ns, store, clock, seed } = await fresh();
    await seed([
      { taskId: "a1", lifetimeMs: H, doneAgoMs: 3 * H, tier: "audit", action: "archive" },
      { taskId: "a2", lifetimeMs: H, doneAgoMs: 3 * H + 1_000, tier: "audit", action: "archive" },
    ]);
    await store.markArchived(["a1"]);
    expect((await store.dropExpired(clock())).removed).toBe(0);
    expect(await tableExists(ns, "ebb_results_a_2026060108")).toBe(true);
    await store.markArchived(["a2"]);
    expect((await store.dropExpired(clock())).removed).toBe(2);
    await store.reclaimed();
    expect(await tableExists(ns, "ebb_results_a_2026060108")).toBe(false);
  });

  it("finishes a drop that a crash left detached; a detached archive partition with unarchived rows goes back", async () => {
    const { ns, store, clock, seed } = await fresh();
    await seed([
      { taskId: "d", lifetimeMs: H, doneAgoMs: 3 * H },
      { taskId: "a", lifetimeMs: H, doneAgoMs: 3 * H, tier: "audit", action: "archive" },
    ]);
    const s = `"${ns.schema}"`;
    await ns.sql(`ALTER TABLE ${s}.ebb_results_delete DETACH PARTITION ${s}.ebb_results_d_2026060108`);
    await ns.sql(`ALTER TABLE ${s}.ebb_results_archive DETACH PARTITION ${s}.ebb_results_a_2026060108`);
    await store.dropExpired(clock());
    await store.reclaimed();
    expect(await tableExists(ns, "ebb_results_d_2026060108")).toBe(false);
    expect(await homes(ns, ["a", "d"])).toEqual({ a: "ebb_results_a_2026060108" });
    expect((await store.read("a"))?.archived).toBe(false);
  });

  it("migrates once when five processes open a new schema at the same moment", async () => {
    const ns = await postgresSchema();
    opened.push(() => ns.cleanup());
    const stores = await Promise.all(Array.from({ length: 5 }, () => new PostgresBackend({ url: ns.url }).connect()));
    for (const s of stores) opened.push(() => s.close());
    const ids = await ns.sql(`SELECT id FROM "${ns.schema}".ebb_migrations ORDER BY id`);
    expect(ids.map((r) => r.id)).toEqual([...new Set(ids.map((r) => r.id))]);
    expect(ids.map((r) => r.id)).toContain("0001_results");
    const base = {
      status: "SUCCESS" as const,
      result: 1,
      traceback: null,
      children: [],
      lifetimeMs: H,
      tier: null,
      action: "delete" as const,
    };
    const outcomes = await Promise.all(stores.map((s, i) => s.store({ ...base, taskId: `p-${i}` })));
    expect(outcomes.every((o) => o.stored)).toBe(true);
  });

  it("two processes storing the same ids at once keep one result per id", async () => {
    const { ns } = await fresh();
    const other = await new PostgresBackend({ url: ns.url }).connect();
    opened.push(() => other.close());
    const first = await new PostgresBackend({ url: ns.url }).connect();
    opened.push(() => first.close());
    const base = { status: "SUCCESS" as const, traceback: null, children: [], lifetimeMs: H, tier: null, action: "delete" as const };
    const ids = Array.from({ length: 200 }, (_, i) => `same-${i}`);
    const [a, b] = await Promise.all(
      [first, other].map((s, n) => Promise.all(ids.map((taskId) => s.store({ ...base, taskId, result: `from-${n}` })))),
    );
    for (let i = 0; i < ids.length; i++) {
      expect([a![i]!.stored, b![i]!.stored].filter(Boolean)).toHaveLength(1);
      expect(a![i]!.result.result).toBe(b![i]!.result.result);
    }
    const [count] = await ns.sql(`SELECT count(*)::int AS n FROM "${ns.schema}".ebb_results`);
    expect(count!.n).toBe(200);
  });

  it("keeps the partition width it was made with, and says so when a URL asks for another", async () => {
    const { ns } = await fresh({ partition: "day" });
    await expect(new PostgresBackend({ url: `${ns.url}&partition=hour` }).connect()).rejects.toThrow(
      /partitioned by day, not hour; drop \?partition= or use another \?schema=/,
    );
    const same = await new PostgresBackend({ url: ns.url }).connect();
    opened.push(() => same.close());
    expect(await same.put({ ...(await sample()), expiresAt: START + H }, { replace: false })).toBe(true);
    expect(await homes(ns, ["s"])).toEqual({ s: "ebb_results_d_20260601" });
  });

  describe("connection errors", () => {
    it("a wrong user, a missing database and an unreachable host each say what to check, never the password", async () => {
      const cases: Array<[string, RegExp]> = [
        [TEST_DATABASE_URL.replace("postgres@", "no_such_role:s3cret@"), /check the user and password/],
        [TEST_DATABASE_URL.replace("/test", "/no_such_database_ebb"), /check the database name/],
        ["postgresql://ebb:s3cret@127.0.0.1:1/test", /check that the server is running/],
      ];
      for (const [url, hint] of cases) {
        const error = await new PostgresBackend({ url })
          .connect()
          .then(() => null)
          .catch((e: unknown) => e);
        expect(error).toBeInstanceOf(StoreUnavailableError);
        expect((error as Error).message).toMatch(hint);
        expect((error as Error).message).not.toContain("s3cret");
      }
    });
  });
});

async function sample() {
  return {
    taskId: "s",
    status: "SUCCESS" as const,
    result: 1,
    traceback: null,
    children: [],
    dateDone: START,
    expiresAt: START + H,
    tier: null,
    action: "delete" as const,
    held: false,
  };
}
