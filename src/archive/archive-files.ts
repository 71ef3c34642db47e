import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { open, stat } from "node:fs/promises";
import { basename, dirname, resolve } from "node:path";

/**
 * The files of one archive. FILE, FILE.idx and FILE.manifest.json are the archive; the
 * manifest is renamed into place last, so its presence means "complete and verified". The
 * *.tmp files exist only while a run writes; FILE.lock names the process that does.
 */
export interface ArchivePaths {
  file: string;
  dir: string;
  tmp: string;
  idx: string;
  idxTmp: string;
  manifest: string;
  manifestTmp: string;
  lock: string;
}

export function archivePaths(file: string): ArchivePaths {
  const abs = resolve(file);
  return {
    file: abs,
    dir: dirname(abs),
    tmp: `${abs}.tmp`,
    idx: `${abs}.idx`,
    idxTmp: `${abs}.idx.tmp`,
    manifest: `${abs}.manifest.json`,
    manifestTmp: `${abs}.manifest.json.tmp`,
    lock: `${abs}.lock`,
  };
}

/** For messages and manifests: the name a user gave, not our absolute path. */
export function archiveName(paths: ArchivePaths): string {
  return basename(paths.file);
}

export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw e;
  }
}

/** Write a whole small file and fsync it before returning (the manifest, the lock). */
export async function writeDurably(path: string, data: string | Buffer, flag = "w"): Promise<void> {
  const fh = await open(path, flag);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** A rename is durable only once the directory entry is: fsync the directory after renaming. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** sha256 and size of a file, streamed (bounded memory however large the file). */
export async function hashFile(path: string): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash("sha256");
  let bytes = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: hash.digest("hex"), bytes };
}
