import { stringifyCeleryJson } from "../protocol/celery-json.js";
import { createHash, type Hash } from "node:crypto";
import { open, rm, type FileHandle } from "node:fs/promises";
import { encodeMember, hashTaskId, indexHeader, indexTrailer } from "./archive-index.js";
import type { ArchiveLine } from "./archive-line.js";
import { MEMBER_MAX_BYTES, MEMBER_MAX_LINES, gzipMember } from "./gzip-member.js";

/** What the writer put on disk, for verification and the manifest. */
export interface WrittenArchive {
  count: number;
  bytes: number;
  sha256: string;
  members: number;
  index: { sha256: string; bytes: number };
  /** Epoch ms range of the lines' dateDone (null when none had one). */
  dateDoneFrom: number | null;
  dateDoneTo: number | null;
}

interface Pending {
  text: string[];
  bytes: number;
  hashes: number[];
  firstLine: number;
}

/** Members compressed ahead of the one being written: enough to keep zlib's threads busy, still bounded. */
const IN_FLIGHT = 3;

/**
 * Streams lines into FILE.tmp (gzip members of at most MEMBER_MAX_LINES lines) and FILE.idx.tmp,
 * hashing the bytes as they go. Memory holds at most IN_FLIGHT + 1 members, however many lines.
 * Both files are opened with O_EXCL: a writer never overwrites anything.
 */
export class ArchiveWriter {
  private pending: Pending;
  private readonly inFlight: { compressed: Promise<Buffer>; p: Pending }[] = [];
  private offset = 0;
  private idxBytes = 0;
  private count = 0;
  private members = 0;
  private dateDoneFrom: number | null = null;
  private dateDoneTo: number | null = null;
  private readonly fileHash: Hash = createHash("sha256");
  private readonly idxHash: Hash = createHash("sha256");

  private constructor(
    private readonly fh: FileHandle,
    private readonly idxFh: FileHandle,
    private readonly paths: { tmp: string; idxTmp: string },
  ) {
    this.pending = fresh(1);
  }

  static async create(tmp: string, idxTmp: string): Promise<ArchiveWriter> {
    const fh = await open(tmp, "wx");
    const idxFh = await open(idxTmp, "wx").catch(async (e: unknown) => {
      await fh.close();
      throw e;
    });
    const writer = new ArchiveWriter(fh, idxFh, { tmp, idxTmp });
    await writer.writeIdx(indexHeader());
    return writer;
  }

  /** Append lines (one scan batch); resolves once the members they filled are on their way to disk. */
  async add(lines: readonly ArchiveLine[], dateDones: readonly (number | null)[]): Promise<void> {
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!;
      const text = stringifyCeleryJson(line);
      const p = this.pending;
      if (p.text.length > 0 && (p.text.length >= MEMBER_MAX_LINES || p.bytes + text.length > MEMBER_MAX_BYTES)) await this.seal();
      this.pending.text.push(text);
      this.pending.bytes += text.length + 1;
      this.pending.hashes.push(hashTaskId(line.task_id));
      this.count += 1;
      const done = dateDones[i] ?? null;
      if (done !== null) {
        if (this.dateDoneFrom === null || done < this.dateDoneFrom) this.dateDoneFrom = done;
        if (this.dateDoneTo === null || done > this.dateDoneTo) this.dateDoneTo = done;
      }
    }
  }

  get lines(): number {
    return this.count;
  }

  /** Write what is left, fsync both files and close them. */
  async finish(): Promise<WrittenArchive> {
    if (this.pending.text.length > 0) await this.seal();
    while (this.inFlight.length > 0) await this.writeOldest();
    await this.writeIdx(indexTrailer(this.members, this.count));
    await Promise.all([this.fh.sync(), this.idxFh.sync()]);
    await Promise.all([this.fh.close(), this.idxFh.close()]);
    return {
      count: this.count,
      bytes: this.offset,
      sha256: this.fileHash.digest("hex"),
      members: this.members,
      index: { sha256: this.idxHash.digest("hex"), bytes: this.idxBytes },
      dateDoneFrom: this.dateDoneFrom,
      dateDoneTo: this.dateDoneTo,
    };
  }

  /** Give up: close and remove both tmp files (the results are all still in the store). */
  async discard(): Promise<void> {
    await Promise.allSettled(this.inFlight.map((f) => f.compressed));
    await Promise.allSettled([this.fh.close(), this.idxFh.close()]);
    await Promise.all([rm(this.paths.tmp, { force: true }), rm(this.paths.idxTmp, { force: true })]);
  }

  private async seal(): Promise<void> {
    const p = this.pending;
    this.inFlight.push({ p, compressed: gzipMember(Buffer.from(`${p.text.join("\n")}\n`)) });
    this.pending = fresh(p.firstLine + p.text.length);
    if (this.inFlight.length > IN_FLIGHT) await this.writeOldest();
  }

  private async writeOldest(): Promise<void> {
    const { p, compressed } = this.inFlight.shift()!;
    const data = await compressed;
    await writeAll(this.fh, data, this.offset);
    this.fileHash.update(data);
    await this.writeIdx(
      encodeMember({
        offset: this.offset,
        length: data.length,
        firstLine: p.firstLine,
        lineCount: p.text.length,
        hashes: Uint32Array.from(p.hashes),
      }),
    );
    this.offset += data.length;
    this.members += 1;
  }

  private async writeIdx(data: Buffer): Promise<void> {
    await writeAll(this.idxFh, data, this.idxBytes);
    this.idxHash.update(data);
    this.idxBytes += data.length;
  }
}

function fresh(firstLine: number): Pending {
  return { text: [], bytes: 0, hashes: [], firstLine };
}

async function writeAll(fh: FileHandle, data: Buffer, position: number): Promise<void> {
  for (let done = 0; done < data.length; ) {
    const { bytesWritten } = await fh.write(data, done, data.length - done, position + done);
    done += bytesWritten;
  }
}
