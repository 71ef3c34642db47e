import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import { archiveResults } from "../../src/archive/archive-results.js";
import { restoreResults } from "../../src/archive/restore-results.js";
import { manualClock } from "../../src/clock.js";
import { allIds, cli, DAY, done, HOUR, scratch, STORES } from "./helpers.js";

for (const kind of STORES) {
  describe(`archive and restore on ${kind.name}`, () => {
    const cleanups: (() => Promise<void> | void)[] = [];
    afterEach(async () => {
      for (const c of cleanups.splice(0).reverse()) await c();
    });

    /** A store that mixes what archive must take and what it must leave. */
    async function mixed() {
      const s = scratch();
      const clock = manualClock(Date.now());
      const { store, url } = await kind.make(clock, s.dir);
      cleanups.push(s.cleanup, () => store.close());
      const now = clock();
      const seed = [
        done("old-1", now, 40 * DAY, 30 * DAY),
        done("old-2", now, 35 * DAY, 90 * DAY, { tier: "compliance", action: "archive", result: [1, { deep: [null, 2.25] }] }),
        done("old-fail", now, 31 * DAY, 30 * DAY, {
          status: "FAILURE",
          result: { exc_type: "ValueError", exc_message: ["bad"], exc_module: "builtins" },
          traceback: "Traceback ...",
        }),
        done("old-held", now, 40 * DAY, 30 * DAY, { held: true }),
        done("old-permanent", now, 40 * DAY, null),
        done("young", now, HOUR, 30 * DAY),
        { ...done("running", now, 40 * DAY, 30 * DAY), status: "STARTED" as const, dateDone: null },
      ];
      for (const r of seed) await store.put(r, { replace: false });
      return { store, url, clock, dir: s.dir, seed };
    }
    const resultOf = (seed: { taskId: string; result: unknown }[], id: string) => JSON.stringify(seed.find((r) => r.taskId === id)!.result);

    it("archive --delete, then restore --task-id gives the archived result back byte for byte as JSON", async () => {
      const { store, url, dir, seed } = await mixed();
      const file = join(dir, "a.jsonl.gz");
      const run = await cli(["archive", "--older-than", "30d", "--to", file, "--delete", "--backend", url, "--json"]);
      expect(run.code, run.stderr).toBe(0);
      const out = JSON.parse(run.stdout);
      expect(out).toMatchObject({ archived: 3, deleted: 3, file, kept: 0, resumed: false });
      expect(out.sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(await allIds(store)).toEqual(["old-held", "old-permanent", "running", "young"]);
      const manifest = JSON.parse(readFileSync(`${file}.manifest.json`, "utf8"));
      expect(manifest).toMatchObject({
        version: 1,
        file: "a.jsonl.gz",
        count: 3,
        sha256: out.sha256,
        members: 1,
        source: url,
        selection: { olderThanMs: 30 * DAY, delete: true },
      });
      expect(manifest.dateDoneFrom < manifest.dateDoneTo).toBe(true);

      for (const id of ["old-1", "old-2", "old-fail"]) {
        const got = await cli(["restore", file, "--task-id", id, "--json"]);
        expect(got.code, got.stderr).toBe(0);
        const body = JSON.parse(got.stdout);
        expect(body).toMatchObject({ found: 1, restored: 0, bad: 0, manifest: { sha256Ok: true } });
        expect(JSON.stringify(body.entries[0].result)).toBe(resultOf(seed, id));
      }
      expect((await cli(["restore", file, "--task-id", "old-held", "--json"])).code).toBe(1);
    });

    it("--dry-run counts per tier and writes and changes nothing", async () => {
      const { store, url, dir } = await mixed();
      const before = await allIds(store);
      const run = await cli([
        "archive",
        "--older-than",
        "30d",
        "--to",
        join(dir, "a.jsonl.gz"),
        "--delete",
        "--dry-run",
        "--backend",
        url,
        "--json",
      ]);
      expect(run.code, run.stderr).toBe(0);
      const out = JSON.parse(run.stdout);
      expect(out).toMatchObject({
        archived: 3,
        deleted: 3,
        sha256: null,
        dryRun: true,
        byTier: { none: { count: 2 }, compliance: { count: 1 } },
      });
      expect(out.bytes).toBeGreaterThan(0);
      expect(readdirSync(dir).filter((n) => n.startsWith("a.jsonl.gz"))).toEqual([]);
      expect(await allIds(store)).toEqual(before);
    });

    it("never archives held or permanent results, nor unfinished ones", async () => {
      const { store, dir } = await mixed();
      const file = join(dir, "a.jsonl.gz");
      await archiveResults(store, { to: file, olderThanMs: 0, delete: true, source: "test" });
      const ids: string[] = [];
      await restoreResults(file, { onEntry: (e) => ids.push(e.line.task_id) });
      expect(ids.sort()).toEqual(["old-1", "old-2", "old-fail", "young"]);
      expect(await allIds(store)).toEqual(["old-held", "old-permanent", "running"]);
    });

    it("a bigint and NaN/Infinity result survives store, archive --delete and restore exactly", async () => {
      const s = scratch();
      const clock = manualClock(Date.now());
      const { store } = await kind.make(clock, s.dir);
      cleanups.push(s.cleanup, () => store.close());
      const value = { big: 123456789012345678n, floats: [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 0.1], s: "NaN" };
      await store.put(done("numbers", clock(), 40 * DAY, 30 * DAY, { result: value, args: [-(2n ** 70n)] }), { replace: false });
      const file = join(s.dir, "n.jsonl.gz");
      await archiveResults(store, { to: file, olderThanMs: 30 * DAY, delete: true, source: "test" });
      expect(await allIds(store)).toEqual([]);
      const out = await restoreResults(file, { into: store });
      expect(out.restored).toBe(1);
      const got = await store.lookup("numbers", { graceMs: 0 });
      expect(got.kind === "found" && [got.result.result, got.result.args]).toEqual([value, [-(2n ** 70n)]]);
    });

    it("a rerun on a complete archive finishes its job and writes no second archive", async () => {
      const { store, dir, clock } = await mixed();
      const file = join(dir, "a.jsonl.gz");
      const first = await archiveResults(store, { to: file, olderThanMs: 30 * DAY, source: "test" });
      expect(first).toMatchObject({ archived: 3, deleted: 0, resumed: false });
      const bytes = readFileSync(file);
      // Meanwhile another result grows old enough; the rerun must not slip it into this archive.
      clock.advance(40 * DAY);
      const again = await archiveResults(store, { to: file, olderThanMs: 30 * DAY, delete: true, source: "test" });
      expect(again).toMatchObject({ archived: 3, deleted: 3, resumed: true, sha256: first.sha256 });
      expect(readFileSync(file).equals(bytes)).toBe(true);
      expect(await allIds(store)).toEqual(["old-held", "old-permanent", "running", "young"]);
      const third = await archiveResults(store, { to: file, olderThanMs: 30 * DAY, delete: true, source: "test" });
      expect(third).toMatchObject({ archived: 3, deleted: 0, kept: 0, resumed: true });
      expect(
        readdirSync(dir)
          .filter((n) => n.startsWith("a.jsonl.gz"))
          .sort(),
      ).toEqual(["a.jsonl.gz", "a.jsonl.gz.idx", "a.jsonl.gz.manifest.json"]);
    });

    it("a result that changed after the scan stays in the store, and is counted as kept", async () => {
      const { store, dir } = await mixed();
      const file = join(dir, "a.jsonl.gz");
      await archiveResults(store, { to: file, olderThanMs: 30 * DAY, source: "test" });
      await store.setHeld("old-1", true);
      const out = await archiveResults(store, { to: file, olderThanMs: 30 * DAY, delete: true, source: "test" });
      expect(out).toMatchObject({ archived: 3, deleted: 2, kept: 1 });
      expect(await store.read("old-1")).not.toBeNull();
    });

    it("restore --into re-imports with a new lifetime, and reports ids already there instead of duplicating", async () => {
      const { store, dir, clock, seed } = await mixed();
      const file = join(dir, "a.jsonl.gz");
      await archiveResults(store, { to: file, olderThanMs: 30 * DAY, delete: true, source: "test" });
      const now = clock();
      const first = await restoreResults(file, { into: store, resultExpiresMs: 2 * HOUR });
      expect(first).toMatchObject({ found: 3, restored: 3, present: 0, bad: 0 });
      const back = (await store.read("old-2"))!;
      expect(back).toMatchObject({
        expiresAt: now + 2 * HOUR,
        tier: "compliance",
        action: "archive",
        held: false,
        archived: false,
        dateDone: seed[1]!.dateDone,
      });
      expect(JSON.stringify(back.result)).toBe(resultOf(seed, "old-2"));
      const again = await restoreResults(file, { into: store, resultExpiresMs: null });
      expect(again).toMatchObject({ found: 3, restored: 0, present: 3 });
      expect((await store.read("old-2"))!.expiresAt).toBe(now + 2 * HOUR);
    });

    it("restore --into keeps an archived expiry still ahead, gives an expired one 24h, and 'never' means never", async () => {
      const { store, dir, clock } = await mixed();
      const file = join(dir, "a.jsonl.gz");
      await archiveResults(store, { to: file, olderThanMs: 30 * DAY, delete: true, source: "test" });
      const now = clock();
      await restoreResults(file, { into: store });
      expect((await store.read("old-2"))!.expiresAt).toBe(now + 55 * DAY); // done 35 days ago, 90-day tier
      expect((await store.read("old-1"))!.expiresAt).toBe(now + DAY);
      await store.remove([(await store.read("old-1"))!], { remember: false });
      await restoreResults(file, { into: store, taskId: "old-1", resultExpiresMs: null });
      expect((await store.read("old-1"))!.expiresAt).toBeNull();
    });

    it("restore --into through the CLI: --result-expires never, exit 0, then 'already there'", async () => {
      const { store, url, dir } = await mixed();
      const file = join(dir, "a.jsonl.gz");
      await archiveResults(store, { to: file, olderThanMs: 30 * DAY, delete: true, source: "test" });
      const run = await cli(["restore", file, "--into", url, "--result-expires", "never", "--json"]);
      expect(run.code, run.stderr).toBe(0);
      expect(JSON.parse(run.stdout)).toMatchObject({ found: 3, restored: 3, present: 0, truncated: false });
      expect((await store.read("old-fail"))!.expiresAt).toBeNull();
      const plain = await cli(["restore", file, "--into", url]);
      expect(plain.stdout).toMatch(/found 3, restored 0 .*, 3 already there/);
      expect(existsSync(`${file}.tmp`)).toBe(false);
    });
  });
}

describe("archive CLI input", () => {
  it("rejects a missing --to, a bad --older-than, and a missing restore FILE with sysexits codes", async () => {
    expect((await cli(["archive", "--older-than", "1d", "--backend", "memory://x"])).code).toBe(64);
    const bad = await cli(["archive", "--older-than", "-1d", "--to", "/tmp/x.gz", "--backend", "memory://x"]);
    expect(bad.code).toBe(64);
    expect(bad.stderr).toMatch(/--older-than/);
    expect((await cli(["restore", "/nonexistent/ebb-a.jsonl.gz"])).code).toBe(66);
  });

  it("plain restore streams the good lines as JSON Lines, names the bad ones on stderr, and exits 65", async () => {
    const s = scratch();
    try {
      const file = join(s.dir, "bad.jsonl.gz");
      const good = (id: string) =>
        JSON.stringify({ task_id: id, status: "SUCCESS", result: { id }, date_done: "2026-01-01T00:00:00.000000+00:00" });
      writeFileSync(file, Buffer.concat([gzipSync(`${good("a")}\n{"task_id": tru\n`), gzipSync(`${good("b")}\n`)]));
      const run = await cli(["restore", file]);
      expect(run.code).toBe(65);
      expect(
        run.stdout
          .trim()
          .split("\n")
          .map((l) => JSON.parse(l).task_id),
      ).toEqual(["a", "b"]);
      expect(run.stderr).toMatch(/bad\.jsonl\.gz line 2: not JSON/);
      const json = JSON.parse((await cli(["restore", file, "--json"])).stdout);
      expect(json).toMatchObject({
        found: 2,
        restored: 0,
        bad: 1,
        truncated: false,
        errors: [{ file: "bad.jsonl.gz", line: 2, member: null }],
      });
      expect((await cli(["restore", file, "--task-id", "zzz", "--json"])).code).toBe(65);
    } finally {
      s.cleanup();
    }
  });
});
