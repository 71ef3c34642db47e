import type { Command } from "commander";
import { formatBytes } from "../../monitor/size.js";
import { stats, type StatsReport } from "../../monitor/stats.js";
import { withAppFlags } from "../flags.js";
import { printJson, type CliIO } from "../io.js";
import type { AppFlags } from "../load-app.js";
import { withRetentionStore } from "../retention-store.js";

interface StatsFlags extends AppFlags {
  json?: boolean;
}

/** `ebb stats`: counts and sizes from one streaming scan; exit 0. */
export function statsCommand(program: Command, io: CliIO, done: (code: number) => void): void {
  withAppFlags(program.command("stats").description("counts and sizes of stored results"))
    .action(async (flags: StatsFlags) => {
      const report = await withRetentionStore(flags, (store, app) => stats(store, { graceMs: app.config.expiredGraceMs }));
      if (flags.json) printJson(io, report);
      else io.out(plain(report));
      done(0);
    });
}

function counts(record: Record<string, number>): string {
  const parts = Object.entries(record).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`);
  return parts.length === 0 ? "-" : parts.join(", ");
}

function plain(r: StatsReport): string {
  return [
    `results: ${r.total} (${formatBytes(r.bytes)})`,
    `by state: ${counts(r.byState)}`,
    `by tier: ${counts(r.byTier)}`,
    `expired, not yet cleaned: ${r.expiredPending}${r.expiredOverGrace ? ` (${r.expiredOverGrace} past the grace window: is cleanup running?)` : ""}`,
    `held: ${r.held} · permanent: ${r.permanent}`,
    `oldest: ${r.oldestDateDone ?? "-"} · next expiry: ${r.nextExpiry ?? "-"}`,
    "",
  ].join("\n");
}
