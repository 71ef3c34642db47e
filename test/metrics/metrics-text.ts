import { spawnSync } from "node:child_process";

/**
 * The value of one sample in Prometheus text output: the line of metric `name` whose labels
 * include every one given (exactly, when `exact`); undefined when there is none.
 */
export function sample(text: string, name: string, labels: Record<string, string> = {}, exact = false): number | undefined {
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = parseLabels(m[2] ?? "");
    const wanted = Object.entries(labels);
    if (exact && Object.keys(have).length !== wanted.length) continue;
    if (wanted.every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}

function parseLabels(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of s.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) out[m[1]!] = m[2]!.replace(/\\(.)/g, "$1");
  return out;
}

/** `promtool check metrics` on the text (stdin): its exit status and what it printed. */
export function promtool(text: string): { status: number | null; output: string } {
  const r = spawnSync("/usr/bin/promtool", ["check", "metrics"], { input: text, encoding: "utf8", timeout: 20_000 });
  if (r.error) throw r.error;
  return { status: r.status, output: `${r.stdout}${r.stderr}`.trim() };
}
