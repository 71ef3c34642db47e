import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { SqliteBackend } from "../../src/backends/sqlite/sqlite-backend.js";
import { START_AFTER_COMMITS } from "../../src/sqlite/checkpointer.js";
import { openDatabase } from "../../src/sqlite/open-database.js";

async function until(check: () => boolean, ms = 10_000): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (performance.now() < deadline) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return check();
}

describe("sqlite checkpoints from a thread", () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it("a connection that commits steadily has its WAL checkpointed by a thread, and keeps every commit", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ebb-ckpt-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, "ebb.db");
    const backend = new SqliteBackend({ url: `sqlite://${path}` });
    const handle = openDatabase(path);
    // The main connection never checkpoints by itself here: only the thread can move pages into the file.
    handle.db.pragma("wal_autocheckpoint = 0");
    const fileBytes = () => statSync(path).size;
    const before = fileBytes();
    const payload = "x".repeat(2_000);
    for (let i = 0; i < START_AFTER_COMMITS + 50; i++)
      await backend.store({
        taskId: `t-${i}`,
        status: "SUCCESS",
        result: payload,
        traceback: null,
        children: [],
        lifetimeMs: null,
        tier: null,
        action: "delete",
      });
    // Once the thread is up, the main connection's own threshold is only a fallback.
    expect(await until(() => handle.db.pragma("wal_autocheckpoint", { simple: true }) === 2_000)).toBe(true);
    // The thread copies the committed pages into the database file.
    expect(await until(() => fileBytes() > before + 200 * 2_000)).toBe(true);
    handle.close();
    await backend.close();
    // Everything committed is there for another connection, the WAL gone with the last one.
    const other = new Database(path, { readonly: true });
    expect(other.prepare("SELECT count(*) FROM ebb_results").pluck().get()).toBe(START_AFTER_COMMITS + 50);
    other.close();
  });

  it("a short-lived connection starts no thread: its own autocheckpoint stays SQLite's default", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ebb-ckpt-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, "ebb.db");
    const backend = new SqliteBackend({ url: `sqlite://${path}` });
    const handle = openDatabase(path);
    for (let i = 0; i < 20; i++)
      await backend.store({
        taskId: `t-${i}`,
        status: "SUCCESS",
        result: i,
        traceback: null,
        children: [],
        lifetimeMs: null,
        tier: null,
        action: "delete",
      });
    await new Promise((r) => setTimeout(r, 50));
    expect(handle.db.pragma("wal_autocheckpoint", { simple: true })).toBe(1_000);
    handle.close();
    await backend.close();
  });
});
