import type { Command } from "commander";
import type { StoreFacts } from "../../backends/retention-store.js";
import { formatBytes } from "../../monitor/size.js";
import { stats, type StatsReport } from "../../monitor/stats.js";
import { withAppFlags } from "../flags.js";
import { printJson, type CliIO } from "../io.js";
import type { AppFlags } from "../load-app.js";
import { withRetentionStore } from "../retention-store.js";

interface StatsFlags extends AppFlags {
  json?: boolean;
}

/** `ebb stats`: counts and sizes from one census of the store (see monitor/census.ts); exit 0. */
export function statsCommand(program: Command, io: CliIO, done: (code: number) => void): void {
  withAppFlags(program.command("stats").description("counts and sizes of stored results")).action(async (flags: StatsFlags) => {
    const report = await withRetentionStore(flags, (store, app) => stats(store, { graceMs: app.config.expiredGraceMs }));
    if (flags.json) printJson(io, report);
    else io.out(plain(report));
    done(0);
  });
}

function counts(record: Record<string, number>): string {
  const parts = Object.entries(record)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${k} ${n}`);
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
    ...storeLines(r.store),
    "",
  ].join("\n");
}

/** What the store adds (see StoreFacts): the same facts --json prints under "store", in words. */
function storeLines(f: StoreFacts): string[] {
  const lines: string[] = [];
  if (f.fileBytes !== undefined && f.file)
    lines.push(`file: ${f.file} (${formatBytes(f.fileBytes)}${f.walBytes ? `, WAL ${formatBytes(f.walBytes)}` : ""})`);
  if (f.usedMemory !== undefined) {
    const limit =
      f.maxmemory === null || f.maxmemory === undefined
        ? "limit unknown"
        : f.maxmemory === 0
          ? "no maxmemory"
          : `maxmemory ${formatBytes(f.maxmemory)}`;
    lines.push(
      `used memory: ${f.usedMemory === null ? "unknown" : formatBytes(f.usedMemory)} (${limit}, maxmemory-policy ${f.maxmemoryPolicy ?? "unknown"})`,
    );
  }
  if (f.resultKeysWithoutTtl !== undefined) {
    lines.push(
      `keys without TTL: ${f.resultKeysWithoutTtl} of ${f.resultKeys ?? "?"} result keys (permanent, archive-pending or held: no TTL removes them)`,
    );
  }
  if (f.tableBytes !== undefined)
    lines.push(
      `results table: ${formatBytes(f.tableBytes)} in ${f.partitions ?? "?"} partitions, ${f.deadTuples ?? "?"} dead rows not yet vacuumed`,
    );
  if (f.unreadableValues) lines.push(`unreadable values skipped: ${f.unreadableValues}`);
  if (f.warning) lines.push(`warning: ${f.warning}`);
  return lines;
}
