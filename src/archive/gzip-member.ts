import { promisify } from "node:util";
import { constants, createGunzip, gunzip, gzip } from "node:zlib";

/**
 * An archive is a series of independent gzip members, one per group of lines. Concatenated
 * members are still one valid .gz file (RFC 1952 §2.2; `zcat` reads them all), and each member
 * can be decompressed alone, which is what lets restore --task-id skip the rest of the file.
 */

/** At most this many lines per member: small enough that finding one id decompresses little. */
export const MEMBER_MAX_LINES = 1000;
/** ...and about this many uncompressed bytes, so a few huge results do not make a huge member. */
export const MEMBER_MAX_BYTES = 4 * 1024 * 1024;

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

/** Compress one member off the main thread (zlib's thread pool), so scanning goes on meanwhile. */
export function gzipMember(text: Buffer): Promise<Buffer> {
  return gzipAsync(text);
}

export interface Inflated {
  text: Buffer;
  /** Why the member could not be fully decompressed (bad data, truncated); `text` is what came out before. */
  error: string | null;
}

/**
 * Decompress one member, keeping whatever comes out before an error: a truncated or damaged
 * member still gives back the lines before the damage (deflate output before a bad byte is
 * exact; lines that come out garbled after it fail to parse and are reported).
 */
export async function inflateMember(data: Buffer): Promise<Inflated> {
  try {
    return { text: await gunzipAsync(data), error: null };
  } catch {
    return salvage(data);
  }
}

/** The slow way, for a member that failed: a stream gives up its output chunk by chunk, up to the damage. */
function salvage(data: Buffer): Promise<Inflated> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    // SYNC_FLUSH: at the end of a truncated member, emit what was decoded rather than nothing.
    const gunzip = createGunzip({ finishFlush: constants.Z_SYNC_FLUSH });
    let settled = false;
    const settle = (error: string | null) => {
      if (settled) return;
      settled = true;
      resolve({ text: Buffer.concat(chunks), error });
    };
    gunzip.on("data", (c: Buffer) => chunks.push(c));
    gunzip.on("error", (e) => settle(e.message));
    gunzip.on("end", () => settle(null));
    gunzip.end(data);
  });
}

/**
 * Split decompressed text into lines. A last piece with no newline is a line cut short: the
 * writer ends every line with "\n", so it is reported as truncated rather than parsed.
 */
export function splitLines(text: Buffer): { lines: string[]; cutShort: string | null } {
  const s = text.toString("utf8");
  const lines = s.split("\n");
  const last = lines.pop()!;
  return { lines, cutShort: last.length > 0 ? last : null };
}
