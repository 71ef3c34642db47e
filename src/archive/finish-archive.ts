import type { ArchiveLocation, ResultRecord, RetentionStore } from "../backends/retention-store.js";
import { parseCeleryTime } from "../protocol/timestamps.js";
import { ArchiveDataError } from "./archive-errors.js";
import { hashFile, type ArchivePaths } from "./archive-files.js";
import { lineToRecord } from "./archive-line.js";
import { readArchive } from "./archive-reader.js";
import type { ArchiveManifest } from "./manifest.js";
import { reportRemoved, type RetentionObserver } from "../retention/retention-observer.js";

export interface FinishOptions {
  delete: boolean;
  batchSize: number;
  /** True when this process has just verified the archive completely; otherwise its sha256 is checked first. */
  verified: boolean;
  onProgress?: (done: number, total: number) => void;
  /** Told what each batch removed (reason "archived"), for metrics; optional. */
  observer?: RetentionObserver;
}

export interface FinishOutcome {
  deleted: number;
  /** Bytes the removed results took in the store. */
  bytes: number;
  /** In the archive and still in the store because they changed or became held since the scan. */
  kept: number;
}

/**
 * The part of an archive run that touches the store, done only once a complete, verified
 * archive is in place, and redone in full by a rerun after a crash (every step is idempotent):
 * stream the archive's entries in batches; mark them archived; with `delete`, remove them.
 * remove() re-checks each result in the store against the archived line (status, dateDone)
 * and keeps any that changed or became held: those stay in the store and are counted as kept.
 * Ids already gone (removed by an earlier, interrupted run) are not found again and count as
 * neither deleted nor kept.
 */
export async function finishArchive(
  store: RetentionStore,
  paths: ArchivePaths,
  manifest: ArchiveManifest,
  opts: FinishOptions,
): Promise<FinishOutcome> {
  opts.onProgress?.(0, manifest.count);
  let indexPath: string | null = paths.idx;
  if (!opts.verified) {
    const [data, idx] = await Promise.all([hashFile(paths.file), hashFile(paths.idx).catch(() => null)]);
    if (data.sha256 !== manifest.sha256 || data.bytes !== manifest.bytes) {
      throw new ArchiveDataError(
        `${paths.file} does not match its manifest (sha256 ${data.sha256}, expected ${manifest.sha256}); nothing was deleted: restore the archive from a copy, or move it and its manifest away`,
      );
    }
    // A damaged index does not make the archive wrong: read the whole file instead.
    if (idx?.sha256 !== manifest.index.sha256) indexPath = null;
  }
  let batch: ResultRecord[] = [];
  let done = 0;
  const outcome: FinishOutcome = { deleted: 0, bytes: 0, kept: 0 };
  // The removed results' tombstones say where they went, so their ids read "archived to FILE".
  const archive: ArchiveLocation = { file: paths.file, at: await archivedAt(manifest, store) };
  const flush = async () => {
    if (batch.length === 0) return;
    await store.markArchived(batch.map((r) => r.taskId));
    if (opts.delete) {
      const out = await store.remove(batch, { remember: true, archive });
      reportRemoved(opts.observer, batch, out.removed, archive.at, () => "archived");
      outcome.deleted += out.removed.length;
      outcome.bytes += out.bytes;
      // remove() also lists ids it did not find; only those still in the store were kept.
      const still = await Promise.all(out.kept.map((id) => store.read(id)));
      outcome.kept += still.filter((r) => r !== null).length;
    }
    done += batch.length;
    batch = [];
    opts.onProgress?.(done, manifest.count);
  };
  for await (const item of readArchive(paths.file, { indexPath })) {
    // The bytes matched a verified archive's sha256; a bad line now means the disk is failing.
    if (item.kind === "error")
      throw new ArchiveDataError(`${paths.file} line ${item.lineNo}: ${item.message}; stopped before deleting more`);
    batch.push(lineToRecord(item));
    if (batch.length >= opts.batchSize) await flush();
  }
  await flush();
  return outcome;
}

/**
 * When the archive was made, for tombstones: the manifest's createdAt, or the store's now when
 * it is missing or unreadable. It is a label, not part of what was verified (the data's sha256
 * is), so a damaged createdAt must not stop a rerun from finishing the archive.
 */
async function archivedAt(manifest: ArchiveManifest, store: RetentionStore): Promise<number> {
  try {
    return parseCeleryTime(String(manifest.createdAt), "manifest createdAt");
  } catch {
    return store.now();
  }
}
