import { readFile, rename, rm } from "node:fs/promises";
import { ArchiveConflictError } from "./archive-errors.js";
import { exists, fsyncDir, hashFile, writeDurably, type ArchivePaths } from "./archive-files.js";
import { encodeManifest, readManifest, type ArchiveManifest } from "./manifest.js";

/**
 * Putting a verified archive in place, and what a rerun finds after a crash.
 *
 * publish() order: the manifest is written to FILE.manifest.json.tmp and fsynced; FILE.idx.tmp
 * and FILE.tmp are renamed into place; the directory is fsynced; only then is the manifest
 * renamed into place (and the directory fsynced again). So FILE.manifest.json exists only when
 * FILE and FILE.idx are complete, verified and durable. Nothing is deleted from the store
 * before that, so until then every result is still in the store.
 */
export async function publishArchive(paths: ArchivePaths, manifest: ArchiveManifest): Promise<void> {
  await writeDurably(paths.manifestTmp, encodeManifest(manifest), "wx");
  await rename(paths.idxTmp, paths.idx);
  await rename(paths.tmp, paths.file);
  await fsyncDir(paths.dir);
  await rename(paths.manifestTmp, paths.manifest);
  await fsyncDir(paths.dir);
}

/**
 * Make sense of what a previous run left (call it holding FILE.lock). Returns the manifest when
 * a complete archive is in place, so the caller finishes its job; null when FILE is free and
 * no leftovers remain, so the caller writes a new archive.
 *  - FILE.manifest.json present: complete; any tmp files are strays and go.
 *  - FILE.manifest.json.tmp whole: the crash came during publish(); the data were verified, so
 *    finish the renames, and publish the manifest if FILE and FILE.idx still hash to it.
 *  - otherwise: FILE.tmp and FILE.idx.tmp are an unfinished write: discard them (all their
 *    results are still in the store) and start over.
 * FILE present without any manifest is not ours to touch: ArchiveConflictError.
 */
export async function settleLeftovers(paths: ArchivePaths): Promise<ArchiveManifest | null> {
  const removeTmp = () => Promise.all([paths.tmp, paths.idxTmp, paths.manifestTmp].map((p) => rm(p, { force: true })));
  if (await exists(paths.manifest)) {
    await removeTmp();
    return readManifest(paths.manifest);
  }
  const staged = await readStaged(paths.manifestTmp);
  if (staged) {
    if (await exists(paths.idxTmp)) await rename(paths.idxTmp, paths.idx);
    if (await exists(paths.tmp)) await rename(paths.tmp, paths.file);
    await fsyncDir(paths.dir);
    if (await matches(paths, staged)) {
      await rename(paths.manifestTmp, paths.manifest);
      await fsyncDir(paths.dir);
      return staged;
    }
    // They were renamed from our own tmp files but do not hash to the manifest: unverified, so they go.
    await Promise.all([rm(paths.file, { force: true }), rm(paths.idx, { force: true })]);
  } else if ((await exists(paths.file)) || (await exists(paths.idx))) {
    throw new ArchiveConflictError(
      `${paths.file} exists without a manifest (${paths.manifest}): it is not a complete Ebb archive, and Ebb never overwrites it; move it away or choose another --to`,
    );
  }
  await removeTmp();
  return null;
}

/** A staged manifest cut short by a crash (it is fsynced before any rename) reads as none. */
async function readStaged(path: string): Promise<ArchiveManifest | null> {
  try {
    JSON.parse(await readFile(path, "utf8"));
    return await readManifest(path);
  } catch {
    return null;
  }
}

async function matches(paths: ArchivePaths, m: ArchiveManifest): Promise<boolean> {
  if (!(await exists(paths.file)) || !(await exists(paths.idx))) return false;
  const [data, idx] = await Promise.all([hashFile(paths.file), hashFile(paths.idx)]);
  return data.sha256 === m.sha256 && data.bytes === m.bytes && idx.sha256 === m.index.sha256;
}
