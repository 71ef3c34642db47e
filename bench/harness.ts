import { spawn, type ChildProcess } from "node:child_process";

/** Shared pieces of the benchmarks: child processes, polling, medians, tables. */
export interface Child {
  proc: ChildProcess;
  stop(): Promise<void>;
}

/** Spawn a process and resolve once a line of its output matches `ready`. */
export function spawnReady(
  cmd: string,
  args: string[],
  ready: RegExp,
  env: NodeJS.ProcessEnv = {},
  cwd?: string,
  timeoutMs = 30_000,
): Promise<Child> {
  return new Promise((resolve, reject) => {
    const proc = spawn(cmd, args, { env: { ...process.env, ...env }, cwd, stdio: ["ignore", "pipe", "pipe"] });
    let log = "";
    const timer = setTimeout(() => {
      proc.kill("SIGKILL");
      reject(new Error(`${cmd} ${args.join(" ")} was not ready after ${timeoutMs} ms:\n${log.slice(-2000)}`));
    }, timeoutMs);
    const onData = (d: Buffer) => {
      log += d.toString();
      if (ready.test(log)) {
        clearTimeout(timer);
        proc.stdout!.off("data", onData);
        proc.stderr!.off("data", onData);
        proc.stdout!.resume();
        proc.stderr!.resume();
        resolve({ proc, stop: () => stop(proc) });
      }
    };
    proc.stdout!.on("data", onData);
    proc.stderr!.on("data", onData);
    proc.on("exit", (code) => reject(new Error(`${cmd} exited with ${code} before it was ready:\n${log.slice(-2000)}`)));
  });
}

function stop(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => proc.kill("SIGKILL"), 5_000);
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
): Promise<{ firstAt: number; lastAt: number }> {
  const deadline = performance.now() + timeoutMs;
  let firstAt: number | null = null;
  for (;;) {
    const c = await count();
    const now = performance.now();
    if (c > 0 && firstAt === null) firstAt = now;
    if (c >= n) return { firstAt: firstAt ?? now, lastAt: now };
    if (now > deadline) throw new Error(`only ${c} of ${n} done after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function printTable(title: string, rows: Record<string, string>[]): void {
  console.log(`\n${title}`);
  if (rows.length === 0) return;
  const cols = Object.keys(rows[0]!);
  const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => (r[c] ?? "").length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(width[i]!)).join(" | ")} |`;
  console.log(line(cols));
  console.log(`|${width.map((w) => "-".repeat(w + 2)).join("|")}|`);
  for (const r of rows) console.log(line(cols.map((c) => r[c] ?? "")));
}
