import { rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SqliteBackend } from "../../src/backends/sqlite/sqlite-backend.js";
import { manualClock } from "../../src/clock.js";
import { ebb, scratchDir } from "../e2e/cli-harness.js";

// `ebb archive --delete` removes results before they expire; `ebb result` must then say they were
// archived, and where, not "expired" with an expiry still to come. Real binary, one SQLite file.

const H = 3_600_000;

describe("ebb result on a result archive --delete removed", () => {
  let dir: string;
  let db: string;
  let file: string;
  beforeAll(async () => {
    dir = scratchDir();
    db = `sqlite://${join(dir, "ebb.db")}`;
    file = join(dir, "old.jsonl.gz");
    // Done two hours ago, living 30 days: far from expiring when it is archived away.
    const store = new SqliteBackend({ url: db, clock: manualClock(Date.now() - 2 * H) });
    await store.store({
      taskId: "gone-early",
      status: "SUCCESS",
      result: 7,
      traceback: null,
      children: [],
      lifetimeMs: 30 * 24 * H,
      tier: null,
      action: "delete",
    });
    await store.close();
    const archived = await ebb(["archive", "--older-than", "1h", "--to", file, "--delete", "--backend", db, "--json"]);
    expect(archived.code, archived.stderr).toBe(0);
    expect(JSON.parse(archived.stdout)).toMatchObject({ archived: 1, deleted: 1 });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("--json: state EXPIRED (exit 1), expired now rather than in 30 days, and archived: the file and when", async () => {
    const r = await ebb(["result", "gone-early", "--backend", db, "--json"]);
    expect(r.code).toBe(1);
    const info = JSON.parse(r.stdout);
    expect(info).toMatchObject({ id: "gone-early", state: "EXPIRED", archived: { file: resolve(file), at: expect.any(String) } });
    expect(Date.parse(info.expiresAt)).toBeLessThanOrEqual(Date.now());
  });

  it("plain: an archived line that says how to get it back", async () => {
    const r = await ebb(["result", "gone-early", "--backend", db]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^gone-early EXPIRED\n/);
    expect(r.stdout).toContain(`archived: ${resolve(file)} at `);
    expect(r.stdout).toContain(`(ebb restore ${resolve(file)} --task-id gone-early)`);
  });
});
