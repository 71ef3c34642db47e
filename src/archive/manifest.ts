import { readFile } from "node:fs/promises";
import { ArchiveDataError } from "./archive-errors.js";

/**
 * FILE.manifest.json. Its presence beside FILE means "FILE is complete and was verified":
 * it is renamed into place only after FILE and FILE.idx were written, fsynced and re-read.
 * Instants are ISO 8601 UTC; sha256 is of FILE's bytes as they are on disk.
 */
export interface ArchiveManifest {
  version: 1;
  /** FILE's base name: the manifest stays valid when the pair is moved together. */
  file: string;
  count: number;
  sha256: string;
  bytes: number;
  /** The range of date_done the archive covers (null when it has no done results). */
  dateDoneFrom: string | null;
  dateDoneTo: string | null;
  createdAt: string;
  /** Number of gzip members. */
  members: number;
  index: { file: string; sha256: string; bytes: number };
  /** The store the results came from, password redacted. */
  source: string;
  /** What was selected: the flags and the cutoff they gave. */
  selection: Record<string, unknown>;
}

export function encodeManifest(m: ArchiveManifest): string {
  return `${JSON.stringify(m, null, 2)}\n`;
}

/** Read and check a manifest; ArchiveDataError names the file and the problem. */
export async function readManifest(path: string): Promise<ArchiveManifest> {
  const text = await readFile(path, "utf8");
  let m: Partial<ArchiveManifest>;
  try {
    m = JSON.parse(text) as Partial<ArchiveManifest>;
  } catch (e) {
    throw new ArchiveDataError(`Manifest ${path} is not JSON (${(e as Error).message}); the archive beside it cannot be trusted`);
  }
  const bad = (what: string) => new ArchiveDataError(`Manifest ${path} has ${what}; expected an Ebb archive manifest (version 1)`);
  if (m.version !== 1) throw bad(`version ${JSON.stringify(m.version)}`);
  if (!Number.isInteger(m.count) || (m.count as number) < 0) throw bad(`a bad count ${JSON.stringify(m.count)}`);
  if (typeof m.sha256 !== "string" || !/^[0-9a-f]{64}$/.test(m.sha256)) throw bad(`a bad sha256 ${JSON.stringify(m.sha256)}`);
  if (typeof m.index?.sha256 !== "string") throw bad("no index sha256");
  return m as ArchiveManifest;
}
