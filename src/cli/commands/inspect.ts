import type { Command } from "commander";
import type { ScheduledView } from "../../beat/inspect-scheduled.js";
import { formatDuration } from "../../duration.js";
import { formatBytes } from "../../monitor/size.js";
import { UsageError } from "../exit-codes.js";
import { printJson, type CliIO } from "../io.js";
import { loadApp } from "../load-app.js";

interface InspectFlags {
  app?: string;
  json?: boolean;
}

const WHAT = ["scheduled"] as const;

/**
 * `ebb inspect scheduled [--json]`: every beat entry with its next run, last run, the last task's
 * state, and its fired / missed / catch-up counts, plus the last cleanup run. Read from the store,
 * so every process gives the same answer.
 */
export function inspectCommand(program: Command, io: CliIO, done: (code: number) => void): void {
  program
    .command("inspect")
    .description("what beat knows, read from the store: inspect scheduled")
    .argument("<what>", `one of: ${WHAT.join(", ")}`)
    .option("-A, --app <module>", "module that exports the app (as `app` or default)")
    .option("--json", "print one JSON object")
    .action(async (what: string, flags: InspectFlags) => {
      if (!(WHAT as readonly string[]).includes(what))
        throw new UsageError(
          `ebb inspect ${JSON.stringify(what)}: Ebb can inspect ${WHAT.join(", ")} (registered, active and ping need Celery's remote control, which Ebb workers do not answer yet)`,
        );
      if (!flags.app) throw new UsageError("ebb inspect scheduled needs -A MODULE: the schedule is defined in your app");
      const app = await loadApp({ app: flags.app });
      try {
        const view = await app.inspectScheduled();
        if (flags.json) printJson(io, view);
        else io.out(plain(view));
      } finally {
        await app.close();
      }
      done(0);
    });
}

function plain(v: ScheduledView): string {
  const rows = v.entries.map((e) => ({
    entry: e.name,
    task: e.task,
    schedule: `${e.schedule}${e.schedule.startsWith("crontab") ? ` ${e.timezone}` : ""}`,
    "next run": `${e.nextRun ?? "-"}${e.overdue ? " (overdue: is beat running?)" : ""}`,
    "last run": e.lastRun
      ? `${e.lastRun.tick}${e.lastRun.catchUp ? " (catch-up)" : ""}${e.lastRun.sentAt === null ? " (not confirmed sent)" : ""}`
      : "-",
    state: e.lastRun?.state ?? "-",
    fired: String(e.fired),
    missed: String(e.missed),
    "catch-ups": String(e.catchUps),
  }));
  const lines = [`Schedule at ${v.now} (store clock)`, ...table(rows)];
  const c = v.lastCleanup;
  lines.push(
    c
      ? `Last cleanup: ${c.task} at ${c.startedAt}${c.tier ? ` tier ${c.tier}` : ""}${c.olderThanMs !== null ? ` older than ${formatDuration(c.olderThanMs)}` : ""}${c.dryRun ? " (dry run)" : ""}: removed ${c.removed} (${formatBytes(c.bytes)}), archived ${c.archived}${c.archiveFile ? ` to ${c.archiveFile}` : ""}, trimmed ${c.trimmed}, ${c.durationMs} ms, ${c.errors.length === 0 ? "no errors" : `errors: ${c.errors.join("; ")}`}`
      : "Last cleanup: none recorded yet",
  );
  return `${lines.join("\n")}\n`;
}

function table(rows: Record<string, string>[]): string[] {
  if (rows.length === 0) return ["(no entries)"];
  const cols = Object.keys(rows[0]!);
  const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => r[c]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(width[i]!))
      .join("  ")
      .trimEnd();
  return [line(cols), ...rows.map((r) => line(cols.map((c) => r[c]!)))];
}
