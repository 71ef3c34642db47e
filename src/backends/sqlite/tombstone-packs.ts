import type Database from "better-sqlite3";
import type { Tombstone } from "../../retention/expiry.js";

/**
 * Compact tombstones (migration 0011_tombstone_packs). ebb_tombstones keeps each tombstone as a
 * row holding the id, twice (the table and its primary key), and an index on expired_at: about
 * 120 bytes an id. Cleanup of a busy store writes millions of them for the grace window, so
 * once ebb_tombstones holds more than COMPACT_AT of them, the oldest are moved, COMPACT_BATCH at
 * a time, into ebb_tombstone_packs, at about 10 bytes an id:
 *
 *  - an id becomes its fingerprint: 48 bits of a hash (fingerprint() below, fixed forever: it is
 *    part of the stored format, as the blob's version byte is);
 *  - a pack is one row holding up to MAX_ENTRIES tombstones sorted by fingerprint, for the
 *    fingerprints from its `lo` (its rowid) up to the next pack's: a lookup is one rowid seek and
 *    the decoding of one small blob; a pack that grows past MAX_ENTRIES splits in two;
 *  - each entry keeps its expiry to the millisecond, and the archive that took the result, as a
 *    reference into ebb_tombstone_archives (one row per archive file and time).
 *
 * Reads stay exact but for fingerprint collisions, which go one way only: an id never remembered
 * may read EXPIRED (when its 48 bits equal those of a remembered id, about n / 2^48 for n
 * remembered ids: 4e-9 with a million), and a remembered id never reads unknown. For that, two
 * tombstones that share a fingerprint keep the later expiry of the two, and an id forgotten
 * (forget(), or removed without a tombstone) is not deleted from its pack, where it may share its
 * entry with another id: it is listed in ebb_tombstone_forgotten (exact ids, few) until its entry
 * would be pruned.
 *
 * Pruning: an entry goes once its expiry is more than the grace window ago. A pack is rewritten
 * without its pruned entries when it is touched (an entry added) or when an eighth of its
 * entries can go (stale_at, indexed: the expiry of its STALE_FRACTION-th oldest entry), so an id
 * costs a few rewrites over its life and the packs hold few entries past the window.
 */

export const COMPACT_AT = 2_048;
const COMPACT_BATCH = 4_096;
const MAX_ENTRIES = 64;
/** Packs rewritten by one sweep, at most. */
const SWEEP_BATCH = 64;
/** A pack is swept once this fraction of its entries can be pruned. */
const STALE_FRACTION = 8;
const FORMAT = 1;

export interface PackEntry {
  fp: number;
  expiredAt: number;
  /** ebb_tombstone_archives.id, or 0 for none. */
  archive: number;
}

interface PackRow {
  lo: number;
  entries: Buffer;
}

/**
 * The id's fingerprint, 48 bits (a safe integer): cyrb53 (a public-domain 53-bit hash of the
 * string's UTF-16 code units) cut to 48 bits. Stored in packs: never change it (a new format
 * would need a new version byte and the old packs read with the old function).
 */
export function fingerprint(id: string): number {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < id.length; i++) {
    const ch = id.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return (h2 & 0xffff) * 4294967296 + (h1 >>> 0);
}

/** A pack's entries (sorted by fingerprint, none twice) as its blob. */
export function encodePack(lo: number, entries: readonly PackEntry[]): Buffer {
  const base = entries.reduce((m, e) => Math.min(m, e.expiredAt), Number.POSITIVE_INFINITY);
  const out: number[] = [FORMAT];
  varint(out, entries.length);
  if (entries.length === 0) return Buffer.from(out);
  varint(out, base);
  let prev = lo;
  for (const e of entries) {
    varint(out, e.fp - prev);
    prev = e.fp;
    varint(out, (e.expiredAt - base) * 2 + (e.archive > 0 ? 1 : 0));
    if (e.archive > 0) varint(out, e.archive);
  }
  return Buffer.from(out);
}

export function decodePack(lo: number, blob: Uint8Array): PackEntry[] {
  const r = { at: 0 };
  if (blob[r.at++] !== FORMAT) throw new Error(`Unknown tombstone pack format ${blob[0]} (pack ${lo}); this Ebb reads format ${FORMAT}`);
  const count = readVarint(blob, r);
  const entries: PackEntry[] = new Array(count);
  if (count === 0) return entries;
  const base = readVarint(blob, r);
  let fp = lo;
  for (let i = 0; i < count; i++) {
    fp += readVarint(blob, r);
    const x = readVarint(blob, r);
    const hasArchive = x % 2;
    entries[i] = { fp, expiredAt: base + (x - hasArchive) / 2, archive: hasArchive ? readVarint(blob, r) : 0 };
  }
  return entries;
}

/** The entry for `fp` in a pack's blob, without decoding the rest into objects. */
function findInPack(lo: number, blob: Uint8Array, want: number): { expiredAt: number; archive: number } | null {
  const r = { at: 1 };
  const count = readVarint(blob, r);
  if (count === 0) return null;
  const base = readVarint(blob, r);
  let fp = lo;
  for (let i = 0; i < count; i++) {
    fp += readVarint(blob, r);
    const x = readVarint(blob, r);
    const hasArchive = x % 2;
    const archive = hasArchive ? readVarint(blob, r) : 0;
    if (fp === want) return { expiredAt: base + (x - hasArchive) / 2, archive };
    if (fp > want) return null;
  }
  return null;
}

function varint(out: number[], v: number): void {
  while (v >= 128) {
    out.push((v % 128) | 128);
    v = Math.floor(v / 128);
  }
  out.push(v);
}

function readVarint(b: Uint8Array, r: { at: number }): number {
  let v = 0;
  let scale = 1;
  for (;;) {
    const byte = b[r.at++];
    if (byte === undefined) throw new Error("Truncated tombstone pack");
    v += (byte & 127) * scale;
    if (byte < 128) return v;
    scale *= 128;
  }
}

/** The tombstone packs of one database: lookups, compaction of ebb_tombstones into them, pruning. Run inside the caller's transactions. */
export class TombstonePacks {
  private readonly sql: ReturnType<typeof prepare>;

  constructor(db: Database.Database) {
    this.sql = prepare(db);
  }

  /** The packed tombstone of `taskId`, if any (and the id was not forgotten since). */
  lookup(taskId: string): Tombstone | undefined {
    const fp = fingerprint(taskId);
    const pack = this.sql.packFor.get(fp);
    if (!pack) return undefined;
    const hit = findInPack(pack.lo, pack.entries, fp);
    if (!hit || this.sql.isForgotten.get(taskId)) return undefined;
    const archive = hit.archive > 0 ? this.sql.archive.get(hit.archive) : undefined;
    return { expiredAt: hit.expiredAt, ...(archive ? { archived: { file: archive.file, at: archive.at } } : {}) };
  }

  /**
   * Forget `taskId` here: if its fingerprint has an entry, remember that the id itself is gone
   * (until that entry would be pruned). True when there was one to forget.
   */
  forget(taskId: string): boolean {
    const fp = fingerprint(taskId);
    const pack = this.sql.packFor.get(fp);
    const hit = pack && findInPack(pack.lo, pack.entries, fp);
    if (!hit || this.sql.isForgotten.get(taskId)) return false;
    this.sql.forget.run(taskId, hit.expiredAt);
    return true;
  }

  /** How many tombstones the packs hold. */
  count(): number {
    return this.sql.count.get()?.n ?? 0;
  }

  /**
   * Move the oldest tombstones of ebb_tombstones into packs, when it holds more than COMPACT_AT,
   * and prune what is past `cutoff` (expiry before it) in the packs touched and the stalest
   * others. Returns how many were moved.
   */
  maintain(cutoff: number): number {
    let moved = 0;
    if (this.sql.stagedBeyond.get(COMPACT_AT)) moved = this.compact(cutoff);
    this.sweep(cutoff);
    return moved;
  }

  private compact(cutoff: number): number {
    const staged = this.sql.oldestStaged.all(COMPACT_BATCH);
    if (staged.length === 0) return 0;
    const incoming = new Map<number, PackEntry>();
    for (const s of staged) {
      const entry: PackEntry = {
        fp: fingerprint(s.task_id),
        expiredAt: s.expired_at,
        archive: s.archive_file === null ? 0 : this.archiveId(s.archive_file, s.archived_at ?? s.expired_at),
      };
      merge(incoming, entry);
      // Written again: whatever forgot the id before is over.
      this.sql.unforget.run(s.task_id);
    }
    const sorted = [...incoming.values()].sort((a, b) => a.fp - b.fp);
    let i = 0;
    while (i < sorted.length) {
      const pack = this.sql.packFor.get(sorted[i]!.fp);
      const lo = pack ? pack.lo : 0;
      const next = this.sql.nextLo.get(lo)?.lo ?? Number.POSITIVE_INFINITY;
      const entries = new Map<number, PackEntry>();
      if (pack) for (const e of decodePack(pack.lo, pack.entries)) entries.set(e.fp, e);
      while (i < sorted.length && sorted[i]!.fp < next) merge(entries, sorted[i++]!);
      this.write(
        lo,
        [...entries.values()].filter((e) => e.expiredAt >= cutoff).sort((a, b) => a.fp - b.fp),
        pack !== undefined,
      );
    }
    for (const s of staged) this.sql.dropStaged.run(s.task_id);
    return staged.length;
  }

  /** Rewrite the packs with the most entries past `cutoff`, and drop forgotten ids whose entries are gone by now. */
  private sweep(cutoff: number): void {
    for (const pack of this.sql.stale.all(cutoff, SWEEP_BATCH)) {
      const kept = decodePack(pack.lo, pack.entries).filter((e) => e.expiredAt >= cutoff);
      this.write(pack.lo, kept, true);
    }
    this.sql.pruneForgotten.run(cutoff);
  }

  /** Store a pack's entries under `lo`, split when too many; an empty pack goes (its range falls to the pack before). */
  private write(lo: number, entries: PackEntry[], exists: boolean): void {
    if (entries.length === 0) {
      if (exists) this.sql.dropPack.run(lo);
      return;
    }
    const parts = Math.ceil(entries.length / MAX_ENTRIES);
    const size = Math.ceil(entries.length / parts);
    for (let p = 0; p < parts; p++) {
      const chunk = entries.slice(p * size, (p + 1) * size);
      const at = p === 0 ? lo : chunk[0]!.fp;
      const staleAt = chunk.map((e) => e.expiredAt).sort((a, b) => a - b)[Math.floor(chunk.length / STALE_FRACTION)]!;
      this.sql.putPack.run(at, chunk.length, staleAt, encodePack(at, chunk));
    }
  }

  private archiveId(file: string, at: number): number {
    this.sql.addArchive.run(file, at);
    return this.sql.archiveIdOf.get(file, at)!.id;
  }
}

/** Two tombstones under one fingerprint: the later expiry stays (an id may read EXPIRED longer, never unknown sooner). */
function merge(into: Map<number, PackEntry>, e: PackEntry): void {
  const had = into.get(e.fp);
  if (!had || e.expiredAt >= had.expiredAt) into.set(e.fp, e);
}

function prepare(db: Database.Database) {
  return {
    packFor: db.prepare<[number], PackRow>(`SELECT lo, entries FROM ebb_tombstone_packs WHERE lo <= ? ORDER BY lo DESC LIMIT 1`),
    nextLo: db.prepare<[number], { lo: number }>(`SELECT lo FROM ebb_tombstone_packs WHERE lo > ? ORDER BY lo LIMIT 1`),
    putPack: db.prepare<[number, number, number, Buffer]>(
      `INSERT OR REPLACE INTO ebb_tombstone_packs (lo, n, stale_at, entries) VALUES (?, ?, ?, ?)`,
    ),
    dropPack: db.prepare<[number]>(`DELETE FROM ebb_tombstone_packs WHERE lo = ?`),
    stale: db.prepare<[number, number], PackRow>(
      `SELECT lo, entries FROM ebb_tombstone_packs WHERE stale_at < ? ORDER BY stale_at LIMIT ? + 0`,
    ),
    count: db.prepare<[], { n: number | null }>(`SELECT sum(n) AS n FROM ebb_tombstone_packs`),
    stagedBeyond: db.prepare<[number], { one: 1 }>(`SELECT 1 AS one FROM ebb_tombstones LIMIT 1 OFFSET ? + 0`),
    oldestStaged: db.prepare<[number], { task_id: string; expired_at: number; archive_file: string | null; archived_at: number | null }>(
      `SELECT task_id, expired_at, archive_file, archived_at FROM ebb_tombstones ORDER BY expired_at LIMIT ? + 0`,
    ),
    dropStaged: db.prepare<[string]>(`DELETE FROM ebb_tombstones WHERE task_id = ?`),
    addArchive: db.prepare<[string, number]>(
      `INSERT INTO ebb_tombstone_archives (file, at) VALUES (?, ?) ON CONFLICT (file, at) DO NOTHING`,
    ),
    archiveIdOf: db.prepare<[string, number], { id: number }>(`SELECT id FROM ebb_tombstone_archives WHERE file = ? AND at = ?`),
    archive: db.prepare<[number], { file: string; at: number }>(`SELECT file, at FROM ebb_tombstone_archives WHERE id = ?`),
    isForgotten: db.prepare<[string], { one: 1 }>(`SELECT 1 AS one FROM ebb_tombstone_forgotten WHERE task_id = ?`),
    forget: db.prepare<[string, number]>(`INSERT OR REPLACE INTO ebb_tombstone_forgotten (task_id, until) VALUES (?, ?)`),
    unforget: db.prepare<[string]>(`DELETE FROM ebb_tombstone_forgotten WHERE task_id = ?`),
    pruneForgotten: db.prepare<[number]>(`DELETE FROM ebb_tombstone_forgotten WHERE until < ?`),
  };
}
