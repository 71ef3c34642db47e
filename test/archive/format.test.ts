import { execFileSync } from "node:child_process";
import { readFileSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import {
  encodeMember,
  hashTaskId,
  indexHeader,
  indexTrailer,
  mayHold,
  readIndex,
  type IndexMember,
} from "../../src/archive/archive-index.js";
import { toArchiveLine, type ArchiveLine } from "../../src/archive/archive-line.js";
import { readArchive } from "../../src/archive/archive-reader.js";
import { archiveResults } from "../../src/archive/archive-results.js";
import { ArchiveWriter, type WrittenArchive } from "../../src/archive/archive-writer.js";
import { restoreResults } from "../../src/archive/restore-results.js";
import { verifyArchive } from "../../src/archive/verify-archive.js";
import { MemoryBackend } from "../../src/backends/memory/memory-backend.js";
import { manualClock } from "../../src/clock.js";
import { DAY, done, scratch } from "./helpers.js";

const NOW = Date.UTC(2026, 0, 1);
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function dir(): string {
  const s = scratch();
  cleanups.push(s.cleanup);
  return s.dir;
}

function lines(n: number): ArchiveLine[] {
  return Array.from({ length: n }, (_, i) =>
    toArchiveLine({ ...done(`id-${i}`, NOW, DAY, DAY), bytes: 0, origin: "ebb", archived: false }, "2026-01-01T00:00:00.000000+00:00"),
  );
}

async function write(file: string, all: ArchiveLine[]): Promise<WrittenArchive> {
  const w = await ArchiveWriter.create(file, `${file}.idx`);
  await w.add(
    all,
    all.map(() => NOW - DAY),
  );
  return w.finish();
}

async function members(idx: string): Promise<IndexMember[]> {
  const out: IndexMember[] = [];
  for await (const m of readIndex(idx)) out.push(m);
  return out;
}

describe("archive format", () => {
  it("writes independent gzip members of at most 1000 lines, an index of them, and verifies", async () => {
    const file = join(dir(), "a.jsonl.gz");
    const written = await write(file, lines(2500));
    expect(written).toMatchObject({ count: 2500, members: 3, bytes: statSync(file).size });
    const ms = await members(`${file}.idx`);
    expect(ms.map((m) => [m.firstLine, m.lineCount])).toEqual([
      [1, 1000],
      [1001, 1000],
      [2001, 500],
    ]);
    expect(ms[1]!.offset).toBe(ms[0]!.length);
    // Each member alone is a whole gzip file.
    const second = readFileSync(file).subarray(ms[1]!.offset, ms[1]!.offset + ms[1]!.length);
    expect(gunzipSync(second).toString().split("\n")[0]).toContain('"task_id":"id-1000"');
    // 4 bytes per result plus 20 per member and 24 of header/trailer.
    expect(statSync(`${file}.idx`).size).toBe(2500 * 4 + 3 * 20 + 24);
    await expect(verifyArchive(file, `${file}.idx`, written)).resolves.toBeUndefined();
  });

  it("is one valid .gz file: zcat and node's gunzip read every line", async () => {
    const file = join(dir(), "a.jsonl.gz");
    await write(file, lines(2345));
    expect(
      execFileSync("sh", ["-c", `zcat '${file}' | wc -l`])
        .toString()
        .trim(),
    ).toBe("2345");
    const text = gunzipSync(readFileSync(file)).toString();
    const parsed = text
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as ArchiveLine);
    expect(parsed[2344]).toMatchObject({
      task_id: "id-2344",
      status: "SUCCESS",
      date_done: "2025-12-31T00:00:00.000000+00:00",
      expires_at: "2026-01-01T00:00:00.000000+00:00",
      tier: null,
      origin: "ebb",
    });
    expect(Object.keys(parsed[0]!).slice(0, 5)).toEqual(["task_id", "name", "status", "result", "date_done"]);
  });

  it("finds one id by decompressing only the members whose hashes may hold it", async () => {
    const file = join(dir(), "a.jsonl.gz");
    await write(file, lines(5000));
    const ms = await members(`${file}.idx`);
    const candidates = ms.filter((m) => mayHold(m, hashTaskId("id-3456")));
    expect(candidates.map((m) => m.no)).toEqual([4]);
    // Wreck every other member: the lookup never reads them, so it still finds the entry cleanly.
    const bytes = readFileSync(file);
    for (const m of ms) if (m.no !== 4) bytes.fill(0x55, m.offset + 12, m.offset + m.length - 8);
    writeFileSync(file, bytes);
    const items = [];
    for await (const item of readArchive(file, { indexPath: `${file}.idx`, taskId: "id-3456" })) items.push(item);
    expect(items).toEqual([
      expect.objectContaining({ kind: "entry", lineNo: 3457, member: 4, line: expect.objectContaining({ task_id: "id-3456" }) }),
    ]);
  });

  it("verification fails when a byte on disk differs from what was written", async () => {
    const file = join(dir(), "a.jsonl.gz");
    const written = await write(file, lines(1500));
    const bytes = readFileSync(file);
    bytes[100] = bytes[100]! ^ 0xff;
    writeFileSync(file, bytes);
    await expect(verifyArchive(file, `${file}.idx`, written)).rejects.toThrow(/Verifying .* failed: .*sha256/);
  });
});

describe("reading damaged archives", () => {
  /** Members from raw text lines, with an index, as a damaged archive would hold them. */
  function craft(file: string, memberLines: string[][]): void {
    const parts: Buffer[] = [];
    const idx: Buffer[] = [indexHeader()];
    let offset = 0;
    let firstLine = 1;
    for (const ls of memberLines) {
      const gz = gzipSync(`${ls.join("\n")}\n`);
      const hashes = Uint32Array.from(ls.map((l) => hashTaskId(/"task_id":"([^"]+)"/.exec(l)?.[1] ?? "")));
      idx.push(encodeMember({ offset, length: gz.length, firstLine, lineCount: ls.length, hashes }));
      parts.push(gz);
      offset += gz.length;
      firstLine += ls.length;
    }
    idx.push(indexTrailer(memberLines.length, firstLine - 1));
    writeFileSync(file, Buffer.concat(parts));
    writeFileSync(`${file}.idx`, Buffer.concat(idx));
  }

  it("reports a bad JSON line and a line without task_id by file, line and member; the rest restores", async () => {
    const file = join(dir(), "bad.jsonl.gz");
    const good = lines(5).map((l) => JSON.stringify(l));
    craft(file, [
      [good[0]!, good[1]!],
      [good[2]!, '{"task_id":"id-x", "status": "SUC', JSON.stringify({ status: "SUCCESS", result: 1 }), good[3]!],
      [good[4]!],
    ]);
    const store = new MemoryBackend({ clock: manualClock(NOW) });
    const problems: unknown[] = [];
    const out = await restoreResults(file, { into: store, onProblem: (p) => problems.push(p) });
    expect(out).toMatchObject({ found: 5, restored: 5, bad: 2, index: { used: true } });
    expect(problems).toEqual([
      expect.objectContaining({ file: "bad.jsonl.gz", line: 4, member: 2, message: expect.stringMatching(/not JSON/) }),
      expect.objectContaining({ file: "bad.jsonl.gz", line: 5, member: 2, message: "missing task_id" }),
    ]);
    expect(await store.read("id-3")).not.toBeNull();
  });

  it("reports the same lines by number when there is no index (one stream over the file)", async () => {
    const file = join(dir(), "bad.jsonl.gz");
    const good = lines(3).map((l) => JSON.stringify(l));
    writeFileSync(file, Buffer.concat([gzipSync(`${good[0]}\nnot json\n`), gzipSync(`${good[1]}\n${good[2]}\n`)]));
    const problems: { line: number; member: number | null }[] = [];
    const out = await restoreResults(file, { onProblem: (p) => problems.push(p) });
    expect(out).toMatchObject({ found: 3, bad: 1, index: { used: false } });
    expect(problems).toEqual([expect.objectContaining({ line: 2, member: null })]);
  });

  it("a truncated archive restores every line before the cut and counts the lost ones", async () => {
    const file = join(dir(), "cut.jsonl.gz");
    await write(file, lines(2500));
    const ms = await members(`${file}.idx`);
    truncateSync(file, ms[2]!.offset + Math.floor(ms[2]!.length / 2));
    const store = new MemoryBackend({ clock: manualClock(NOW) });
    const problems: { line: number; member: number | null; message: string }[] = [];
    const out = await restoreResults(file, { into: store, onProblem: (p) => problems.push(p) });
    expect(out.found + out.bad).toBe(2500);
    expect(out.found).toBeGreaterThanOrEqual(2000);
    expect(out.restored).toBe(out.found);
    expect(problems).toEqual([expect.objectContaining({ line: out.found + 1, member: 3, message: expect.stringMatching(/truncated/) })]);
  });

  it("reports a manifest whose sha256 the file no longer matches", async () => {
    const file = join(dir(), "m.jsonl.gz");
    const written = await write(file, lines(10));
    writeFileSync(
      `${file}.manifest.json`,
      JSON.stringify({ version: 1, file: "m.jsonl.gz", count: 10, sha256: "0".repeat(64), index: written.index }),
    );
    const out = await restoreResults(file, {});
    expect(out.manifest).toEqual({ sha256Ok: false, expected: "0".repeat(64), actual: written.sha256 });
    expect(out.found).toBe(10);
  });

  async function archived(n: number): Promise<string> {
    const file = join(dir(), "m.jsonl.gz");
    const store = new MemoryBackend({ clock: manualClock(NOW) });
    for (let i = 0; i < n; i++) await store.put(done(`id-${i}`, NOW, DAY, 2 * DAY), { replace: false });
    await archiveResults(store, { to: file, olderThanMs: 0, source: "memory://" });
    return file;
  }

  it("does not trust an index that does not match the manifest: --task-id reads the whole file and still finds the id", async () => {
    const file = await archived(3000);
    const idx = readFileSync(`${file}.idx`);
    idx.fill(0, 8 + 20, 8 + 20 + 4000); // wipe the first member's hashes
    writeFileSync(`${file}.idx`, idx);
    const found: string[] = [];
    const out = await restoreResults(file, { taskId: "id-7", onEntry: (e) => found.push(e.line.task_id) });
    expect(out).toMatchObject({ found: 1, bad: 0, index: { used: false }, manifest: { sha256Ok: true } });
    expect(found).toEqual(["id-7"]);
  });

  it("reports lines a stream could not see when the manifest says there are more", async () => {
    const file = await archived(1500);
    const cut = (await members(`${file}.idx`))[1]!.offset;
    rmSync(`${file}.idx`);
    // Bytes that do not start a gzip member end node's gunzip quietly; the manifest's count tells.
    const bytes = readFileSync(file);
    bytes.fill(0, cut, cut + 4);
    writeFileSync(file, bytes);
    const problems: { message: string }[] = [];
    const out = await restoreResults(file, { onProblem: (p) => problems.push(p) });
    expect(out.found).toBe(1000);
    expect(out.bad).toBe(500);
    expect(problems.map((p) => p.message)).toEqual(["the file ends after 1000 lines, its manifest says 1500"]);
  });

  it("an unreadable manifest is reported, and the entries are still read", async () => {
    const file = await archived(20);
    writeFileSync(`${file}.manifest.json`, "{ not json");
    const out = await restoreResults(file, {});
    expect(out.found).toBe(20);
    expect(out.manifest).toMatchObject({ sha256Ok: false, problem: expect.stringMatching(/not JSON/) });
  });
});
