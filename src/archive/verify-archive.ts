import { open } from "node:fs/promises";
import { ArchiveDataError } from "./archive-errors.js";
import { hashFile } from "./archive-files.js";
import { hashTaskId, readIndex } from "./archive-index.js";
import { readMember } from "./archive-reader.js";
import type { WrittenArchive } from "./archive-writer.js";

/**
 * Re-read a freshly written archive from disk, completely, before anything may be deleted on
 * its account: the bytes hash to what the writer hashed; every member decompresses on its own
 * and holds exactly the lines the index says, each a valid line, with the ids the index lists;
 * and the totals match. Any difference throws ArchiveDataError.
 */
export async function verifyArchive(
  file: string,
  indexPath: string,
  expected: WrittenArchive,
  onProgress?: (lines: number) => void,
): Promise<void> {
  const fail = (what: string) =>
    new ArchiveDataError(`Verifying ${file} failed: ${what}; nothing was deleted, the results are all still in the store`);
  const [data, idx] = await Promise.all([hashFile(file), hashFile(indexPath)]);
  if (data.bytes !== expected.bytes || data.sha256 !== expected.sha256)
    throw fail(`on disk it has ${data.bytes} bytes with sha256 ${data.sha256}, written were ${expected.bytes} with ${expected.sha256}`);
  if (idx.bytes !== expected.index.bytes || idx.sha256 !== expected.index.sha256)
    throw fail(`its index ${indexPath} differs from what was written`);
  const fh = await open(file, "r");
  let lines = 0;
  let members = 0;
  let next = 0;
  try {
    for await (const m of readIndex(indexPath)) {
      if (m.offset !== next) throw fail(`member ${m.no} starts at byte ${m.offset}, expected ${next}`);
      next = m.offset + m.length;
      const ids = new Uint32Array(m.lineCount);
      let i = 0;
      for (const item of await readMember(fh, m)) {
        if (item.kind === "error") throw fail(`line ${item.lineNo} (member ${m.no}): ${item.message}`);
        ids[i++] = hashTaskId(item.line.task_id);
      }
      if (i !== m.lineCount) throw fail(`member ${m.no} holds ${i} lines, its index says ${m.lineCount}`);
      ids.sort();
      for (let k = 0; k < ids.length; k++) if (ids[k] !== m.hashes[k]) throw fail(`member ${m.no}'s task ids do not match its index`);
      lines += m.lineCount;
      members += 1;
      onProgress?.(lines);
    }
  } finally {
    await fh.close();
  }
  if (next !== expected.bytes) throw fail(`its members cover ${next} of ${expected.bytes} bytes`);
  if (lines !== expected.count || members !== expected.members)
    throw fail(`it holds ${lines} lines in ${members} members, ${expected.count} in ${expected.members} were written`);
}
