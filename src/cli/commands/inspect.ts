import type { Command } from "commander";
import type { ScheduledView } from "../../beat/inspect-scheduled.js";
import { formatDuration } from "../../duration.js";
import { formatBytes } from "../../monitor/size.js";
import type { NodeReplies } from "../../control/control-client.js";
import { INSPECT_COMMANDS } from "../../control/panel.js";
import { EX, UsageError } from "../exit-codes.js";
import { durationFlag, withAppFlags } from "../flags.js";
import { printJson, type CliIO } from "../io.js";
import { loadApp, type AppFlags } from "../load-app.js";

interface InspectFlags extends AppFlags {
  json?: boolean;
  timeout?: string;
  destination?: string;
}

/** What the workers answer (Celery's remote control), then beat's view read from the store. */
const WHAT = [...INSPECT_COMMANDS, "beat"] as const;

/**
 * `ebb inspect ping|active|reserved|scheduled|registered|stats|revoked|active_queues|conf` and
 * `ebb inspect query_task ID...`: asks every
 * worker, Ebb or Python, through Celery's remote control on the broker, and prints {node: reply}
 * as `celery inspect --json` does; exit 69 when no worker replied in time. `scheduled` is
 * Celery's meaning: ETA messages the workers hold. `ebb inspect beat -A MODULE` prints beat's
 * schedule from the store (every entry with its next run, last run, the last task's state and
 * its counters, plus the last cleanup run), so every process gives the same answer.
 */
export function inspectCommand(program: Command, io: CliIO, done: (code: number) => void): void {
  withAppFlags(
    program
      .command("inspect")
      .description("what the workers know (Celery's remote control; Python workers too), or beat's schedule: inspect beat")
      .argument("<what>", `one of: ${WHAT.join(", ")}`)
      .argument("[ids...]", "task ids, for query_task"),
  )
    .option("--timeout <dur>", "how long to wait for replies (a bare number is seconds)", "1s")
    .option("-d, --destination <nodes>", "only these workers, by node name, comma separated")
    .action(async (what: string, ids: string[], flags: InspectFlags) => {
      if (!(WHAT as readonly string[]).includes(what))
        throw new UsageError(`ebb inspect ${JSON.stringify(what)}: Ebb can inspect ${WHAT.join(", ")}`);
      if (what === "query_task" && ids.length === 0) throw new UsageError("ebb inspect query_task needs one or more task ids");
      if (what !== "query_task" && ids.length > 0)
        throw new UsageError(`ebb inspect ${what} takes no task ids (got ${ids.join(" ")}); only query_task does`);
      if (what === "beat") return inspectBeat(io, flags, done);
      const timeoutMs = durationFlag("--timeout", flags.timeout ?? "1s")!;
      const destination = nodesFlag(flags.destination);
      const app = await loadApp(flags);
      let replies: NodeReplies;
      try {
        const args = what === "query_task" ? { ids } : {};
        replies = await app.control.broadcast(what, args, { reply: true, timeoutMs, ...(destination ? { destination } : {}) });
      } finally {
        await app.close();
      }
      const nodes = Object.keys(replies).length;
      if (flags.json) printJson(io, replies);
      else io.out(plainReplies(what, replies));
      if (nodes === 0) {
        io.err(`ebb: no worker replied within ${formatDuration(timeoutMs)}${destination ? ` (asked ${destination.join(", ")})` : ""}\n`);
        done(EX.UNAVAILABLE);
        return;
      }
      done(0);
    });
}

/** A comma-separated list of node names, or undefined. */
export function nodesFlag(value: string | undefined): string[] | undefined {
  const nodes = value
    ?.split(",")
    .map((n) => n.trim())
    .filter(Boolean);
  return nodes && nodes.length > 0 ? nodes : undefined;
}

async function inspectBeat(io: CliIO, flags: InspectFlags, done: (code: number) => void): Promise<void> {
  if (!flags.app) throw new UsageError("ebb inspect beat needs -A MODULE: the schedule is defined in your app");
  const app = await loadApp(flags);
  try {
    const view = await app.inspectScheduled();
    if (flags.json) printJson(io, view);
    else io.out(plain(view));
  } finally {
    await app.close();
  }
  done(0);
}

/** One block per node, like `celery inspect` without --json. */
function plainReplies(what: string, replies: NodeReplies): string {
  const lines: string[] = [];
  for (const [node, reply] of Object.entries(replies)) {
    if (isObject(reply) && typeof reply.error === "string") {
      lines.push(`${node}: ERROR ${reply.error}`);
      continue;
    }
    if (what === "ping") {
      lines.push(`${node}: ${isObject(reply) && typeof reply.ok === "string" ? reply.ok : JSON.stringify(reply)}`);
      continue;
    }
    const items = Array.isArray(reply) ? reply : null;
    lines.push(`${node}: ${items ? (items.length === 0 ? "- empty -" : `${items.length}`) : "OK"}`);
    if (!items)
      lines.push(
        ...JSON.stringify(reply, null, 2)
          .split("\n")
          .map((l) => `    ${l}`),
      );
    else for (const item of items) lines.push(`    ${describeItem(what, item)}`);
  }
  const n = Object.keys(replies).length;
  lines.push(`${n} ${n === 1 ? "node" : "nodes"} replied.`);
  return `${lines.join("\n")}\n`;
}

function describeItem(what: string, item: unknown): string {
  if (typeof item === "string") return item;
  if (!isObject(item)) return JSON.stringify(item);
  if (what === "active_queues") return String(item.name);
  const req = what === "scheduled" && isObject(item.request) ? item.request : item;
  const task = `${String(req.name)}[${String(req.id)}] args=${JSON.stringify(req.args)} kwargs=${JSON.stringify(req.kwargs)}`;
  return what === "scheduled" ? `eta ${String(item.eta)} ${task}` : task;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
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
