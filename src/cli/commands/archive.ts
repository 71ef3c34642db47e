import type { Command } from "commander";
import { requireArchiveDir } from "../../archive/archive-dir.js";
import { archivePaths } from "../../archive/archive-files.js";
import { archiveResults, type ArchiveOutcome } from "../../archive/archive-results.js";
import { formatBytes } from "../../monitor/size.js";
import { durationFlag, withAppFlags } from "../flags.js";
import { requireKnownTier } from "../known-names.js";
import { printJson, type CliIO } from "../io.js";
import type { AppFlags } from "../load-app.js";
import { progressReporter } from "../progress.js";
import { withRetentionStore } from "../retention-store.js";

interface ArchiveFlags extends AppFlags {
  olderThan: string;
  to: string;
  delete?: boolean;
  tier?: string;
  dryRun?: boolean;
  json?: boolean;
}

/**
 * `ebb archive`: exit 0 when the archive is complete (written now, or found complete and its job
 * finished). An archive that does not verify exits 65 with nothing deleted; a --to that names a
 * file Ebb must not overwrite, or one another run is writing, exits 64.
 */
export function archiveCommand(program: Command, io: CliIO, done: (code: number) => void, opts: { stderrIsTTY?: boolean } = {}): void {
  withAppFlags(
    program
      .command("archive")
      .description("archive results to a gzip JSON Lines file (write, fsync, verify), then with --delete remove them"),
  )
    .requiredOption(
      "--older-than <dur>",
      "results done at least this long ago that are allowed to expire (30d, 12h; a bare number is seconds; 0s = all done)",
    )
    .requiredOption("--to <file>", "the archive file (.jsonl.gz); FILE.idx and FILE.manifest.json are written beside it")
    .option("--delete", "remove the archived results once the archive is complete and verified")
    .option("--tier <tier>", 'only results of this tier ("none": results without a tier)')
    .option("--dry-run", "report what would be archived (counts and bytes per tier); write and change nothing")
    .action(async (flags: ArchiveFlags) => {
      const olderThanMs = durationFlag("--older-than", flags.olderThan)!;
      // A dry run must not promise a run that cannot create its file (a real run checks in archiveResults).
      if (flags.dryRun) await requireArchiveDir(archivePaths(flags.to));
      const tier = flags.tier === undefined ? undefined : flags.tier === "none" ? null : flags.tier;
      const progress = progressReporter({
        write: (t) => io.err(t),
        isTTY: opts.stderrIsTTY ?? process.stderr.isTTY === true,
        label: "archive",
      });
      const out = await withRetentionStore(
        flags,
        (store) =>
          archiveResults(store, {
            to: flags.to,
            olderThanMs,
            ...(tier === undefined ? {} : { tier }),
            delete: flags.delete === true,
            dryRun: flags.dryRun === true,
            source: store.url,
            onProgress: (p) =>
              progress.update(
                p.phase === "mark-delete"
                  ? { scanned: p.total ?? 0, matched: p.total ?? 0, deleted: p.done }
                  : { scanned: p.done, matched: p.done, deleted: 0 },
              ),
          }),
        { check: (app) => flags.app !== undefined && flags.tier !== undefined && requireKnownTier(app, "--tier", flags.tier, flags.app) },
      );
      progress.finish({ matched: out.archived, deleted: out.deleted, bytes: out.bytes, dryRun: out.dryRun });
      if (flags.json) printJson(io, json(out));
      else io.out(plain(out));
      done(0);
    });
}

/** The --json contract: {"archived","deleted","file","sha256"}, plus "kept"/"resumed", and on a dry run "dryRun","bytes","byTier". */
function json(o: ArchiveOutcome): Record<string, unknown> {
  const base = { archived: o.archived, deleted: o.deleted, file: o.file, sha256: o.sha256, kept: o.kept, resumed: o.resumed };
  return o.dryRun ? { ...base, dryRun: true, bytes: o.bytes, byTier: o.byTier ?? {} } : base;
}

function plain(o: ArchiveOutcome): string {
  if (o.dryRun && o.resumed)
    return `dry run: ${o.file} is already a complete archive of ${o.archived} results; a run would only remove the ${o.deleted} of them still in the store\n`;
  if (o.dryRun) {
    const lines = [
      `dry run: would archive ${o.archived} results (${formatBytes(o.bytes)})${o.deleted > 0 ? " and then remove them" : ""}; nothing was written or changed`,
    ];
    for (const [tier, t] of Object.entries(o.byTier ?? {})) lines.push(`  ${tier}: ${t.count} (${formatBytes(t.bytes)})`);
    return `${lines.join("\n")}\n`;
  }
  if (o.file === null) return "nothing to archive: no result matched; no file was written\n";
  const head = o.resumed
    ? `${o.file} was already complete (${o.archived} results); finished its job`
    : `archived ${o.archived} results to ${o.file}`;
  const kept = o.kept > 0 ? `; ${o.kept} changed or became held since the scan and stay in the store (and in the archive)` : "";
  return `${head}; removed ${o.deleted} from the store${kept}\nsha256 ${o.sha256}\n`;
}
