import { createHash } from "node:crypto";

/**
 * The compact memory of expired ids (Redis). The ttl index remembers an expired id for the whole
 * grace window (7 days by default) so that it reads EXPIRED, not unknown; as a zset entry that
 * costs ~160 bytes per id. Once an entry has been expired for a while (compactAfterMs), the
 * trimmer moves it here, where it costs 13 bytes:
 *
 *   record    bytes 2-8 of sha1(id) (the fingerprint's first byte is the shard), then the expiry
 *             in epoch ms as 6 bytes, big-endian (exact to the millisecond, good until 10889)
 *   shards    256, by the fingerprint's first byte: <prefix>ebb:results:expired:<hh> holds its
 *             records sorted by fingerprint (binary search), and <prefix>ebb:results:expired:<hh>:new
 *             the ones appended since its last merge, unsorted (scanned)
 *   merges    when a tail grows past an eighth of its shard (or 1 KB: an APPENDed string keeps up to as much again spare), and once an hour for every
 *             shard: records past the grace window are dropped, the tail is sorted in and emptied
 *             (compare-and-swap on a generation counter, ebb:results:expired:gen, so two processes
 *             merging at once cannot lose an append)
 *
 * Reads stay exact for every practical purpose: a fingerprint is 64 bits, so an id that never
 * expired matches a stored one with probability n / 2^64 (about 4e-13 for 7 million remembered
 * ids; 56 bits within a shard), and such an error only ever makes an unknown id read EXPIRED, never an expired id read
 * unknown. What the compact form cannot hold is removed on purpose: forget() of an id after it
 * expired leaves it reading EXPIRED (its value is gone either way).
 */
export const RECORD_BYTES = 13;
/** The fingerprint bytes a record holds (the first byte, the shard, is in its key). */
const FP_BYTES = 7;
export const SHARDS = 256;
/** A tail this long (bytes), or an eighth of its shard if that is more, is merged. */
export const TAIL_MERGE_BYTES = 1024;

/** The first 8 bytes of sha1(id): byte 0 picks the shard, bytes 1-7 are in the record (recordKey). */
export function fingerprint(taskId: string): Buffer {
  return createHash("sha1").update(taskId, "utf8").digest().subarray(0, 8);
}

/** What a record holds of the fingerprint. */
export function recordKey(taskId: string): Buffer {
  return fingerprint(taskId).subarray(1);
}

/** The shard of an id: the fingerprint's first byte, as two hex digits (its key's suffix). */
export function shardOf(taskId: string): string {
  return fingerprint(taskId).toString("hex", 0, 1);
}

/** A record for an id: its recordKey() and its expiry. */
export function encodeRecord(key: Buffer, expiresAt: number): Buffer {
  const out = Buffer.alloc(RECORD_BYTES);
  key.copy(out, 0, 0, FP_BYTES);
  out.writeUIntBE(Math.max(0, Math.round(expiresAt)), FP_BYTES, 6);
  return out;
}

function expiryAt(buf: Buffer, offset: number): number {
  return buf.readUIntBE(offset + FP_BYTES, 6);
}

/**
 * A shard's new sorted body: its sorted records and its tail's, without those that expired
 * before `cutoff` (their grace window is over). One record per fingerprint, the latest expiry.
 */
export function mergeShard(sorted: Buffer, tail: Buffer, cutoff: number): Buffer {
  const records: Buffer[] = [];
  for (const buf of [sorted, tail])
    for (let o = 0; o + RECORD_BYTES <= buf.length; o += RECORD_BYTES)
      if (expiryAt(buf, o) >= cutoff) records.push(buf.subarray(o, o + RECORD_BYTES));
  records.sort((a, b) => Buffer.compare(a, b));
  const kept: Buffer[] = [];
  for (const r of records) {
    const last = kept[kept.length - 1];
    // Sorted by fingerprint, then expiry: the last of a run of one fingerprint is its latest.
    if (last && last.compare(r, 0, FP_BYTES, 0, FP_BYTES) === 0) kept[kept.length - 1] = r;
    else kept.push(r);
  }
  return Buffer.concat(kept);
}

/** The expiry remembered for `taskId` in a sorted shard body, or null (tests; Redis searches with find-tombstone-2.lua). */
export function findInSorted(sorted: Buffer, taskId: string): number | null {
  const fp = recordKey(taskId);
  let lo = 0;
  let hi = Math.floor(sorted.length / RECORD_BYTES) - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const c = sorted.compare(fp, 0, FP_BYTES, mid * RECORD_BYTES, mid * RECORD_BYTES + FP_BYTES);
    if (c === 0) return expiryAt(sorted, mid * RECORD_BYTES);
    if (c < 0) lo = mid + 1;
    else hi = mid - 1;
  }
  return null;
}

/** Keys of the compact store under a result-key prefix. */
export function tombstoneKeys(prefix: string) {
  const base = `${prefix}ebb:results:expired:`;
  return {
    /** The prefix the compaction script appends "<hh>:new" to. */
    base,
    sorted: (shard: string) => `${base}${shard}`,
    tail: (shard: string) => `${base}${shard}:new`,
    generation: `${base}gen`,
  };
}
