import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { createApp, silentLogger } from "../../src/index.js";

// A worker killed (SIGKILL) in the middle of a drain: a task's result and the ack of its message
// commit together (finishWith, group commit), so each task is either done (result stored, message
// gone) or still queued (no result, message there); none is lost, none is half done. A second
// worker then finishes the rest, the killed one's leased messages included once their 2 s leases end.

const CHILD = fileURLToPath(new URL("./fixtures/sqlite-worker-child.ts", import.meta.url));
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const N = 6_000;

function startWorker(url: string) {
  const child = spawn(process.execPath, ["--import", "tsx", CHILD, url], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout.setEncoding("utf8").on("data", (c: string) => c.includes("ready") && resolve());
    child.on("exit", (code) => reject(new Error(`worker exited (${code}) before it was ready: ${stderr}`)));
  });
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  return { ready, exited, kill: () => child.kill("SIGKILL"), stop: () => child.kill("SIGTERM") };
}

describe("sqlite: a worker killed mid-drain", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it("loses nothing: every task is done (stored and acked) or still queued, never half; a new worker finishes the rest", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ebb-crash-"));
    dirs.push(dir);
    const path = join(dir, "ebb.db");
    const url = `sqlite://${path}`;
    const app = createApp({ broker: url, backend: url }, { log: silentLogger });
    await app.sendMany(
      "t.double",
      Array.from({ length: N }, (_, i) => [i]),
    );
    await app.close();
    const db = new Database(path, { readonly: true });
    const count = (table: string) => db.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number;
    const halfDone = () =>
      db
        .prepare("SELECT count(*) FROM ebb_messages m JOIN ebb_results r ON r.task_id = json_extract(m.body, '$.headers.id')")
        .pluck()
        .get() as number;
    try {
      const first = startWorker(url);
      await first.ready;
      const deadline = performance.now() + 30_000;
      while (count("ebb_results") < N / 4 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      first.kill();
      await first.exited;
      const done = count("ebb_results");
      expect(done).toBeGreaterThan(0);
      expect(done + count("ebb_messages")).toBe(N);
      expect(halfDone()).toBe(0);

      const second = startWorker(url);
      await second.ready;
      while ((count("ebb_results") < N || count("ebb_messages") > 0) && performance.now() < deadline + 30_000)
        await new Promise((r) => setTimeout(r, 20));
      second.stop();
      await second.exited;
      expect(count("ebb_results")).toBe(N);
      expect(count("ebb_messages")).toBe(0);
      expect(db.prepare("SELECT count(*) FROM ebb_results WHERE status <> 'SUCCESS'").pluck().get()).toBe(0);
      expect(db.pragma("integrity_check", { simple: true })).toBe("ok");
    } finally {
      db.close();
    }
  }, 90_000);
});
