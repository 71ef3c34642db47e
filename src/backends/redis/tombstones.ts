import { createHash } from "node:crypto";

/**
 * Compact records of result expiries (Redis), 12 bytes per id. They index two kinds of id:
 *
 *  - A default result (no tier, ready, not held, with a TTL: nearly every result) is indexed by
 *    its record alone, written by the store script beside the value. A zset entry would cost
 *    ~160 bytes for as long as the result lives and as long again for the grace window.
 *  - Any other result that Redis expires has a ttl-index entry (its tier and flags live beside it);
 *    once that entry has been expired for compactAfterMs (10 minutes), the trimmer moves it here
 *    for the rest of its grace window.
 *
 * A read finds an id's expiry in its record, exactly (to the millisecond), whether the value is
 * still there or Redis has expired it: then the id reads EXPIRED for the grace window, as before.
 *
 *   record    bytes 2-7 of sha1(id) (the first byte is the shard), then the expiry in epoch ms as
 *             6 bytes, big-endian (good until the year 10889); an expiry of 0 is a cancelled
 *             record (the result was removed on purpose: forget(), cleanup) and reads as none
 *   shards    256, by the first byte of sha1(id): <prefix>ebb:results:expired:<hh> holds its
 *             records sorted (binary search), <prefix>ebb:results:expired:<hh>:new the ones
 *             appended since its last merge (scanned)
 *   merges    when a tail grows past an eighth of its shard (or 1 KB: an APPENDed string keeps up
 *             to as much again spare), and once an hour for every shard: records past the grace
 *             window and cancelled ones are dropped, the tail is sorted in and emptied
 *             (compare-and-swap on a generation counter, ebb:results:expired:gen, so two
 *             processes merging at once cannot lose an append)
 *
 * The Lua side is scripts/includes/expired-records.lua. A fingerprint is 48 bits within a shard,
 * so an id that was never stored matches a record with probability about n / 2^56 (1e-10 for 7
 * million remembered ids); such an error can only make an unknown id read EXPIRED, never an
 * expired id read unknown.
 */
export const RECORD_BYTES = 12;
/** The fingerprint bytes a record holds (the first byte, the shard, is in its key). */
const FP_BYTES = 6;
export const SHARDS = 256;
/** A tail this long (bytes), or an eighth of its shard if that is more, is merged. */
export const TAIL_MERGE_BYTES = 1024;

/** The first 7 bytes of sha1(id): byte 0 picks the shard, bytes 1-6 are in the record (recordKey). */
export function fingerprint(taskId: string): Buffer {
  return createHash("sha1")
    .update(taskId, "utf8")
    .digest()
    .subarray(0, 1 + FP_BYTES);
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
    sorted: (shard: string) => `${base}${shard}`,
    tail: (shard: string) => `${base}${shard}:new`,
    generation: `${base}gen`,
  };
}
