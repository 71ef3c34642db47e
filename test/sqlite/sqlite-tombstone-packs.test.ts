import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { StoreRequest } from "../../src/backends/result-backend.js";
import type { ResultRecord } from "../../src/backends/retention-store.js";
import { SqliteBackend } from "../../src/backends/sqlite/sqlite-backend.js";
import { COMPACT_AT, decodePack, encodePack, fingerprint, type PackEntry } from "../../src/backends/sqlite/tombstone-packs.js";
import { manualClock } from "../../src/clock.js";
import { openDatabase, type SqliteHandle } from "../../src/sqlite/open-database.js";

const H = 3_600_000;
const D = 24 * H;
const GRACE = 7 * D;

function request(taskId: string, lifetimeMs: number): StoreRequest {
  return { taskId, status: "SUCCESS", result: taskId, traceback: null, children: [], lifetimeMs, tier: null, action: "delete" };
}

describe("sqlite tombstone packs", () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  function store() {
    const dir = mkdtempSync(join(tmpdir(), "ebb-packs-"));
    const path = join(dir, "ebb.db");
    const clock = manualClock();
    const backend = new SqliteBackend({ url: `sqlite://${path}`, clock, graceMs: GRACE, pollIntervalMs: 600_000 });
    const handle = openDatabase(path);
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    cleanups.push(async () => {
      handle.close();
      await backend.close();
    });
    return { backend, clock, handle };
  }

  /** Store `ids` (lifetime 1 s, a millisecond apart so each has its own expiry), let them expire, and clean them up with tombstones. */
  async function expireAndClean(backend: SqliteBackend, clock: ReturnType<typeof manualClock>, ids: string[]) {
    const expiries = new Map<string, number>();
    for (let i = 0; i < ids.length; i += 500) {
      const outcomes = await Promise.all(ids.slice(i, i + 500).map((id) => backend.store(request(id, 1_000))));
      for (const o of outcomes) expiries.set(o.result.taskId, o.result.expiresAt!);
      clock.advance(1);
    }
    clock.advance(2_000);
    await cleanAll(backend, clock());
    return expiries;
  }

  async function cleanAll(backend: SqliteBackend, expiresBy: number, archive?: { file: string; at: number }) {
    const records: ResultRecord[] = [];
    for await (const batch of backend.scan({ batchSize: 1_000, expiresBy, includeHeld: false })) records.push(...batch);
    for (let i = 0; i < records.length; i += 1_000)
      await backend.remove(records.slice(i, i + 1_000), { remember: true, ...(archive ? { archive } : {}) });
  }

  const packed = (h: SqliteHandle) => (h.db.prepare("SELECT coalesce(sum(n), 0) FROM ebb_tombstone_packs").pluck().get() as number) ?? 0;
  const staged = (h: SqliteHandle) => h.db.prepare("SELECT count(*) FROM ebb_tombstones").pluck().get() as number;

  it("packs round-trip: fingerprints up to 2^48, expiries to the millisecond, archive references", () => {
    const entries: PackEntry[] = [
      { fp: 5, expiredAt: 1_767_225_600_123, archive: 0 },
      { fp: 2 ** 40 + 17, expiredAt: 1_767_225_600_000, archive: 3 },
      { fp: 2 ** 48 - 1, expiredAt: 1_767_830_400_999, archive: 0 },
    ];
    expect(decodePack(0, encodePack(0, entries))).toEqual(entries);
    expect(decodePack(5, encodePack(5, entries))).toEqual(entries);
    expect(decodePack(7, encodePack(7, []))).toEqual([]);
    expect(() => decodePack(0, Buffer.from([9, 0]))).toThrow(/Unknown tombstone pack format 9/);
    // The fingerprint is part of the stored format: fixed values, 48 bits.
    expect(fingerprint("5e4a8a6e-1111-4a7b-9c2d-0123456789ab")).toBe(fingerprint("5e4a8a6e-1111-4a7b-9c2d-0123456789ab"));
    expect(fingerprint("a")).not.toBe(fingerprint("b"));
    for (const id of ["", "a", "ключ", "x".repeat(1_000)]) expect(fingerprint(id)).toBeLessThan(2 ** 48);
  });

  it("after compaction every cleaned id still reads EXPIRED with its exact expiry, unknown ids read unknown, and all read unknown after the grace window", async () => {
    const { backend, clock, handle } = store();
    const ids = Array.from({ length: 3 * COMPACT_AT }, (_, i) => `id-${i}`);
    const expiries = await expireAndClean(backend, clock, ids);
    expect(packed(handle)).toBeGreaterThan(COMPACT_AT);
    expect(packed(handle) + staged(handle)).toBe(ids.length);
    for (const id of ids)
      expect(await backend.lookup(id, { graceMs: GRACE })).toEqual({ kind: "expired", taskId: id, expiredAt: expiries.get(id) });
    for (let i = 0; i < 2_000; i++) expect(await backend.lookup(`never-${i}`, { graceMs: GRACE })).toEqual({ kind: "missing" });
    expect((await backend.storeFacts()).tombstones).toBe(ids.length);
    // A shorter grace reads them unknown already; past the window, so does every grace.
    expect(await backend.lookup("id-1", { graceMs: 1_000 })).toEqual({ kind: "missing" });
    clock.advance(GRACE);
    for (const id of ids.slice(0, 200)) expect(await backend.lookup(id, { graceMs: GRACE })).toEqual({ kind: "missing" });
  });

  it("packed tombstones are pruned once past the grace window, by later cleanups", async () => {
    const { backend, clock, handle } = store();
    await expireAndClean(
      backend,
      clock,
      Array.from({ length: 2 * COMPACT_AT }, (_, i) => `old-${i}`),
    );
    expect(packed(handle)).toBeGreaterThan(0);
    clock.advance(GRACE + D);
    // Later cleanups (new tombstones) sweep the stale packs, a bounded number per call.
    for (let round = 0; round < 20 && packed(handle) > 0; round++)
      await expireAndClean(backend, clock, [`new-${round}-a`, `new-${round}-b`]);
    expect(packed(handle)).toBe(0);
    expect(handle.db.prepare("SELECT count(*) FROM ebb_tombstone_packs").pluck().get()).toBe(0);
  });

  it("an archive's tombstones keep its file and time through compaction", async () => {
    const { backend, clock } = store();
    const ids = Array.from({ length: 2 * COMPACT_AT }, (_, i) => `arc-${i}`);
    for (let i = 0; i < ids.length; i += 500) await Promise.all(ids.slice(i, i + 500).map((id) => backend.store(request(id, 30 * D))));
    const archive = { file: "/var/archives/ebb-2026.jsonl.gz", at: clock() - 1_000 };
    // An archive --delete removes them before they expire: each is remembered as leaving now.
    await cleanAll(backend, clock() + 31 * D, archive);
    for (const id of [ids[0]!, ids[1_000]!, ids.at(-1)!])
      expect(await backend.lookup(id, { graceMs: GRACE })).toEqual({ kind: "expired", taskId: id, expiredAt: clock(), archived: archive });
  });

  it("forget() and removal without a tombstone make a packed id unknown, and leave the others", async () => {
    const { backend, clock, handle } = store();
    const ids = Array.from({ length: 2 * COMPACT_AT }, (_, i) => `f-${i}`);
    await expireAndClean(backend, clock, ids);
    const victim = ids[0]!;
    const packedVictim = await backend.lookup(victim, { graceMs: GRACE });
    expect(packedVictim.kind).toBe("expired");
    expect(staged(handle)).toBeLessThan(ids.length); // some of them are packed...
    expect(handle.db.prepare("SELECT count(*) FROM ebb_tombstones WHERE task_id = ?").pluck().get(victim)).toBe(0); // ...this one too
    expect(await backend.forget(victim)).toBe(true);
    expect(await backend.lookup(victim, { graceMs: GRACE })).toEqual({ kind: "missing" });
    expect(await backend.forget(victim)).toBe(false);
    expect((await backend.lookup(ids[1]!, { graceMs: GRACE })).kind).toBe("expired");

    // Stored again, then removed without a tombstone: its old packed tombstone does not speak for it.
    const other = ids[1]!;
    await backend.store(request(other, H));
    expect((await backend.lookup(other, { graceMs: GRACE })).kind).toBe("found");
    await backend.remove([(await backend.read(other))!], { remember: false });
    expect(await backend.lookup(other, { graceMs: GRACE })).toEqual({ kind: "missing" });

    // Cleaned again later: the new tombstone is the one read, exactly, before and after it is packed.
    await backend.store(request(victim, 1_000));
    clock.advance(2_000);
    const expectedAt = clock() - 1_000;
    await cleanAll(backend, clock());
    expect(await backend.lookup(victim, { graceMs: GRACE })).toEqual({ kind: "expired", taskId: victim, expiredAt: expectedAt });
    await expireAndClean(
      backend,
      clock,
      Array.from({ length: 2 * COMPACT_AT }, (_, i) => `g-${i}`),
    );
    expect(handle.db.prepare("SELECT count(*) FROM ebb_tombstones WHERE task_id = ?").pluck().get(victim)).toBe(0);
    expect(await backend.lookup(victim, { graceMs: GRACE })).toEqual({ kind: "expired", taskId: victim, expiredAt: expectedAt });
  });

  it("an expired id costs at most 12 bytes in the packs", async () => {
    const { backend, clock, handle } = store();
    await expireAndClean(
      backend,
      clock,
      Array.from({ length: 8 * COMPACT_AT }, () => crypto.randomUUID()),
    );
    const bytes = handle.db.prepare("SELECT sum(pgsize) FROM dbstat WHERE name LIKE 'ebb_tombstone_packs%'").pluck().get() as number;
    expect(bytes / packed(handle)).toBeLessThan(12);
  });
});
