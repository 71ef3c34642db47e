import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/** Runs the built `ebb` binary as a separate process, as a user would (npm test builds first). */
export const REPO = fileURLToPath(new URL("../../", import.meta.url));
export const EBB_BIN = join(REPO, "dist/src/cli/main.js");
export const EBB_INDEX = pathToFileURL(join(REPO, "dist/src/index.js")).href;

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function scratchDir(): string {
  return mkdtempSync(join(tmpdir(), "ebb-e2e-"));
}

/** Write an app module into `dir` whose body can use `createApp`, `currentTask` and `db` (the SQLite URL). */
export function writeApp(dir: string, body: string, file = "app.mjs"): string {
  const path = join(dir, file);
  writeFileSync(
    path,
    `import { createApp, currentTask } from ${JSON.stringify(EBB_INDEX)};\nimport { appendFileSync } from "node:fs";\nconst db = ${JSON.stringify(`sqlite://${join(dir, "ebb.db")}`)};\n${body}\n`,
  );
  return path;
}

export function ebb(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [EBB_BIN, ...args], {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`ebb ${args.join(" ")} did not finish in ${options.timeoutMs ?? 20_000} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, options.timeoutMs ?? 20_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A long-running `ebb worker`; its stderr is collected for assertions and failure messages. */
export interface WorkerProcess {
  child: ChildProcess;
  log: () => string;
  exited: Promise<number | null>;
}

export function startWorker(args: string[], options: { cwd?: string } = {}): WorkerProcess {
  const child = spawn(process.execPath, [EBB_BIN, "worker", ...args], { cwd: options.cwd, stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  child.stdout!.on("data", (d) => (log += d));
  child.stderr!.on("data", (d) => (log += d));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, log: () => log, exited };
}

/** Poll `check` until it returns a value other than undefined, or fail after timeoutMs. */
export async function eventually<T>(check: () => T | undefined | Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
