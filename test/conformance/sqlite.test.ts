import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { backendFromUrl } from "../../src/backends/by-url.js";
import { SqliteBackend } from "../../src/backends/sqlite/sqlite-backend.js";
import { brokerFromUrl } from "../../src/brokers/by-url.js";
import { SqliteBroker } from "../../src/brokers/sqlite/sqlite-broker.js";
import { manualClock } from "../../src/clock.js";
import { StoreUnavailableError } from "../../src/errors.js";
import { migrate } from "../../src/sqlite/migrations.js";
import { openDatabase } from "../../src/sqlite/open-database.js";
import { backendConformance } from "./backend-conformance.js";
import { bodies, textMessage } from "../support/transport-messages.js";
import { brokerConformance } from "./broker-conformance.js";
import { scheduleStoreConformance } from "./schedule-store-conformance.js";

// A poll interval far beyond the tests' timeouts: a waiting fetch or waitForChange that
// passes here was woken by the in-process notification, not by polling.
const NO_POLLING = 600_000;

/** Each test gets its own database file in its own temp directory. */
function tempDb(): { url: string; path: string; cleanup: () => Promise<void> } {
  const dir = mkdtempSync(join(tmpdir(), "ebb-sqlite-"));
  const path = join(dir, "ebb.db");
  return { url: `sqlite://${path}`, path, cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
}

brokerConformance(
  "sqlite",
  { delayedDelivery: true, priorityOrder: "lowest-first", clock: "store", delivery: "lease", dedupedPublish: true, events: false },
  async () => {
    const { url, cleanup } = tempDb();
    const clock = manualClock();
    return { broker: new SqliteBroker({ url, clock, pollIntervalMs: NO_POLLING }), clock, cleanup };
  },
);

backendConformance("sqlite", async () => {
  const { url, cleanup } = tempDb();
  const clock = manualClock();
  return { backend: new SqliteBackend({ url, clock, pollIntervalMs: NO_POLLING }), clock, cleanup };
});

scheduleStoreConformance("sqlite", async () => {
  const { url, cleanup } = tempDb();
  const clock = manualClock();
  const backend = new SqliteBackend({ url, clock });
  return {
    store: backend.scheduleStore(),
    clock,
    cleanup: async () => {
      await backend.close();
      await cleanup();
    },
  };
});

// Store-only cases: tombstones, connection sharing and the SQL clock are SQLite details.
describe("sqlite store details", () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });
  const db = (): ReturnType<typeof tempDb> => {
    const t = tempDb();
    cleanups.push(t.cleanup);
    return t;
  };

  it("reports a tombstoned id as expired within the grace window, then unknown", async () => {
    const { url, path } = db();
    const clock = manualClock();
    const backend = new SqliteBackend({ url, clock });
    const handle = openDatabase(path);
    handle.db.prepare("INSERT INTO ebb_tombstones (task_id, expired_at) VALUES (?, ?)").run("t-gone", clock() - 1_000);
    expect(await backend.lookup("t-gone", { graceMs: 1_001 })).toEqual({ kind: "expired", taskId: "t-gone", expiredAt: clock() - 1_000 });
    expect(await backend.lookup("t-gone", { graceMs: 1_000 })).toEqual({ kind: "missing" });
    // forget() drops the tombstone too: the id becomes unknown even within the window.
    expect(await backend.forget("t-gone")).toBe(true);
    expect(await backend.lookup("t-gone", { graceMs: 60_000 })).toEqual({ kind: "missing" });
    handle.close();
    await backend.close();
  });

  it("broker and backend on one file share one connection; closing one leaves the other working", async () => {
    const { url } = db();
    const broker = await brokerFromUrl(url);
    const backend = await backendFromUrl(url);
    expect(broker).toBeInstanceOf(SqliteBroker);
    expect(backend).toBeInstanceOf(SqliteBackend);
    await broker.publish(textMessage("m"), { queue: "q", priority: 0, availableAt: null });
    await broker.close();
    const { result } = await backend.store({
      taskId: "t",
      status: "SUCCESS",
      result: 1,
      traceback: null,
      children: [],
      lifetimeMs: null,
      tier: null,
      action: "delete",
    });
    expect(result.status).toBe("SUCCESS");
    const again = await brokerFromUrl(url);
    expect(bodies(await again.fetch(["q"], 1, { visibilityTimeoutMs: 1_000, waitMs: 0 }))).toEqual(["m"]);
    await again.close();
    await backend.close();
  });

  it("a row that is not a stored message is handed out unframed with the reason, and dead-lettered byte for byte", async () => {
    const { url, path } = db();
    const broker = new SqliteBroker({ url, pollIntervalMs: NO_POLLING });
    const legacy = '{"body": "W10=", "content-type": "application/json", "headers": {}}  \u00e9 not ours';
    const handle = openDatabase(path);
    handle.db.prepare("INSERT INTO ebb_messages (queue, priority, body, available_at, created_at) VALUES ('q', 0, ?, 0, 0)").run(legacy);
    handle.close();
    const [d] = await broker.fetch(["q"], 1, { visibilityTimeoutMs: 1_000, waitMs: 0 });
    expect(d?.message).toBeNull();
    if (d?.message !== null) throw new Error("expected an unframed delivery");
    expect(d.raw.toString("utf8")).toBe(legacy);
    expect(d.reason).toMatch(/stored message is not JSON/);
    await broker.deadLetter(d, d.reason);
    const { items } = await broker.deadLetters();
    expect(items).toHaveLength(1);
    expect(items[0]!.raw.toString("utf8")).toBe(legacy);
    expect(items[0]!.message).toBeNull();
    await broker.close();
  });

  it("uses SQLite's clock when none is injected", async () => {
    const { url } = db();
    const backend = new SqliteBackend({ url });
    const before = Date.now();
    const now = await backend.now();
    expect(now).toBeGreaterThanOrEqual(before - 1_000);
    expect(now).toBeLessThanOrEqual(Date.now() + 1_000);
    expect(Number.isInteger(now)).toBe(true);
    await backend.close();
  });

  it("takes a publishOnce key again once it lapsed, and prunes lapsed keys", async () => {
    const { url, path } = db();
    const clock = manualClock();
    const broker = new SqliteBroker({ url, clock, pollIntervalMs: NO_POLLING });
    const opts = { queue: "q", priority: 0, availableAt: null };
    expect(await broker.publishOnce("k", textMessage("one"), opts, 1_000)).toBe(true);
    expect(await broker.publishOnce("gone", textMessage("x"), opts, 500)).toBe(true);
    clock.advance(999);
    expect(await broker.publishOnce("k", textMessage("early"), opts, 1_000)).toBe(false);
    clock.advance(1);
    expect(await broker.publishOnce("k", textMessage("two"), opts, 1_000)).toBe(true);
    const got = await broker.fetch(["q"], 10, { visibilityTimeoutMs: 1_000, waitMs: 0 });
    expect(bodies(got)).toEqual(["one", "x", "two"]);
    const handle = openDatabase(path);
    expect(handle.db.prepare("SELECT key, expires_at FROM ebb_publish_keys").all()).toEqual([{ key: "k", expires_at: clock() + 1_000 }]);
    handle.close();
    await broker.close();
  });

  it("migrations are recorded and not run twice", async () => {
    const { path } = db();
    const handle = openDatabase(path);
    expect(migrate(handle.db)).toEqual([]);
    const ids = handle.db.prepare("SELECT id FROM ebb_migrations ORDER BY id").pluck().all();
    expect(ids).toEqual([
      "0001_messages",
      "0002_dead_letters",
      "0003_results",
      "0004_tombstones",
      "0005_retention",
      "0006_beat",
      "0007_publish_keys",
      "0008_tombstone_archive",
      "0009_chords",
      "0010_control",
      "0011_tombstone_packs",
      "0012_history",
    ]);
    expect(handle.db.pragma("journal_mode", { simple: true })).toBe("wal");
    handle.close();
  });

  it("fails with StoreUnavailableError naming the path when the directory does not exist", () => {
    const { path } = db();
    const missing = join(path, "..", "no-such-dir", "ebb.db");
    expect(() => new SqliteBroker({ url: `sqlite://${missing}` })).toThrow(StoreUnavailableError);
    expect(() => new SqliteBackend({ url: `sqlite://${missing}` })).toThrow(/no-such-dir.*does not exist; create it/);
  });

  it("fails with StoreUnavailableError when the file is not a SQLite database", () => {
    const { path } = db();
    writeFileSync(path, "this is not a database, just text that is long enough to have a header".repeat(20));
    expect(() => new SqliteBackend({ url: `sqlite://${path}` })).toThrow(StoreUnavailableError);
    expect(() => new SqliteBackend({ url: `sqlite://${path}` })).toThrow(path);
  });
});
