import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SqliteBackend } from "../../src/backends/sqlite/sqlite-backend.js";
import { manualClock } from "../../src/clock.js";
import { EBB_INDEX } from "../e2e/cli-harness.js";
import { fullScan } from "../support/retention-stores.js";
import { storeSeeder, type SeedSpec } from "../support/seed-results.js";
import { runEbb, runEbb as run } from "../support/run-cli.js";

const H = 3_600_000;
const D = 24 * H;

// The CLI reads SQLite's own clock, so the seed's manual clock starts at the real time.
const MIX: SeedSpec[] = [
  { taskId: "std-expired", lifetimeMs: H, doneAgoMs: 2 * H, tier: "standard" },
  { taskId: "plain-expired", lifetimeMs: H, doneAgoMs: 3 * H },
  { taskId: "fresh", lifetimeMs: D, doneAgoMs: H, tier: "standard" },
  { taskId: "held-expired", lifetimeMs: H, doneAgoMs: 2 * H, held: true },
  { taskId: "permanent", lifetimeMs: null, doneAgoMs: 400 * D },
  { taskId: "audit-pending", lifetimeMs: H, doneAgoMs: 2 * H, tier: "audit", action: "archive" },
  { taskId: "audit-archived", lifetimeMs: H, doneAgoMs: 2 * H, tier: "audit", action: "archive", archived: true },
  { taskId: "old-unexpired", lifetimeMs: 30 * D, doneAgoMs: 10 * D },
];

function expectOneLine(err: string) {
  expect(err.trim().split("\n")).toHaveLength(1);
  expect(err).not.toMatch(/\n\s+at /);
}

describe("ebb retention commands on a SQLite file", () => {
  let dir: string;
  let db: string;
  const snapshot = async () => {
    const store = new SqliteBackend({ url: db });
    try {
      return await fullScan(store);
    } finally {
      await store.close();
    }
  };

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "ebb-retention-cli-"));
    db = `sqlite://${join(dir, "ebb.db")}`;
    const clock = manualClock(Date.now());
    const store = new SqliteBackend({ url: db, clock });
    await storeSeeder(store, clock)(MIX);
    await store.close();
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("cleanup --dry-run --json prints exactly the contract's keys, exact counts, and changes nothing", async () => {
    const before = await snapshot();
    const r = await run("cleanup", "--dry-run", "--json", "--backend", db);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.out);
    expect(Object.keys(report).sort()).toEqual(["byTier", "bytes", "deleted", "dryRun", "matched"]);
    const bytes = (ids: string[]) => before.filter((x) => ids.includes(x.taskId)).reduce((n, x) => n + x.bytes, 0);
    expect(report).toEqual({
      matched: 3,
      deleted: 0,
      bytes: bytes(["std-expired", "plain-expired", "audit-archived"]),
      byTier: {
        standard: { matched: 1, deleted: 0, bytes: bytes(["std-expired"]) },
        none: { matched: 1, deleted: 0, bytes: bytes(["plain-expired"]) },
        audit: { matched: 1, deleted: 0, bytes: bytes(["audit-archived"]) },
      },
      dryRun: true,
    });
    expect(r.err).toMatch(/^cleanup \(dry run\): matched 3, would free \d+ B; scanned \d+ in \d+\.\ds \(\d+\/s\)\n$/);
    expect(await snapshot()).toEqual(before);
  });

  it("cleanup removes the expired results it may, prints one summary line on stderr, and cleaned ids read EXPIRED", async () => {
    const r = await run("cleanup", "--json", "--backend", db);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ matched: 3, deleted: 3, dryRun: false });
    expect(r.err).toMatch(/^cleanup: matched 3, deleted 3, freed \d+ B in \d+\.\ds \(\d+\/s\)\n$/);
    expect((await snapshot()).map((x) => x.taskId)).toEqual(["audit-pending", "fresh", "held-expired", "old-unexpired", "permanent"]);
    const res = await runEbb("result", "std-expired", "--json", "--backend", db);
    expect(res.code).toBe(1);
    expect(JSON.parse(res.out).state).toBe("EXPIRED");
  });

  it("cleanup --days and --older-than also remove old results allowed to expire; plain output is a short summary", async () => {
    const r = await run("cleanup", "--days", "7", "--backend", db);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^removed 4 of 4 results matched \(\d+ B freed\)\n/);
    expect(r.out).toMatch(/kept \(expired or old\): 1 held, 1 awaiting archive, 1 permanent\n$/);
    const again = await run("cleanup", "--older-than", "1h", "--include-permanent", "--json", "--backend", db);
    expect(JSON.parse(again.out)).toMatchObject({ deleted: 2, byTier: { none: { deleted: 1 }, standard: { deleted: 1 } } });
    expect((await snapshot()).map((x) => x.taskId)).toEqual(["audit-pending", "held-expired"]);
  });

  it("cleanup --tier none means results without a tier", async () => {
    const r = await run("cleanup", "--tier", "none", "--json", "--backend", db);
    expect(JSON.parse(r.out)).toMatchObject({ matched: 1, deleted: 1, byTier: { none: { deleted: 1 } } });
  });

  it("rejects bad cleanup flags with exit 64 and one line naming the flag", async () => {
    const cases: Array<[string[], RegExp]> = [
      [["--days", "-1"], /--days/],
      [["--days", "1.5"], /Expected --days to be a whole number of days >= 0, got "1\.5"; for parts of a day use --older-than/],
      [["--days", "3", "--older-than", "1d"], /--older-than or --days, not both/],
      [["--older-than", "soon"], /--older-than.*"soon"/],
      [["--older-than", "-5m"], /--older-than.*negative/],
      [["--include-permanent"], /--include-permanent needs --older-than or --days/],
      [["--frobnicate"], /--frobnicate/],
    ];
    for (const [flags, message] of cases) {
      const r = await run("cleanup", ...flags, "--backend", db);
      expect(r.code, flags.join(" ")).toBe(64);
      expect(r.err).toMatch(message);
      expectOneLine(r.err);
      expect(r.out).toBe("");
    }
  });

  it("stats --json prints the contract's keys", async () => {
    const r = await run("stats", "--json", "--backend", db);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.out);
    expect(s).toEqual(
      expect.objectContaining({ total: 8, byTier: { standard: 2, none: 4, audit: 2 }, expiredPending: 4, held: 1, permanent: 1 }),
    );
    for (const key of ["total", "byState", "byTier", "bytes", "expiredPending", "oldestDateDone", "nextExpiry"])
      expect(s).toHaveProperty(key);
    expect(s.byState.SUCCESS).toBe(8);
    expect(s.store).toMatchObject({ kind: "sqlite", file: join(dir, "ebb.db") });
    expect(s.store.fileBytes).toBeGreaterThan(0);
    const plain = await run("stats", "--backend", db);
    expect(plain.out).toMatch(/^results: 8 \(/);
  });

  it("check exits 0 within the limits and 1 over one, saying which and by how much", async () => {
    const ok = await run("check", "--max-results", "8", "--max-bytes", "1GB", "--json", "--backend", db);
    expect(ok.code).toBe(0);
    const okReport = JSON.parse(ok.out);
    expect(Object.keys(okReport).sort()).toEqual(["bytes", "limits", "ok", "over", "total"]);
    expect(okReport).toMatchObject({ ok: true, total: 8, limits: { maxResults: 8, maxBytes: 1e9 }, over: [] });

    const over = await run("check", "--max-results", "5", "--json", "--backend", db);
    expect(over.code).toBe(1);
    expect(JSON.parse(over.out)).toMatchObject({
      ok: false,
      limits: { maxResults: 5, maxBytes: null },
      over: [{ limit: "maxResults", value: 8, max: 5, by: 3 }],
    });

    const plain = await run("check", "--max-results", "5", "--max-bytes", "10", "--backend", db);
    expect(plain.code).toBe(1);
    expect(plain.out).toMatch(/^over: results 8 > --max-results 5, over by 3\nover: bytes .+ > --max-bytes 10 B, over by .+\n$/);
  });

  it("rejects bad check flags with exit 64", async () => {
    for (const [flags, message] of [
      [["--max-bytes", "lots"], /--max-bytes.*"lots"/],
      [["--max-results", "-1"], /--max-results/],
      [[], /--max-results N and\/or --max-bytes SIZE/],
    ] as Array<[string[], RegExp]>) {
      const r = await run("check", ...flags, "--backend", db);
      expect(r.code).toBe(64);
      expect(r.err).toMatch(message);
      expectOneLine(r.err);
    }
  });

  it("hold puts a hold that cleanup respects, releases it, and exits 1 for an unknown id", async () => {
    const held = await run("hold", "std-expired", "--json", "--backend", db);
    expect(held.code).toBe(0);
    expect(JSON.parse(held.out)).toEqual({ id: "std-expired", held: true });
    await run("cleanup", "--backend", db);
    expect((await snapshot()).find((x) => x.taskId === "std-expired")?.held).toBe(true);
    const released = await run("hold", "std-expired", "--release", "--json", "--backend", db);
    expect(JSON.parse(released.out)).toEqual({ id: "std-expired", held: false });

    const unknown = await run("hold", "no-such-id", "--backend", db);
    expect(unknown.code).toBe(1);
    expect(unknown.err).toMatch(/no result with id "no-such-id"/);
    expectOneLine(unknown.err);
    const unknownJson = await run("hold", "no-such-id", "--json", "--backend", db);
    expect(unknownJson.code).toBe(1);
    expect(JSON.parse(unknownJson.out)).toEqual({ id: "no-such-id", held: false });
  });

  it("policy explain reads the app's tasks with -A, and explains the global default without one", async () => {
    const app = join(dir, "app.mjs");
    writeFileSync(
      app,
      `import { createApp } from ${JSON.stringify(EBB_INDEX)};\nexport const app = createApp({ broker: "memory://policy-cli", resultExpires: "12h" });\napp.task("audit.log", async (e) => e, { tier: "audit" });\napp.task("smart", async (d) => d, { resultExpires: () => "1h" });\n`,
    );
    const r = await run("policy", "explain", "audit.log", "-A", app, "--json");
    expect(r.code).toBe(0);
    const e = JSON.parse(r.out);
    expect(Object.keys(e).sort()).toEqual(["action", "expires", "reason", "source", "task", "tier"]);
    expect(e).toMatchObject({ task: "audit.log", tier: "audit", expires: "30d", action: "archive", source: "tier" });
    const smart = JSON.parse((await run("policy", "explain", "smart", "-A", app, "--json")).out);
    expect(smart).toMatchObject({ expires: "dynamic", source: "dynamic-function", fallback: { expires: "12h", source: "global" } });

    const noApp = await run("policy", "explain", "some.task", "--backend", db);
    expect(noApp.code).toBe(0);
    expect(noApp.out).toMatch(/^some\.task: 1d, delete \(source: global\)\n.*not a task registered in this app/);
  });

  it("a store without the retention operations is EX_UNAVAILABLE (69) with one clear line", async () => {
    const app = join(dir, "plain-store.mjs");
    writeFileSync(
      app,
      `export const app = { task() {}, worker() {}, config: {}, async backend() { return { url: "fake://store" }; }, async close() {} };\n`,
    );
    for (const argv of [["stats"], ["cleanup"], ["check", "--max-results", "1"], ["hold", "x"]]) {
      const r = await run(...argv, "-A", app);
      expect(r.code, argv.join(" ")).toBe(69);
      expect(r.err).toMatch(/The result store fake:\/\/store does not support retention operations/);
      expectOneLine(r.err);
    }
  });
});
