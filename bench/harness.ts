import { spawn, type ChildProcess } from "node:child_process";

/** Shared pieces of the benchmarks: child processes, polling, medians, tables. */
export interface Child {
  proc: ChildProcess;
  /** Resolves with the first match of `re` in the output (stdout and stderr) so far or to come. */
  waitFor(re: RegExp, timeoutMs: number): Promise<RegExpExecArray>;
  stop(): Promise<void>;
}

/** Output kept per child: enough for error messages and the lines waited for. */
const KEEP = 64 * 1024;

/** Spawn a process and resolve once a line of its output matches `ready`. */
export async function spawnReady(
  cmd: string,
  args: string[],
  ready: RegExp,
  env: NodeJS.ProcessEnv = {},
  cwd?: string,
  timeoutMs = 30_000,
): Promise<Child> {
  const proc = spawn(cmd, args, { env: { ...process.env, ...env }, cwd, stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  let exited: string | null = null;
  const waiters = new Set<() => void>();
  const onData = (d: Buffer) => {
    log += d.toString();
    if (log.length > 2 * KEEP) log = log.slice(-KEEP);
    for (const w of waiters) w();
  };
  proc.stdout!.on("data", onData);
  proc.stderr!.on("data", onData);
  proc.on("exit", (code, signal) => {
    exited = `${cmd} exited with ${code ?? signal}`;
    for (const w of waiters) w();
  });
  const waitFor = (re: RegExp, ms: number) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const check = () => {
        const m = re.exec(log);
        if (m) finish(() => resolve(m));
        else if (exited) finish(() => reject(new Error(`${exited} before printing ${re}:\n${log.slice(-2000)}`)));
      };
      const timer = setTimeout(
        () => finish(() => reject(new Error(`${cmd} ${args.join(" ")} printed no ${re} in ${ms} ms:\n${log.slice(-2000)}`))),
        ms,
      );
      const finish = (settle: () => void) => {
        clearTimeout(timer);
        waiters.delete(check);
        settle();
      };
      waiters.add(check);
      check();
    });
  const child: Child = { proc, waitFor, stop: () => stop(proc) };
  try {
    await waitFor(ready, timeoutMs);
  } catch (e) {
    proc.kill("SIGKILL");
    throw e;
  }
  return child;
}

function stop(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => proc.kill("SIGKILL"), 10_000);
    proc.once("exit", () => {
      clearTimeout(kill);
      resolve();
    });
    proc.kill("SIGTERM");
  });
}

/** Poll `count` until it reaches n; returns when the first and the last item were seen done. */
export async function waitForCount(
  count: () => Promise<number>,
  n: number,
  timeoutMs: number,
  everyMs = 10,
): Promise<{ firstAt: number; lastAt: number }> {
  const deadline = performance.now() + timeoutMs;
  let firstAt: number | null = null;
  for (;;) {
    const c = await count();
    const now = performance.now();
    if (c > 0 && firstAt === null) firstAt = now;
    if (c >= n) return { firstAt: firstAt ?? now, lastAt: now };
    if (now > deadline) throw new Error(`only ${c} of ${n} done after ${timeoutMs} ms`);
    await sleep(everyMs);
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Seconds `fn` takes. */
export async function timed(fn: () => Promise<unknown> | unknown): Promise<number> {
  const t = performance.now();
  await fn();
  return (performance.now() - t) / 1000;
}

/** Call fn(0..total-1) with `width` calls in flight at all times (a sliding window, not batches). */
export async function inFlight(total: number, width: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < total) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.min(width, total) }, lane));
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** A whole number with thousands separators. */
export const fmt = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString("en-US") : "—");
/** A number with `digits` decimals. */
export const fixed = (x: number, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : "—");
/** a ÷ b as "1.23x". */
export const ratio = (a: number, b: number) => (Number.isFinite(a / b) && b > 0 ? `${(a / b).toFixed(2)}x` : "—");

export interface PrintedTable {
  title: string;
  rows: Record<string, string>[];
  notes: string[];
}

/** Every table printed in this run, in order (bench/latest-md.ts writes them out). */
export const printed: PrintedTable[] = [];

/** Print a table (columns from the first row) and its notes, and remember it for the run's report. */
export function printTable(title: string, rows: Record<string, string>[], notes: string[] = []): void {
  printed.push({ title, rows, notes });
  console.log(`\n${title}`);
  if (rows.length > 0) for (const line of tableLines(rows)) console.log(line);
  for (const note of notes) console.log(`  ${note}`);
}

/** A table as Markdown lines, padded so it also reads as plain text. */
export function tableLines(rows: Record<string, string>[]): string[] {
  const cols = Object.keys(rows[0]!);
  const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => (r[c] ?? "").length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(width[i]!)).join(" | ")} |`;
  return [line(cols), `|${width.map((w) => "-".repeat(w + 2)).join("|")}|`, ...rows.map((r) => line(cols.map((c) => r[c] ?? "")))];
}
