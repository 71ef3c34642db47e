import { open, type FileHandle } from "node:fs/promises";

/**
 * FILE.idx: where each gzip member starts and which task ids it may hold, so restore --task-id
 * decompresses only the member(s) that may hold the id. Little-endian binary:
 *
 *   header   "EBBIDX1\n"                                                   8 bytes
 *   member   lineCount u32 · length u32 · offset u64 · firstLine u32       20 bytes
 *            then lineCount sorted u32 hashes of its task ids             4 bytes per result
 *   ...      (one per member, in file order)
 *   trailer  "EBBIDXND" · members u32 · lines u32                         16 bytes
 *
 * ≈ 4.02 MB per 1M results (4 B per result + 20 B per 1000-line member). With 32-bit hashes a
 * lookup in a 1M-result archive decompresses a wrong member about once in 4,000 lookups.
 * Written and read one member at a time, so neither side holds the whole index.
 */
const HEADER = Buffer.from("EBBIDX1\n");
const TRAILER = Buffer.from("EBBIDXND");
const MEMBER_HEAD = 20;

export interface IndexMember {
  /** 1-based, in file order. */
  no: number;
  offset: number;
  length: number;
  /** 1-based line number (in the whole decompressed file) of the member's first line. */
  firstLine: number;
  lineCount: number;
  /** Sorted hashes of the member's task ids. */
  hashes: Uint32Array;
}

/** FNV-1a over UTF-16 code units, then murmur3's fmix32 so close ids spread over all 32 bits. */
export function hashTaskId(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export function mayHold(member: IndexMember, hash: number): boolean {
  const a = member.hashes;
  let lo = 0;
  let hi = a.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const v = a[mid]!;
    if (v === hash) return true;
    if (v < hash) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
}

export function encodeMember(m: Omit<IndexMember, "no">): Buffer {
  const head = Buffer.alloc(MEMBER_HEAD);
  head.writeUInt32LE(m.lineCount, 0);
  head.writeUInt32LE(m.length, 4);
  head.writeBigUInt64LE(BigInt(m.offset), 8);
  head.writeUInt32LE(m.firstLine, 16);
  const sorted = Uint32Array.from(m.hashes).sort();
  const body = Buffer.alloc(sorted.length * 4);
  for (let i = 0; i < sorted.length; i++) body.writeUInt32LE(sorted[i]!, i * 4);
  return Buffer.concat([head, body]);
}

export function indexHeader(): Buffer {
  return Buffer.from(HEADER);
}

export function indexTrailer(members: number, lines: number): Buffer {
  const t = Buffer.alloc(16);
  TRAILER.copy(t, 0);
  t.writeUInt32LE(members, 8);
  t.writeUInt32LE(lines, 12);
  return t;
}

export class IndexFormatError extends Error {}

/** Stream an index's members. Throws IndexFormatError when the file is not a whole, well-formed index. */
export async function* readIndex(path: string): AsyncGenerator<IndexMember> {
  const fh = await open(path, "r");
  try {
    const size = (await fh.stat()).size;
    if (size < HEADER.length + 16 || !(await readAt(fh, 0, HEADER.length)).equals(HEADER))
      throw new IndexFormatError(`${path} is not an Ebb archive index`);
    const trailer = await readAt(fh, size - 16, 16);
    if (!trailer.subarray(0, 8).equals(TRAILER)) throw new IndexFormatError(`${path} is truncated (no trailer)`);
    const members = trailer.readUInt32LE(8);
    let pos = HEADER.length;
    for (let no = 1; no <= members; no++) {
      if (pos + MEMBER_HEAD > size - 16) throw new IndexFormatError(`${path}: member ${no} runs past the end`);
      const head = await readAt(fh, pos, MEMBER_HEAD);
      const lineCount = head.readUInt32LE(0);
      const bytes = await readAt(fh, pos + MEMBER_HEAD, lineCount * 4);
      if (bytes.length !== lineCount * 4) throw new IndexFormatError(`${path}: member ${no} runs past the end`);
      pos += MEMBER_HEAD + lineCount * 4;
      // Copy into an aligned array: Uint32Array views need 4-byte-aligned offsets.
      const hashes = new Uint32Array(lineCount);
      for (let i = 0; i < lineCount; i++) hashes[i] = bytes.readUInt32LE(i * 4);
      yield {
        no,
        offset: Number(head.readBigUInt64LE(8)),
        length: head.readUInt32LE(4),
        firstLine: head.readUInt32LE(16),
        lineCount,
        hashes,
      };
    }
    if (pos !== size - 16) throw new IndexFormatError(`${path}: ${size - 16 - pos} unexpected bytes before the trailer`);
  } finally {
    await fh.close();
  }
}

async function readAt(fh: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  const { bytesRead } = await fh.read(buf, 0, length, position);
  return buf.subarray(0, bytesRead);
}
