import type { App } from "../../src/app.js";
import { currentTask } from "../../src/task-context.js";
import { spawn } from "node:child_process";
import { PY, PY_DIR, pyEnv } from "./harness.js";

/** What python/canvas_client.py prints: Celery's own view of a canvas it applied and waited on. */
export interface PyCanvasResult {
  id: string;
  state: string;
  timed_out: boolean;
  result: unknown;
  exception: { class: string; module: string; args: unknown[] } | null;
  /** Ids from the first step to the result (result.parent), a group's as a list. */
  lineage: (string | string[])[];
}

/** A canvas spec for canvas_client.py (see its docstring). */
export type CanvasSpec =
  | { task: string; args?: unknown[]; kwargs?: Record<string, unknown>; queue?: string; immutable?: boolean; link_error?: CanvasSpec }
  | { chain: CanvasSpec[] }
  | { group: CanvasSpec[] }
  | { chord: CanvasSpec[]; body: CanvasSpec };

/** Apply `spec` from a real Celery client and wait for its result (python/canvas_client.py). */
export function pyCanvas(url: string, spec: CanvasSpec, timeoutS = 30): Promise<PyCanvasResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(PY, ["canvas_client.py", JSON.stringify(spec), "--timeout", String(timeoutS)], {
      cwd: PY_DIR,
      env: pyEnv(url),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), (timeoutS + 20) * 1000);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(JSON.parse(stdout) as PyCanvasResult);
      else reject(new Error(`canvas_client.py ${signal ? `was killed (${signal})` : `exited ${code}`}\n${stderr}`));
    });
  });
}

/**
 * Register the canvas suites' Ebb tasks (interop.add, interop.mul, interop.tsum, as
 * python/interop_tasks.py has them), each noting in `ran` the ids it ran; returns the wrapper for
 * a suite's own extra tasks.
 */
export function registerCanvasTasks(app: App, ran: Set<string>) {
  const run =
    <A extends unknown[], R>(fn: (...a: A) => R) =>
    (...a: A) => {
      ran.add(currentTask().id);
      return fn(...a);
    };
  app.task(
    "interop.add",
    run((a: number, b: number) => a + b),
  );
  app.task(
    "interop.mul",
    run((a: number, b: number) => a * b),
  );
  app.task(
    "interop.tsum",
    run((xs: number[]) => xs.reduce((s, x) => s + x, 0)),
  );
  return run;
}
