import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ArchiveConflictError, ArchiveDataError } from "../../src/archive/archive-errors.js";
import { archiveResults } from "../../src/archive/archive-results.js";
import { MemoryBackend } from "../../src/backends/memory/memory-backend.js";
import { manualClock } from "../../src/clock.js";
import { allIds, DAY, done, scratch } from "./helpers.js";

/** What a rerun finds after a crash at each step, set up by hand (the SIGKILL test does it for real). */
describe("archive reruns after a crash", () => {
  const cleanups: (() => void)[] = [];
  afterEach(() => {
    for (const c of cleanups.splice(0)) c();
  });

  async function setup(n = 50) {
    const s = scratch();
    cleanups.push(s.cleanup);
    const clock = manualClock(Date.UTC(2026, 0, 1));
    const store = new MemoryBackend({ clock });
    for (let i = 0; i < n; i++) await store.put(done(`id-${i}`, clock(), 2 * DAY, DAY), { replace: false });
    const file = join(s.dir, "a.jsonl.gz");
    const run = (del = true) => archiveResults(store, { to: file, olderThanMs: DAY, delete: del, source: "test" });
    const files = () => readdirSync(s.dir).sort();
    return { store, file, run, files };
  }

  it("discards FILE.tmp left without a manifest and starts over", async () => {
    const { store, file, run, files } = await setup();
    writeFileSync(`${file}.tmp`, "half a gzip member");
    writeFileSync(`${file}.idx.tmp`, "half an index");
    writeFileSync(`${file}.manifest.json.tmp`, '{"version": 1, "cou');
    expect(await run()).toMatchObject({ archived: 50, deleted: 50, resumed: false });
    expect(files()).toEqual(["a.jsonl.gz", "a.jsonl.gz.idx", "a.jsonl.gz.manifest.json"]);
    expect(await allIds(store)).toEqual([]);
  });

  it("finishes a publish cut short: the staged manifest is published when the data hash to it", async () => {
    const { store, file, run, files } = await setup();
    const first = await run(false);
    // As if killed between renaming FILE.idx.tmp and FILE.tmp: manifest staged, data still under tmp.
    renameSync(file, `${file}.tmp`);
    renameSync(`${file}.manifest.json`, `${file}.manifest.json.tmp`);
    expect(await run()).toMatchObject({ archived: 50, deleted: 50, resumed: true, sha256: first.sha256 });
    expect(files()).toEqual(["a.jsonl.gz", "a.jsonl.gz.idx", "a.jsonl.gz.manifest.json"]);
    expect(await allIds(store)).toEqual([]);
  });

  it("a staged manifest whose data do not match is dropped with them, and the archive is written anew", async () => {
    const { store, file, run } = await setup();
    await run(false);
    renameSync(file, `${file}.tmp`);
    renameSync(`${file}.manifest.json`, `${file}.manifest.json.tmp`);
    writeFileSync(`${file}.tmp`, "not what the manifest hashed");
    await store.put(done("id-new", Date.UTC(2026, 0, 1), 2 * DAY, DAY), { replace: false });
    // The first run marked its 50 archived; the new archive takes only what is not archived yet.
    expect(await run()).toMatchObject({ archived: 1, resumed: false });
  });

  it("never overwrites a FILE that has no manifest", async () => {
    const { store, file, run } = await setup();
    writeFileSync(file, "someone's data");
    await expect(run()).rejects.toBeInstanceOf(ArchiveConflictError);
    expect(readFileSync(file, "utf8")).toBe("someone's data");
    expect((await allIds(store)).length).toBe(50);
  });

  it("refuses a complete archive that no longer matches its manifest, deleting nothing", async () => {
    const { store, file, run } = await setup();
    await run(false);
    const bytes = readFileSync(file);
    bytes[20] = bytes[20]! ^ 1;
    writeFileSync(file, bytes);
    await expect(run()).rejects.toBeInstanceOf(ArchiveDataError);
    expect((await allIds(store)).length).toBe(50);
  });

  it("finishes an archive whose manifest lost its createdAt: the tombstones name the file, dated by the store's clock", async () => {
    const { store, file, run } = await setup();
    await run(false);
    const manifestPath = `${file}.manifest.json`;
    const manifest = JSON.parse(readFileSync(manifestPath, "utf8")) as Record<string, unknown>;
    delete manifest.createdAt;
    writeFileSync(manifestPath, JSON.stringify(manifest));
    expect(await run()).toMatchObject({ archived: 50, deleted: 50 });
    // Expired a day ago (done 2 days ago, lifetime 1 day): a grace window longer than that still remembers it.
    const read = await store.lookup("id-0", { graceMs: 3 * DAY });
    expect(read).toMatchObject({ kind: "expired", archived: { file, at: Date.UTC(2026, 0, 1) } });
  });

  it("waits for nobody's dead lock, but refuses a live one", async () => {
    const { file, run } = await setup();
    writeFileSync(`${file}.lock`, JSON.stringify({ pid: process.pid, host: hostname() }));
    await expect(run()).rejects.toThrow(/Another archive run \(process \d+\)/);
    const dead = spawnSync(process.execPath, ["-e", "0"]).pid!;
    writeFileSync(`${file}.lock`, JSON.stringify({ pid: dead, host: hostname() }));
    expect(await run()).toMatchObject({ archived: 50, deleted: 50 });
    expect(existsSync(`${file}.lock`)).toBe(false);
  });

  it("writes no file when nothing matches", async () => {
    const { store, file, files } = await setup(0);
    expect(await archiveResults(store, { to: file, olderThanMs: 0, delete: true, source: "test" })).toMatchObject({
      archived: 0,
      file: null,
      sha256: null,
    });
    expect(files()).toEqual([]);
  });
});
