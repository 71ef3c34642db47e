import { mkdir, readdir } from "node:fs/promises";
import { join } from "node:path";
import { archiveResults, type ArchiveOutcome } from "../archive/archive-results.js";
import type { RetentionStore } from "../backends/retention-store.js";
import { cleanup, type CleanupReport } from "./cleanup.js";
import type { RetentionObserver } from "./retention-observer.js";

export interface BackendCleanupOptions {
  /** Where the archives of archive-tier results go, one file per run. Created if missing. */
  archiveDir: string;
  /** The tick's instant (beat passes it); default the store's clock. Also names the archive file. */
  now?: number;
  /** The store's URL for the archive's manifest (redacted there). */
  source?: string;
  batchSize?: number;
  /** Only this tier; null = results without a tier. Default: every tier. */
  tier?: string | null;
  /** Also results done at least this long ago that may expire (as `ebb cleanup --older-than`). */
  olderThanMs?: number;
  /** Count what would be archived and removed; change nothing. */
  dryRun?: boolean;
  /** Told what is removed and why (metrics); optional. */
  observer?: RetentionObserver;
}

export interface BackendCleanupSummary {
  /** The previous run's archive, finished again in case that run was cut short (null when there is none). */
  previous: Pick<ArchiveOutcome, "archived" | "deleted" | "kept" | "file" | "resumed"> | null;
  /** The archive step; file is null when no archive-tier result had expired. */
  archive: Pick<ArchiveOutcome, "archived" | "deleted" | "kept" | "file" | "sha256">;
  /** The cleanup step (expired delete-tier results, and archived archive-tier ones). */
  cleanup: Pick<CleanupReport, "matched" | "deleted" | "bytes" | "byTier">;
  /** Store bookkeeping dropped once its grace window was over (Redis: expiry-index entries). */
  trimmed: number;
  dryRun: boolean;
}

/**
 * The body of the built-in `celery.backend_cleanup` task. Celery's deletes expired rows and
 * nothing more; Ebb's first archives the expired archive-tier results that are not archived
 * yet (so cleanup may never drop them unarchived) into a fresh file, removing them once the
 * archive is complete and verified, and then runs cleanup for everything else that expired.
 *
 * Each run names a new file, so a run cut short is finished by the next one: it first reruns
 * archiveResults on the newest archive in archiveDir (settling its tmp files, or marking and
 * removing what is left of a complete one). Runs are sequential (beat claims each tick), so
 * only the newest can be unfinished, and no result lands in two archives.
 */
export async function backendCleanup(store: RetentionStore, opts: BackendCleanupOptions): Promise<BackendCleanupSummary> {
  const now = opts.now ?? (await store.now());
  const dryRun = opts.dryRun === true;
  const scope = {
    ...(opts.tier !== undefined ? { tier: opts.tier } : {}),
    ...(opts.batchSize !== undefined ? { batchSize: opts.batchSize } : {}),
    ...(opts.observer ? { observer: opts.observer } : {}),
  };
  if (!dryRun) await mkdir(opts.archiveDir, { recursive: true });
  const run = (name: string) =>
    archiveResults(store, {
      to: join(opts.archiveDir, name),
      // Without an age, what has expired; with one (ebb.cleanup's olderThan), what is that old and may expire.
      olderThanMs: opts.olderThanMs ?? 0,
      only: { action: "archive", ...(opts.olderThanMs === undefined ? { expired: true } : {}) },
      delete: true,
      dryRun,
      now,
      source: opts.source ?? "",
      ...scope,
    });
  const last = dryRun ? null : await newestArchive(opts.archiveDir);
  const previous = last === null ? null : await run(last);
  const archived = await run(`ebb-archive-${fileStamp(now)}.jsonl.gz`);
  const cleaned = await cleanup(store, { ...scope, dryRun, ...(opts.olderThanMs !== undefined ? { olderThanMs: opts.olderThanMs } : {}) });
  const trimmed = dryRun || typeof store.housekeep !== "function" ? 0 : await store.housekeep();
  return {
    previous: previous && {
      archived: previous.archived,
      deleted: previous.deleted,
      kept: previous.kept,
      file: previous.file,
      resumed: previous.resumed,
    },
    archive: { archived: archived.archived, deleted: archived.deleted, kept: archived.kept, file: archived.file, sha256: archived.sha256 },
    cleanup: { matched: cleaned.matched, deleted: cleaned.deleted, bytes: cleaned.bytes, byTier: cleaned.byTier },
    trimmed,
    dryRun,
  };
}

/** 20260101T040000.123Z: sortable, UTC, and free of ':' so the name is valid on every filesystem. */
function fileStamp(ms: number): string {
  return new Date(Math.floor(ms))
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.(\d{3})Z$/, ".$1Z");
}

/** The newest archive name in dir, complete or left part-written (its .tmp files). */
async function newestArchive(dir: string): Promise<string | null> {
  const names = (await readdir(dir))
    .map((n) => /^(ebb-archive-[0-9T.Z]+\.jsonl\.gz)(\..*)?$/.exec(n)?.[1])
    .filter((n): n is string => n !== undefined);
  return names.sort().at(-1) ?? null;
}
