import { createReadStream } from "node:fs";
import { open, stat, type FileHandle } from "node:fs/promises";
import { StringDecoder } from "node:string_decoder";
import { createGunzip } from "node:zlib";
import { hashTaskId, IndexFormatError, mayHold, readIndex, type IndexMember } from "./archive-index.js";
import { parseArchiveLine, type ParsedLine } from "./archive-line.js";
import { inflateMember, splitLines } from "./gzip-member.js";

/**
 * Reading an archive, entry by entry, in bounded memory. With a usable index it goes member by
 * member (and with a task id, only through the members whose hashes may hold it); without one
 * it streams the whole file through one gunzip. A line that cannot be read becomes an error
 * item naming its line (1-based, in the whole decompressed file) and member; reading goes on.
 */
export type ArchiveItem =
  | ({ kind: "entry"; lineNo: number; member: number | null } & ParsedLine)
  /** `lost`: how many lines this error stands for (a damaged member loses all of its remaining lines). */
  | { kind: "error"; lineNo: number; member: number | null; message: string; lost: number };

export interface ReadOptions {
  /** Read through this index (checked with indexUsable first), or null to stream the file. */
  indexPath: string | null;
  /** Only this id's entries (and the errors met in members that may hold it). */
  taskId?: string;
  /** Streaming only: how many lines the file should hold (the manifest's count), so lines lost silently are reported. */
  expectedLines?: number;
}

const READ_AHEAD = 2;

export async function* readArchive(file: string, opts: ReadOptions): AsyncGenerator<ArchiveItem> {
  if (opts.indexPath === null) {
    yield* streamWhole(file, opts.taskId, opts.expectedLines);
    return;
  }
  const fh = await open(file, "r");
  try {
    const wanted = opts.taskId === undefined ? null : hashTaskId(opts.taskId);
    const keep = (item: ArchiveItem) => opts.taskId === undefined || item.kind === "error" || item.line.task_id === opts.taskId;
    // Read ahead: the next members decompress (zlib's threads) while this one is parsed. Bounded: READ_AHEAD members.
    const ahead: Promise<ArchiveItem[]>[] = [];
    for await (const m of readIndex(opts.indexPath)) {
      if (wanted !== null && !mayHold(m, wanted)) continue;
      const next = readMember(fh, m);
      next.catch(() => undefined); // awaited below; this only keeps an early stop from leaving it unhandled
      ahead.push(next);
      if (ahead.length > READ_AHEAD) yield* (await ahead.shift()!).filter(keep);
    }
    while (ahead.length > 0) yield* (await ahead.shift()!).filter(keep);
  } finally {
    await fh.close();
  }
}

/** Decompress one member and parse its lines; damage is reported against the index's line count. */
export async function readMember(fh: FileHandle, m: IndexMember): Promise<ArchiveItem[]> {
  const data = Buffer.alloc(m.length);
  const { bytesRead } = await fh.read(data, 0, m.length, m.offset);
  const { text, error } = await inflateMember(data.subarray(0, bytesRead));
  const { lines, cutShort } = splitLines(text);
  const items: ArchiveItem[] = [];
  const whole = Math.min(lines.length, m.lineCount);
  for (let i = 0; i < whole; i++) items.push(toItem(lines[i]!, m.firstLine + i, m.no));
  if (lines.length > m.lineCount) {
    items.push({
      kind: "error",
      lineNo: m.firstLine + m.lineCount,
      member: m.no,
      message: `member ${m.no} holds ${lines.length} lines, its index says ${m.lineCount}; the extra lines are ignored`,
      lost: 0,
    });
  } else if (whole < m.lineCount) {
    const why =
      bytesRead < m.length
        ? `the file ends ${m.length - bytesRead} bytes early (truncated)`
        : error
          ? `bad gzip data (${error})`
          : cutShort !== null
            ? "a line is cut short"
            : "the member ends early";
    const lost = m.lineCount - whole;
    items.push({
      kind: "error",
      lineNo: m.firstLine + whole,
      member: m.no,
      message: `lines ${m.firstLine + whole}..${m.firstLine + m.lineCount - 1} of member ${m.no} cannot be read: ${why}`,
      lost,
    });
  }
  return items;
}

function toItem(text: string, lineNo: number, member: number | null): ArchiveItem {
  const parsed = parseArchiveLine(text);
  return parsed.ok
    ? { kind: "entry", ...parsed.parsed, lineNo, member }
    : { kind: "error", lineNo, member, message: parsed.message, lost: 1 };
}

/** No index: one gunzip over the whole file (it reads concatenated members). After bad gzip data nothing further can be found. */
async function* streamWhole(file: string, taskId: string | undefined, expectedLines: number | undefined): AsyncGenerator<ArchiveItem> {
  const gunzip = createGunzip();
  createReadStream(file, { highWaterMark: 1 << 20 })
    .on("error", (e) => gunzip.destroy(e))
    .pipe(gunzip);
  let lineNo = 0;
  let rest = "";
  // A chunk may end inside a multi-byte character; the decoder carries it to the next one.
  const utf8 = new StringDecoder("utf8");
  const emit = function* (text: string): Generator<ArchiveItem> {
    lineNo += 1;
    const item = toItem(text, lineNo, null);
    if (taskId === undefined || item.kind === "error" || item.line.task_id === taskId) yield item;
  };
  try {
    for await (const chunk of gunzip) {
      const parts = (rest + utf8.write(chunk as Buffer)).split("\n");
      rest = parts.pop()!;
      for (const part of parts) yield* emit(part);
    }
    if (rest.length > 0) {
      lineNo += 1;
      yield { kind: "error", lineNo, member: null, message: "the last line is cut short (truncated)", lost: 1 };
    }
    // gunzip stops quietly at bytes that do not start a gzip member: only a count can tell.
    if (expectedLines !== undefined && lineNo < expectedLines) {
      yield {
        kind: "error",
        lineNo: lineNo + 1,
        member: null,
        message: `the file ends after ${lineNo} lines, its manifest says ${expectedLines}`,
        lost: expectedLines - lineNo,
      };
    }
  } catch (e) {
    const why = (e as Error).message;
    const lost = expectedLines !== undefined ? Math.max(1, expectedLines - lineNo) : 1;
    yield {
      kind: "error",
      lineNo: lineNo + 1,
      member: null,
      message: `bad gzip data after line ${lineNo} (${why}); the rest of the file cannot be read without its index`,
      lost,
    };
  }
}

/**
 * Whether an index can be trusted to find members: well formed, and its members start at 0
 * and follow one another. (A FILE cut short still has a usable index: the members before the
 * cut read normally and the rest are reported as lost.)
 */
export async function indexUsable(indexPath: string, file: string): Promise<{ ok: true } | { ok: false; why: string }> {
  try {
    await stat(indexPath);
  } catch {
    return { ok: false, why: `no index ${indexPath}` };
  }
  try {
    let next = 0;
    for await (const m of readIndex(indexPath)) {
      if (m.offset !== next) return { ok: false, why: `index ${indexPath}: member ${m.no} starts at byte ${m.offset}, expected ${next}` };
      next = m.offset + m.length;
    }
    const size = (await stat(file)).size;
    if (next < size) return { ok: false, why: `index ${indexPath} covers ${next} bytes of ${file}'s ${size}` };
    return { ok: true };
  } catch (e) {
    if (e instanceof IndexFormatError) return { ok: false, why: e.message };
    throw e;
  }
}
