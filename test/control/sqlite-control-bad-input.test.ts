import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { SqliteControl } from "../../src/brokers/sqlite/sqlite-control.js";
import { streamLogger } from "../../src/logger.js";
import { migrate } from "../../src/sqlite/migrations.js";
import { openDatabase } from "../../src/sqlite/open-database.js";
import { ebb } from "../e2e/cli-harness.js";
import { waitFor } from "../support/wait.js";

/** Remote control on SQLite given what it cannot read: it says so, by name, and goes on. */
describe("SQLite remote control and bad input", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const open = () => {
    const dir = mkdtempSync(join(tmpdir(), "ebb-control-bad-"));
    dirs.push(dir);
    const handle = openDatabase(join(dir, "ebb.db"));
    migrate(handle.db);
    const lines: string[] = [];
    const control = new SqliteControl({
      handle,
      clock: () => Date.now(),
      pollIntervalMs: 20,
      log: streamLogger((l) => void lines.push(l)),
      store: "SQLite at test.db",
    });
    return { dir, handle, control, lines };
  };

  it("a request row that does not read is logged and skipped; the next one is answered", async () => {
    const { handle, control, lines } = open();
    const seen: string[] = [];
    const listener = await control.listen(async (r) => {
      seen.push(r.method);
      return { "node@test": { ok: "pong" } };
    });
    try {
      const insert = handle.db.prepare("INSERT INTO ebb_control_requests (method, body, sent_at) VALUES ('ping', ?, ?)");
      insert.run("{not json", Date.now());
      insert.run('{"arguments":{}}', Date.now());
      const replies = await control.send(
        { method: "ping", arguments: {}, destination: null, pattern: null, matcher: null },
        { timeoutMs: 5_000, limit: 1 },
      );
      expect(replies).toEqual([{ "node@test": { ok: "pong" } }]);
      expect(seen).toEqual(["ping"]);
      const warnings = lines.filter((l) => l.includes("WARN Ignoring a remote control request in ebb_control_requests"));
      expect(warnings, lines.join("")).toHaveLength(2);
      expect(warnings[1]).toMatch(/a string "method"/);
    } finally {
      await listener.close();
      handle.close();
    }
  });

  it("a poll that cannot read is logged once with the component and the store, not once per poll", async () => {
    const { handle, control, lines } = open();
    const listener = await control.listen(async () => null);
    handle.db.close();
    // Several polls fail (every 20 ms); the line is written for the first only.
    await waitFor("the failure to be logged", () => lines.some((l) => l.includes("Remote control listener (SQLite at test.db) failed")));
    const firstAt = lines.length;
    // Absence needs time: about five more polls fail meanwhile.
    await new Promise((r) => setTimeout(r, 100));
    expect(lines.length).toBe(firstAt);
    expect(lines.filter((l) => l.includes("Remote control listener"))).toHaveLength(1);
    await listener.close();
  });

  it("ebb inspect ping with task ids exits 64: only query_task takes them", async () => {
    const r = await ebb(["inspect", "ping", "some-id", "--broker", "sqlite:///nowhere/ebb.db"]);
    expect(r.code).toBe(64);
    expect(r.stderr).toBe("ebb: ebb inspect ping takes no task ids (got some-id); only query_task does\n");
  });
});
