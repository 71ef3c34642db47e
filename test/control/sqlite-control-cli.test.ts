import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createApp } from "../../src/app.js";
import { TaskRevokedError } from "../../src/errors.js";
import { silentLogger } from "../../src/logger.js";
import { currentTask } from "../../src/task-context.js";
import { ebb } from "../e2e/cli-harness.js";
import { waitFor } from "../support/wait.js";

/**
 * Remote control on the embedded default, across processes: the worker runs here, `ebb inspect`
 * and `ebb revoke` run as real child processes on the same SQLite file, so requests and replies
 * go through the file (polling), not this process's in-memory wake-ups.
 */
describe("ebb inspect and ebb revoke on the SQLite broker, from another process", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const dbUrl = () => {
    const dir = mkdtempSync(join(tmpdir(), "ebb-control-"));
    dirs.push(dir);
    return `sqlite://${join(dir, "ebb.db")}`;
  };

  it("inspect ping, active, query_task and conf see the worker; revoke --terminate ends its running task REVOKED", async () => {
    const url = dbUrl();
    const app = createApp({ broker: url, backend: url }, { log: silentLogger });
    const wait = app.task("wait", async () => {
      const signal = currentTask().signal;
      await new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason), { once: true }));
    });
    const worker = await app.worker({ name: "ebb-sq@test", concurrency: 1 });
    const running = worker.start();
    try {
      const store = ["--broker", url, "--backend", url];
      const ping = await ebb(["inspect", "ping", "--json", ...store]);
      expect(ping.code).toBe(0);
      expect(JSON.parse(ping.stdout)).toEqual({ "ebb-sq@test": { ok: "pong" } });

      const r = await wait.delay();
      await waitFor("the task to run", () => worker.lifecycle.activeTask(r.id));
      const active = await ebb(["inspect", "active", "--json", ...store]);
      expect(active.code).toBe(0);
      expect((JSON.parse(active.stdout)["ebb-sq@test"] as { id: string }[]).map((t) => t.id)).toEqual([r.id]);
      const query = await ebb(["inspect", "query_task", r.id, "--json", ...store]);
      expect(JSON.parse(query.stdout)).toEqual({
        "ebb-sq@test": { [r.id]: ["active", expect.objectContaining({ id: r.id, name: "wait" })] },
      });
      const conf = await ebb(["inspect", "conf", "--json", ...store]);
      expect(JSON.parse(conf.stdout)["ebb-sq@test"]).toMatchObject({ broker_url: url, worker_concurrency: 1, task_acks_late: true });

      const revoke = await ebb(["revoke", r.id, "--terminate", ...store]);
      expect(revoke.code).toBe(0);
      const err = await r.get({ timeoutMs: 10_000 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TaskRevokedError);
      expect((err as TaskRevokedError).reason).toBe("terminated");
    } finally {
      await worker.stop();
      await running;
      await app.close();
    }
  });

  it("inspect ping exits 69 when no worker listens on the file; query_task without ids exits 64", async () => {
    const url = dbUrl();
    const r = await ebb(["inspect", "ping", "--timeout", "0.3", "--broker", url, "--backend", url]);
    expect(r.code).toBe(69);
    expect(r.stderr).toMatch(/^ebb: no worker replied within/);
    const bare = await ebb(["inspect", "query_task", "--broker", url, "--backend", url]);
    expect(bare.code).toBe(64);
    expect(bare.stderr).toBe("ebb: ebb inspect query_task needs one or more task ids\n");
  });
});
