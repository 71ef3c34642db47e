import type { RetentionStore } from "../backends/retention-store.js";
import type { RetentionAction } from "../backends/result-backend.js";
import { toCeleryAware } from "../protocol/timestamps.js";
import { redactUrl } from "../url.js";
import { requireArchiveDir } from "./archive-dir.js";
import { archiveName, archivePaths, type ArchivePaths } from "./archive-files.js";
import { toArchiveLine } from "./archive-line.js";
import { takeArchiveLock } from "./archive-lock.js";
import { publishArchive, settleLeftovers } from "./archive-publish.js";
import { describeSelection, scanQuery, selects, type Selection } from "./archive-selection.js";
import { ArchiveWriter } from "./archive-writer.js";
import { dryRunArchive } from "./dry-run.js";
import { finishArchive } from "./finish-archive.js";
import type { ArchiveManifest } from "./manifest.js";
import type { ArchiveOutcome } from "./archive-outcome.js";
import { verifyArchive } from "./verify-archive.js";
import type { RetentionObserver } from "../retention/retention-observer.js";

// dry-run.ts returns the same outcome; it lives in its own file so neither imports the other.
export type { ArchiveOutcome } from "./archive-outcome.js";

export type ArchivePhase = "scan" | "verify" | "mark-delete";

export interface ArchiveProgress {
  phase: ArchivePhase;
  done: number;
  /** null while scanning: the number of matches is not known before the scan ends. */
  total: number | null;
}

export interface ArchiveOptions {
  /** The archive file (FILE); FILE.idx and FILE.manifest.json are written beside it. */
  to: string;
  /** Results done at least this long ago (by the store's clock). 0 = all done results. */
  olderThanMs: number;
  /** Only this tier; null = results without a tier. */
  tier?: string | null;
  /** Only results with this action, expired by now (the built-in backend_cleanup task). */
  only?: { action?: RetentionAction; expired?: boolean };
  /** Remove the archived results once the archive is complete and verified. */
  delete?: boolean;
  /** Count what would be archived (and bytes, per tier); write and change nothing. */
  dryRun?: boolean;
  /** Results per scan, mark and remove batch. Default 1000. */
  batchSize?: number;
  /** The store's URL for the manifest (redacted). */
  source: string;
  /** Instead of the store's clock (tests; backend_cleanup passes its own tick). */
  now?: number;
  onProgress?: (p: ArchiveProgress) => void;
  /** Told what --delete removed (reason "archived"), for metrics; optional. */
  observer?: RetentionObserver;
}

/**
 * Archive results, then (with `delete`) remove them, so that a crash at any moment leaves every
 * result in the store or in a complete, verified archive, and a rerun finishes the job:
 * write FILE.tmp + FILE.idx.tmp (streamed, fsynced) → verify by re-reading them completely →
 * publish (manifest last) → mark archived and remove in batches. See archive-publish.ts for
 * what a rerun finds. A complete archive is never overwritten nor written twice.
 */
export async function archiveResults(store: RetentionStore, opts: ArchiveOptions): Promise<ArchiveOutcome> {
  const paths = archivePaths(opts.to);
  const now = opts.now ?? (await store.now());
  const selection: Selection = { cutoff: now - opts.olderThanMs };
  if (opts.tier !== undefined) selection.tier = opts.tier;
  if (opts.only?.action !== undefined) selection.action = opts.only.action;
  if (opts.only?.expired) selection.expiresBy = now;
  const batchSize = opts.batchSize ?? 1000;
  if (opts.dryRun) return dryRunArchive(store, paths, selection, { batchSize, delete: opts.delete ?? false });

  await requireArchiveDir(paths);
  const release = await takeArchiveLock(paths.lock);
  try {
    const done = (m: ArchiveManifest, resumed: boolean, f: { deleted: number; kept: number; bytes: number }): ArchiveOutcome => ({
      archived: m.count,
      ...f,
      file: paths.file,
      sha256: m.sha256,
      dryRun: false,
      resumed,
    });
    const existing = await settleLeftovers(paths);
    const finish = (m: ArchiveManifest, verified: boolean) =>
      finishArchive(store, paths, m, {
        delete: opts.delete ?? false,
        batchSize,
        verified,
        ...(opts.observer ? { observer: opts.observer } : {}),
        onProgress: (d, t) => opts.onProgress?.({ phase: "mark-delete", done: d, total: t }),
      });
    if (existing) return done(existing, true, await finish(existing, false));
    const manifest = await writeVerified(store, paths, selection, now, batchSize, opts);
    if (!manifest) return { archived: 0, deleted: 0, kept: 0, bytes: 0, file: null, sha256: null, dryRun: false, resumed: false };
    return done(manifest, false, await finish(manifest, true));
  } finally {
    await release();
  }
}

/** Scan → FILE.tmp → verify → publish. Null when nothing matched (no file is left behind). */
async function writeVerified(
  store: RetentionStore,
  paths: ArchivePaths,
  selection: Selection,
  now: number,
  batchSize: number,
  opts: ArchiveOptions,
): Promise<ArchiveManifest | null> {
  const writer = await ArchiveWriter.create(paths.tmp, paths.idxTmp);
  const archivedAt = toCeleryAware(now);
  try {
    for await (const batch of store.scan(scanQuery(selection, batchSize))) {
      const taken = batch.filter((r) => selects(r, selection));
      await writer.add(
        taken.map((r) => toArchiveLine(r, archivedAt)),
        taken.map((r) => r.dateDone),
      );
      opts.onProgress?.({ phase: "scan", done: writer.lines, total: null });
    }
    if (writer.lines === 0) {
      await writer.discard();
      return null;
    }
    const written = await writer.finish();
    opts.onProgress?.({ phase: "verify", done: 0, total: written.count });
    await verifyArchive(paths.tmp, paths.idxTmp, written, (d) => opts.onProgress?.({ phase: "verify", done: d, total: written.count }));
    const manifest: ArchiveManifest = {
      version: 1,
      file: archiveName(paths),
      count: written.count,
      sha256: written.sha256,
      bytes: written.bytes,
      dateDoneFrom: written.dateDoneFrom === null ? null : toCeleryAware(written.dateDoneFrom),
      dateDoneTo: written.dateDoneTo === null ? null : toCeleryAware(written.dateDoneTo),
      createdAt: toCeleryAware(now),
      members: written.members,
      index: { file: `${archiveName(paths)}.idx`, ...written.index },
      source: redactUrl(opts.source),
      selection: describeSelection(selection, { olderThanMs: opts.olderThanMs, delete: opts.delete ?? false }),
    };
    await publishArchive(paths, manifest);
    return manifest;
  } catch (e) {
    // Not yet published: the results are all in the store, so the partial files only mislead.
    await writer.discard();
    throw e;
  }
}
