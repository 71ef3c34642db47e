import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { ebb, eventually, scratchDir, startWorker, writeApp, type WorkerProcess } from "./cli-harness.js";

/**
 * The must-shows of the core issue, end to end: `ebb worker` and `ebb call`/`ebb result` are
 * separate processes that share one SQLite file. Waits here are for real work in another
 * process; every check asserts what the store says, not how long something took.
 */
const APP = `
export const app = createApp({ broker: db, backend: db, resultExpires: "24h", visibilityTimeout: "2s" });
app.task("add", async (a, b) => a + b);
app.task("ticker", async (v) => ({ v }), { resultExpires: "5m" });
app.task("smart", async (d) => d, { resultExpires: (r) => (r.priority === "critical" ? "30d" : "1h") });
app.task("sleep", async (ms) => { await new Promise((r) => setTimeout(r, ms)); return ms; });
app.task("gate", async (file) => {
  const { existsSync } = await import("node:fs");
  while (!existsSync(file)) await new Promise((r) => setTimeout(r, 50));
  return "opened";
});
app.task("notify", async (to) => "sent " + to, { ignoreResult: true });
app.task("slow.once", async (runsFile) => {
  appendFileSync(runsFile, "start\\n");
  await new Promise((r) => setTimeout(r, 1500));
  return "done";
});
`;

let dir: string;
let workers: WorkerProcess[] = [];

beforeAll(() => {
  dir = scratchDir();
  writeApp(dir, APP);
});

afterEach(async () => {
  for (const w of workers) {
    if (w.child.exitCode === null && w.child.signalCode === null) {
      w.child.kill("SIGKILL");
      await w.exited;
    }
  }
  workers = [];
});

function worker(...args: string[]): WorkerProcess {
  const w = startWorker(["-A", "app.mjs", ...args], { cwd: dir });
  workers.push(w);
  return w;
}

async function call(task: string, ...flags: string[]): Promise<string> {
  const r = await ebb(["call", task, "-A", "app.mjs", "--json", ...flags], { cwd: dir });
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return (JSON.parse(r.stdout) as { id: string }).id;
}

async function result(id: string, ...flags: string[]) {
  const r = await ebb(["result", id, "-A", "app.mjs", "--json", ...flags], { cwd: dir });
  return { code: r.code, stderr: r.stderr, json: r.stdout ? (JSON.parse(r.stdout) as Record<string, unknown>) : {} };
}

const lifetimeMs = (j: Record<string, unknown>) => Date.parse(j.expiresAt as string) - Date.parse(j.dateDone as string);

describe("ebb worker + ebb call + ebb result across processes on one SQLite file", () => {
  it("runs a task sent by another process and shows state, result and expiresAt", async () => {
    worker("-c", "4");
    const id = await call("add", "--args", "[2, 3]");
    const r = await result(id, "--wait", "15s");
    expect(r.code).toBe(0);
    expect(r.json).toMatchObject({ id, state: "SUCCESS", result: 5, tier: null });
    expect(Object.keys(r.json).sort()).toEqual(["dateDone", "expiresAt", "id", "result", "state", "tier"]);
    expect(lifetimeMs(r.json)).toBe(86_400_000);
  });

  it("gives per-task, dynamic, per-call and global lifetimes the right expiresAt", async () => {
    worker("-c", "4");
    const ids = {
      perTask: await call("ticker", "--args", "[1]"),
      dynamicCritical: await call("smart", "--args", JSON.stringify([{ priority: "critical" }])),
      dynamicOther: await call("smart", "--args", JSON.stringify([{ priority: "low" }])),
      global: await call("add", "--args", "[1, 1]"),
      perCall: await call("ticker", "--args", "[2]", "--result-expires", "90s"),
      never: await call("add", "--args", "[1, 2]", "--result-expires", "never"),
    };
    const got = Object.fromEntries(
      await Promise.all(Object.entries(ids).map(async ([k, id]) => [k, (await result(id, "--wait", "15s")).json])),
    );
    expect(lifetimeMs(got.perTask)).toBe(5 * 60_000);
    expect(lifetimeMs(got.dynamicCritical)).toBe(30 * 86_400_000);
    expect(lifetimeMs(got.dynamicOther)).toBe(3_600_000);
    expect(lifetimeMs(got.global)).toBe(86_400_000);
    expect(lifetimeMs(got.perCall)).toBe(90_000);
    expect(got.never).toMatchObject({ state: "SUCCESS", expiresAt: null });
  });

  it("reads a --result-expires 6s result as EXPIRED once its expiry has passed, exit 1", async () => {
    worker();
    // 6 s, not less: on a loaded machine (two test runs at once) a call and a read took over 2 s.
    const id = await call("add", "--args", "[20, 22]", "--result-expires", "6s");
    const first = await result(id, "--wait", "15s");
    expect(first.json).toMatchObject({ state: "SUCCESS", result: 42 });
    expect(lifetimeMs(first.json)).toBe(6_000);
    // Real time must pass the stored expiry (the stores judge by their own clock, which is this machine's).
    await new Promise((r) => setTimeout(r, Date.parse(String(first.json.expiresAt)) - Date.now() + 500));
    const later = await result(id);
    expect(later.code).toBe(1);
    expect(later.json).toMatchObject({ id, state: "EXPIRED", expiresAt: first.json.expiresAt });
    const plain = await ebb(["result", id, "-A", "app.mjs"], { cwd: dir });
    expect(plain.code).toBe(1);
    expect(plain.stdout).toContain("EXPIRED");
  });

  it("never stores an ignored result, and still stores the next one", async () => {
    worker("-c", "1");
    const ignored = await call("notify", "--args", '["ops@example.com"]');
    const perCallIgnored = await call("add", "--args", "[1, 1]", "--ignore-result");
    const after = await call("add", "--args", "[3, 4]");
    // One worker slot and FIFO: once `after` is done, both ignored ones have been processed.
    expect((await result(after, "--wait", "15s")).json.state).toBe("SUCCESS");
    const db = new Database(join(dir, "ebb.db"), { readonly: true });
    try {
      const rows = db.prepare("SELECT task_id FROM ebb_results WHERE task_id IN (?, ?)").all(ignored, perCallIgnored);
      expect(rows).toEqual([]);
      const queued = db.prepare("SELECT count(*) AS n FROM ebb_messages").get() as { n: number };
      expect(queued.n).toBe(0);
    } finally {
      db.close();
    }
    const r = await result(ignored);
    expect(r.code).toBe(2);
    expect(r.json.state).toBe("PENDING");
  });

  it("revokes a message sent with --expires 1s that waits behind a running task until after its expiry", async () => {
    const w = worker("-c", "1");
    // The task ahead runs until the test opens its gate, which it does only once the late
    // message's expiry (1 s after it was sent, so before its call returned) has passed.
    const gateFile = join(dir, `gate-${Date.now()}`);
    const ahead = await call("gate", "--args", JSON.stringify([gateFile]));
    const late = await call("add", "--args", "[1, 2]", "--expires", "1s");
    await new Promise((r) => setTimeout(r, 1_500));
    writeFileSync(gateFile, "open");
    const r = await result(late, "--wait", "20s");
    expect(r.code, `late: ${JSON.stringify(r.json)}\nahead: ${JSON.stringify((await result(ahead)).json)}\nworker log:\n${w.log()}`).toBe(
      1,
    );
    expect(r.json).toMatchObject({ state: "REVOKED", result: { exc_type: "TaskRevokedError", exc_message: ["expired"] } });
    expect((await result(ahead, "--wait", "10s")).json).toMatchObject({ state: "SUCCESS", result: "opened" });
  });

  it("runs a task again on the next worker after SIGKILL mid-task, and stores its result once", async () => {
    const runs = join(dir, `runs-${Date.now()}.txt`);
    const first = worker("-c", "1");
    const id = await call("slow.once", "--args", JSON.stringify([runs]));
    await eventually(() => (safeRead(runs).includes("start") ? true : undefined), 15_000, "the first run to start");
    first.child.kill("SIGKILL");
    await first.exited;
    expect((await result(id)).json.state).toBe("PENDING");
    worker("-c", "1");
    const r = await result(id, "--wait", "20s");
    expect(r.json).toMatchObject({ state: "SUCCESS", result: "done" });
    expect(safeRead(runs).trim().split("\n")).toEqual(["start", "start"]);
    const db = new Database(join(dir, "ebb.db"), { readonly: true });
    try {
      expect(db.prepare("SELECT count(*) AS n FROM ebb_results WHERE task_id = ?").get(id)).toEqual({ n: 1 });
      expect(db.prepare("SELECT count(*) AS n FROM ebb_messages").get()).toEqual({ n: 0 });
    } finally {
      db.close();
    }
  });

  it("stops on SIGTERM after finishing the task in flight, exit 0", async () => {
    const w = worker("-c", "1");
    const id = await call("sleep", "--args", "[1500]");
    await eventually(() => (w.log().includes("consuming") ? true : undefined), 10_000, "the worker to start");
    await eventually(
      async () => {
        const db = new Database(join(dir, "ebb.db"), { readonly: true });
        try {
          const row = db.prepare("SELECT lease_until FROM ebb_messages").get() as { lease_until: number | null } | undefined;
          return row?.lease_until ? true : undefined;
        } finally {
          db.close();
        }
      },
      10_000,
      "the task to be leased",
    );
    w.child.kill("SIGTERM");
    expect(await w.exited).toBe(0);
    expect((await result(id)).json).toMatchObject({ state: "SUCCESS", result: 1500 });
  });
});

function safeRead(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}
