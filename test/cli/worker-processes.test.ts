import { rmSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { childName } from "../../src/cli/worker-processes.js";
import { createApp } from "../../src/index.js";
import { silentLogger } from "../../src/logger.js";
import { ebb, scratchDir, startWorker, writeApp } from "../e2e/cli-harness.js";
import { waitFor } from "../support/wait.js";

// `ebb worker --processes N`: N worker processes under one supervisor, each its own worker.

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function appDir(): string {
  const dir = scratchDir();
  dirs.push(dir);
  writeApp(
    dir,
    `export const app = createApp({ broker: db, backend: db });
app.task("t.pid", async () => { await new Promise((r) => setTimeout(r, 30)); return process.pid; });`,
  );
  return dir;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("ebb worker --processes", () => {
  it("runs the tasks in N processes, restarts one that is killed, and stops them all on SIGTERM (exit 0)", async () => {
    const dir = appDir();
    const w = startWorker(["-A", "app.mjs", "--processes", "2", "-c", "1", "-l", "debug"], { cwd: dir });
    const app = createApp({ broker: `sqlite://${dir}/ebb.db`, backend: `sqlite://${dir}/ebb.db` }, { log: silentLogger });
    try {
      const results = await app.sendMany(
        "t.pid",
        Array.from({ length: 40 }, () => []),
      );
      const pids = new Set((await Promise.all(results.map((r) => r.get({ timeoutMs: 30_000 })))) as number[]);
      expect(pids.size, w.log()).toBe(2);
      expect(pids.has(w.child.pid!)).toBe(false);
      // -l debug: a line per task received.
      expect(w.log()).toMatch(/DEBUG Task t\.pid\[[0-9a-f-]+\] received/);

      const [victim] = [...pids];
      process.kill(victim!, "SIGKILL");
      await waitFor(
        "the restart notice",
        () => /Worker process \d \(pid \d+\) exited \(SIGKILL\); starting it again/.test(w.log()),
        10_000,
        20,
      );
      // The new process is up when a third worker has said it is consuming.
      await waitFor("the restarted worker", () => (w.log().match(/INFO Worker .* consuming/g) ?? []).length === 3, 15_000, 20);
      const after = await app.sendMany(
        "t.pid",
        Array.from({ length: 40 }, () => []),
      );
      const newPids = new Set((await Promise.all(after.map((r) => r.get({ timeoutMs: 30_000 })))) as number[]);
      expect(newPids.has(victim!)).toBe(false);
      expect(newPids.size, w.log()).toBe(2);

      w.child.kill("SIGTERM");
      expect(await w.exited).toBe(0);
      for (const pid of newPids) expect(alive(pid), `worker process ${pid} outlived its supervisor`).toBe(false);
    } finally {
      w.child.kill("SIGKILL");
      await app.close();
    }
  }, 60_000);

  it("prints no per-task lines at the default level", async () => {
    const dir = appDir();
    const w = startWorker(["-A", "app.mjs", "-c", "1", "--without-beat"], { cwd: dir });
    const app = createApp({ broker: `sqlite://${dir}/ebb.db`, backend: `sqlite://${dir}/ebb.db` }, { log: silentLogger });
    try {
      const r = await app.sendTask("t.pid");
      expect(typeof (await r.get({ timeoutMs: 20_000 }))).toBe("number");
      w.child.kill("SIGTERM");
      expect(await w.exited).toBe(0);
      expect(w.log()).toMatch(/Worker .* consuming/);
      expect(w.log()).not.toMatch(/t\.pid\[/);
    } finally {
      w.child.kill("SIGKILL");
      await app.close();
    }
  }, 30_000);

  it("refuses a bad --processes or --loglevel with a usage error (64)", async () => {
    const dir = appDir();
    const bad = await ebb(["worker", "-A", "app.mjs", "--processes", "0"], { cwd: dir });
    expect(bad.code).toBe(64);
    expect(bad.stderr).toMatch(/--processes/);
    const level = await ebb(["worker", "-A", "app.mjs", "-l", "chatty"], { cwd: dir });
    expect(level.code).toBe(64);
    expect(level.stderr).toMatch(/Expected --loglevel to be debug, info, warning or error, got "chatty"/);
  });

  it("names each process after --hostname with its index", () => {
    expect(childName("w1@host", 2)).toBe("w1-2@host");
    expect(childName("w1", 0)).toBe("w1-0");
  });
});
