import { readdirSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { restoreResults } from "../../src/archive/restore-results.js";
import { MemoryBackend } from "../../src/backends/memory/memory-backend.js";
import type { RetentionStore } from "../../src/backends/retention-store.js";
import { manualClock } from "../../src/clock.js";
import { backendCleanup } from "../../src/retention/backend-cleanup-task.js";
import { allIds, DAY, done, HOUR, scratch } from "./helpers.js";

describe("celery.backend_cleanup", () => {
  const cleanups: (() => void)[] = [];
  afterEach(() => {
    for (const c of cleanups.splice(0)) c();
  });

  async function setup() {
    const s = scratch();
    cleanups.push(s.cleanup);
    const clock = manualClock(Date.UTC(2026, 0, 1, 4));
    const store = new MemoryBackend({ clock });
    const now = clock();
    const audit = { tier: "audit", action: "archive" as const };
    for (const r of [
      done("audit-expired", now, 31 * DAY, 30 * DAY, audit),
      done("audit-expired-2", now, 40 * DAY, 30 * DAY, audit),
      done("audit-live", now, 10 * DAY, 30 * DAY, audit),
      done("audit-held", now, 40 * DAY, 30 * DAY, { ...audit, held: true }),
      done("api-expired", now, 7 * HOUR, 6 * HOUR, { tier: "api" }),
      done("api-live", now, HOUR, 6 * HOUR, { tier: "api" }),
      done("critical", now, 400 * DAY, null, { tier: "critical", action: "archive" }),
    ]) {
      await store.put(r, { replace: false });
    }
    const archives = () =>
      readdirSync(join(s.dir, "archive"))
        .filter((n) => n.endsWith(".jsonl.gz"))
        .sort();
    const archivedIds = async () => {
      const ids: string[] = [];
      for (const f of archives()) await restoreResults(join(s.dir, "archive", f), { onEntry: (e) => ids.push(e.line.task_id) });
      return ids.sort();
    };
    return { store, clock, archiveDir: join(s.dir, "archive"), archives, archivedIds };
  }

  it("archives expired archive-tier results, then removes them and the expired delete-tier ones", async () => {
    const { store, clock, archiveDir, archives, archivedIds } = await setup();
    const out = await backendCleanup(store, { archiveDir, now: clock() });
    expect(out.archive).toMatchObject({ archived: 2, deleted: 2, kept: 0 });
    expect(out.archive.file).toMatch(/ebb-archive-20260101T040000\.000Z\.jsonl\.gz$/);
    expect(out.cleanup).toMatchObject({ matched: 1, deleted: 1 });
    expect(out.previous).toBeNull();
    expect(await archivedIds()).toEqual(["audit-expired", "audit-expired-2"]);
    expect(await allIds(store)).toEqual(["api-live", "audit-held", "audit-live", "critical"]);
    expect(archives()).toHaveLength(1);
  });

  it("a run cut short after its archive was published is finished by the next run, with no id in two archives", async () => {
    const { store, clock, archiveDir, archivedIds } = await setup();
    // The first run dies in its delete phase: its archive is complete, its results still stored and unmarked.
    const dying: RetentionStore = Object.create(store, {
      markArchived: { value: async () => Promise.reject(new Error("killed")) },
    });
    await expect(backendCleanup(dying, { archiveDir, now: clock() })).rejects.toThrow("killed");
    expect((await allIds(store)).length).toBe(7);
    clock.advance(HOUR);
    const out = await backendCleanup(store, { archiveDir });
    expect(out.previous).toMatchObject({ archived: 2, deleted: 2, resumed: true });
    expect(out.archive).toMatchObject({ archived: 0, file: null });
    expect(await archivedIds()).toEqual(["audit-expired", "audit-expired-2"]);
    expect(await allIds(store)).toEqual(["api-live", "audit-held", "audit-live", "critical"]);
  });
});
