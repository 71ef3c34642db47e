/** What an archive run (or its dry run) did: the CLI's --json shape is built from it. */
export interface ArchiveOutcome {
  /** Results in the archive: written now, or found complete by a rerun. */
  archived: number;
  /** Removed from the store by this run. */
  deleted: number;
  /** Archived but kept in the store: they changed or became held after the scan (remove() re-checks). */
  kept: number;
  /** Bytes the removed results took in the store (on a dry run: the bytes the matched results take). */
  bytes: number;
  /** The archive's path; null when nothing matched and no file was written. */
  file: string | null;
  sha256: string | null;
  dryRun: boolean;
  /** A complete archive was already at FILE (a rerun after a crash): no new archive was written, its job was finished. */
  resumed: boolean;
  /** Dry run only: counts and bytes per tier ("none" = no tier), as cleanup reports them. */
  byTier?: Record<string, { count: number; bytes: number }>;
}
