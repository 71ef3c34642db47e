import type { Command } from "commander";
import { check, type CheckLimits, type CheckReport } from "../../monitor/check.js";
import { formatBytes, parseSize } from "../../monitor/size.js";
import { stats } from "../../monitor/stats.js";
import { UsageError } from "../exit-codes.js";
import { intFlag, withAppFlags } from "../flags.js";
import { printJson, type CliIO } from "../io.js";
import type { AppFlags } from "../load-app.js";
import { withRetentionStore } from "../retention-store.js";

interface CheckFlags extends AppFlags {
  maxResults?: string;
  maxBytes?: string;
  json?: boolean;
}

/** `ebb check`: a growth alert for cron. Exit 0 within the limits, 1 over one of them. */
export function checkCommand(program: Command, io: CliIO, done: (code: number) => void): void {
  withAppFlags(program.command("check").description("exit 1 when stored results are over a limit (for cron and monitoring)"))
    .option("--max-results <n>", "alert when more results than this are stored")
    .option("--max-bytes <size>", 'alert when results take more than this ("500MB", "2GiB", or bytes)')
    .action(async (flags: CheckFlags) => {
      const limits: CheckLimits = {};
      if (flags.maxResults !== undefined) limits.maxResults = intFlag("--max-results", flags.maxResults, 0);
      if (flags.maxBytes !== undefined) limits.maxBytes = sizeFlag("--max-bytes", flags.maxBytes);
      if (limits.maxResults === undefined && limits.maxBytes === undefined)
        throw new UsageError("Give --max-results N and/or --max-bytes SIZE: without a limit there is nothing to check");
      const report = check(await withRetentionStore(flags, (store) => stats(store)), limits);
      if (flags.json) printJson(io, report);
      else io.out(plain(report));
      done(report.ok ? 0 : 1);
    });
}

function sizeFlag(flag: string, value: string): number {
  try {
    return parseSize(value, flag);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

function plain(r: CheckReport): string {
  const show = (limit: string, n: number) => (limit === "maxBytes" ? formatBytes(n) : String(n));
  if (r.ok) {
    const limits = [
      r.limits.maxResults === null ? null : `max results ${r.limits.maxResults}`,
      r.limits.maxBytes === null ? null : `max bytes ${formatBytes(r.limits.maxBytes)}`,
    ].filter(Boolean);
    return `ok: ${r.total} results, ${formatBytes(r.bytes)} (within ${limits.join(", ")})\n`;
  }
  return r.over
    .map(
      (o) =>
        `over: ${o.limit === "maxResults" ? "results" : "bytes"} ${show(o.limit, o.value)} > ${o.limit === "maxResults" ? "--max-results" : "--max-bytes"} ${show(o.limit, o.max)}, over by ${show(o.limit, o.by)}\n`,
    )
    .join("");
}
