/**
 * The run's tables as Markdown (bench/results/latest.md, which the README links): what ran, on
 * what (Node version, date, cores, load, Redis version), with which N, rounds and concurrency, and
 * every table printed, with its notes.
 */
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { tableLines, type PrintedTable } from "./harness.js";

export interface RunFacts {
  command: string;
  startedAt: Date;
  /** os.loadavg() when the run started. */
  loadAtStart: number[];
  seconds: number;
  settings: [string, string][];
  redisVersion?: string;
}

export function latestMarkdown(facts: RunFacts, tables: PrintedTable[]): string {
  const lines = [
    "# Benchmark results: latest run",
    "",
    `\`${facts.command}\`, written by the run itself (bench/latest-md.ts). Numbers are from one machine and`,
    "noisy when it is shared: compare the ratios, and run twice.",
    "",
    `- Node ${process.version}, ${cpus().length} cores (${cpus()[0]?.model.trim() ?? "?"}), load average ${facts.loadAtStart.map((l) => l.toFixed(2)).join(" ")} at the start, ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")} at the end`,
    `- Started ${facts.startedAt.toISOString()}, took ${Math.floor(facts.seconds / 60)} min ${Math.round(facts.seconds % 60)} s`,
    `- Code: ${codeVersion()}`,
    ...(facts.redisVersion ? [`- Redis ${facts.redisVersion}`] : []),
    ...facts.settings.map(([k, v]) => `- ${k}: ${v}`),
  ];
  for (const t of tables) {
    lines.push("", `## ${t.title}`, "");
    if (t.rows.length > 0) lines.push(...tableLines(t.rows));
    if (t.notes.length > 0) lines.push("", ...t.notes.map((n) => `- ${n}`));
  }
  return `${lines.join("\n")}\n`;
}

/** The commit the run built from, and whether src/ had changes not committed yet. */
function codeVersion(): string {
  try {
    const git = (...args: string[]) =>
      execFileSync("git", args, { stdio: ["ignore", "pipe", "ignore"] })
        .toString()
        .trim();
    const full = git("log", "-1", "--format=%h %s");
    const head = full.length > 100 ? `${full.slice(0, 99)}…` : full;
    const dirty = git("status", "--porcelain", "--", "src").length > 0;
    return `${head}${dirty ? " (plus changes in src/ not committed yet)" : ""}`;
  } catch {
    return "unknown (not a git checkout)";
  }
}

export function writeLatest(path: string, facts: RunFacts, tables: PrintedTable[]): void {
  writeFileSync(path, latestMarkdown(facts, tables));
}
