import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { dieWithParent } from "../support/die-with-parent.js";
import { eventually, PY, PY_DIR, pyEnv } from "./harness.js";

/**
 * What the interop suites start never outlives the test process, even one killed by SIGKILL
 * (no afterAll, no "exit" handler runs then): a stand-in parent starts the child exactly as the
 * harness does, is SIGKILLed, and the child must be gone soon after, not orphaned.
 */
const ORPHAN_PARENT = fileURLToPath(new URL("../support/orphan-parent.mjs", import.meta.url));

/** Alive and not a zombie (an orphan's zombie waits for whatever reaps it; it runs nothing). */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

/** Start `command` under a stand-in parent (with env as given, and EBB_TEST_PARENT_PID = the stand-in's pid), SIGKILL the parent, and wait until the child is gone. */
async function orphan(spec: { command: string; args: string[]; cwd?: string; env?: NodeJS.ProcessEnv; ready: string }): Promise<void> {
  // The stand-in itself must not outlive this test when the test fails.
  const [node, args] = dieWithParent(process.execPath, [ORPHAN_PARENT, JSON.stringify(spec)]);
  const parent = spawn(node, args, { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  parent.stdout.on("data", (d) => (out += d));
  parent.stderr.on("data", (d) => (err += d));
  const exited = new Promise<void>((r) => parent.once("exit", () => r()));
  const pid = await eventually(
    () => {
      if (parent.exitCode !== null) throw new Error(`The stand-in parent exited before its child was ready:\n${err}`);
      const line = out.split("\n").find((l) => l.startsWith("{"));
      return line ? (JSON.parse(line) as { pid: number }).pid : undefined;
    },
    20_000,
    `${spec.command} to print ${spec.ready}`,
  ).catch((e: unknown) => {
    parent.kill("SIGKILL");
    throw e;
  });
  try {
    expect(running(pid)).toBe(true);
    parent.kill("SIGKILL");
    await exited;
    await eventually(() => (running(pid) ? undefined : true), 10_000, `${spec.command} (pid ${pid}) to exit after its parent was killed`);
  } finally {
    if (running(pid)) process.kill(pid, "SIGKILL");
  }
}

describe("children of the interop suites die with the test process", () => {
  it("a Python Celery worker (python/parent_watch.py) exits once its parent is SIGKILLed", async () => {
    // Nothing listens on port 1: the worker keeps retrying the broker, alive until something ends it.
    await orphan({
      command: PY,
      args: ["-m", "celery", "-A", "interop_tasks", "worker", "--pool=solo", "-l", "info"],
      cwd: PY_DIR,
      env: pyEnv("redis://127.0.0.1:1/0"),
      ready: "Cannot connect to redis",
    });
  });

  it("a Python Celery client (client.py) exits once its parent is SIGKILLed", async () => {
    await orphan({
      command: PY,
      args: ["-c", "import time, client; print('imported', flush=True); time.sleep(120)"],
      cwd: PY_DIR,
      env: pyEnv("redis://127.0.0.1:1/0"),
      ready: "imported",
    });
  });

  it("a redis-server started through dieWithParent (setpriv --pdeathsig) exits once its parent is SIGKILLed", async () => {
    // No TCP port (nothing to clash with): a unix socket in a dir of its own.
    const dir = mkdtempSync(join(tmpdir(), "ebb-orphan-"));
    try {
      const [command, args] = dieWithParent("redis-server", [
        "--port",
        "0",
        "--unixsocket",
        join(dir, "redis.sock"),
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        dir,
      ]);
      await orphan({ command, args, ready: "ready to accept connections" });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
