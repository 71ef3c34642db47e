import type { Command } from "commander";
import { cleanup, type CleanupReport } from "../../retention/cleanup.js";
import { formatBytes } from "../../monitor/size.js";
import { UsageError } from "../exit-codes.js";
import { durationFlag, withAppFlags } from "../flags.js";
import { requireKnownTier } from "../known-names.js";
import { printJson, type CliIO } from "../io.js";
import type { AppFlags } from "../load-app.js";
import { progressReporter } from "../progress.js";
import { withRetentionStore } from "../retention-store.js";

interface CleanupFlags extends AppFlags {
  olderThan?: string;
  days?: string;
  tier?: string;
  dryRun?: boolean;
  includePermanent?: boolean;
  json?: boolean;
}

/** `ebb cleanup`: exit 0 whatever it removed; bad flags exit 64 before the store is touched. */
export function cleanupCommand(program: Command, io: CliIO, done: (code: number) => void, opts: { stderrIsTTY?: boolean } = {}): void {
  withAppFlags(
    program.command("cleanup").description("remove expired results (and, with --older-than/--days, older results allowed to expire)"),
  )
    .option(
      "--older-than <dur>",
      "also remove results done at least this long ago that are allowed to expire (7d, 12h; a bare number is seconds)",
    )
    .option("--days <n>", "the same as --older-than <n>d (Celery's flag)")
    .option("--tier <tier>", 'only results of this tier ("none": results without a tier)')
    .option("--dry-run", "report what would be removed (counts and bytes per tier); change nothing")
    .option("--include-permanent", "with --older-than/--days, also remove old results that never expire")
    .action(async (flags: CleanupFlags) => {
      const olderThanMs = olderThan(flags);
      if (flags.includePermanent && olderThanMs === undefined)
        throw new UsageError(
          "--include-permanent needs --older-than or --days: permanent results never expire, so only their age can select them",
        );
      const tier = flags.tier === undefined ? undefined : flags.tier === "none" ? null : flags.tier;
      const progress = progressReporter({
        write: (t) => io.err(t),
        isTTY: opts.stderrIsTTY ?? process.stderr.isTTY === true,
        label: "cleanup",
      });
      const report = await withRetentionStore(
        flags,
        (store) =>
          cleanup(store, {
            ...(olderThanMs === undefined ? {} : { olderThanMs }),
            ...(tier === undefined ? {} : { tier }),
            includePermanent: flags.includePermanent === true,
            dryRun: flags.dryRun === true,
            onProgress: (p) => progress.update(p),
          }),
        { check: (app) => flags.app !== undefined && flags.tier !== undefined && requireKnownTier(app, "--tier", flags.tier, flags.app) },
      );
      progress.finish(report);
      if (flags.json)
        printJson(io, {
          matched: report.matched,
          deleted: report.deleted,
          bytes: report.bytes,
          byTier: report.byTier,
          dryRun: report.dryRun,
        });
      else io.out(plain(report));
      done(0);
    });
}

function olderThan(flags: CleanupFlags): number | undefined {
  if (flags.olderThan !== undefined && flags.days !== undefined) throw new UsageError("Give --older-than or --days, not both");
  if (flags.olderThan !== undefined) return durationFlag("--older-than", flags.olderThan)!;
  if (flags.days !== undefined) {
    if (!/^\d+$/.test(flags.days.trim()))
      throw new UsageError(
        `Expected --days to be a whole number of days >= 0, got ${JSON.stringify(flags.days)}; for parts of a day use --older-than (e.g. 36h)`,
      );
    // The same limits as every duration (what a date can hold), and an error that names --days.
    return durationFlag("--days", `${flags.days.trim()}d`)!;
  }
  return undefined;
}

function plain(r: CleanupReport): string {
  const lines = [
    r.dryRun
      ? `dry run: would remove ${results(r.matched)} (${formatBytes(r.bytes)}); nothing was changed`
      : `removed ${r.deleted} of ${results(r.matched)} matched (${formatBytes(r.bytes)} freed)`,
  ];
  for (const [tier, t] of Object.entries(r.byTier)) lines.push(`  ${tier}: ${r.dryRun ? t.matched : t.deleted} (${formatBytes(t.bytes)})`);
  const k = r.kept;
  const kept = [`${k["keep:held"]} held`, `${k["keep:needs-archive"]} awaiting archive`, `${k["keep:permanent"]} permanent`];
  if (k["keep:changed"] > 0) kept.push(`${k["keep:changed"]} changed during cleanup`);
  lines.push(`kept (expired or old): ${kept.join(", ")}`);
  return `${lines.join("\n")}\n`;
}

function results(n: number): string {
  return `${n} result${n === 1 ? "" : "s"}`;
}
