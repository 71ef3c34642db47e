import { randomUUID } from "node:crypto";
import { rmSync } from "node:fs";
import { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import { ebb, scratchDir, startWorker, writeApp } from "../e2e/cli-harness.js";
import { unlinkPrefix } from "../support/redis-namespace.js";
import { describeWithService, SERVICES } from "../support/services.js";
import { waitFor } from "../support/wait.js";

// `ebb worker -E`: the flag reaches the worker (events on the broker), and a broker that cannot
// carry events is refused at start-up with a line saying so.

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function appDir(config: string): string {
  const dir = scratchDir();
  dirs.push(dir);
  writeApp(dir, `export const app = createApp(${config});\napp.task("t.add", async (a, b) => a + b);\n`);
  return dir;
}

describe("ebb worker -E on a broker without events", () => {
  it("exits 64 naming the broker and what to use instead", async () => {
    const dir = appDir("{ broker: db, backend: db }");
    const r = await ebb(["worker", "-A", "app.mjs", "-E", "--without-beat"], { cwd: dir });
    expect(r.code).toBe(64);
    expect(r.stderr).toMatch(/^ebb: The broker sqlite:\/\/.* cannot carry Celery events; use a Redis broker \(redis:\/\/\)/);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });
});

await describeWithService("redis", "ebb worker -E on Redis", () => {
  it("sends worker-online at start, task events, and worker-offline after SIGTERM (exit 0)", async () => {
    const prefix = `ebbtest:${randomUUID()}:`;
    const url = `redis://${SERVICES.redis.host}:${SERVICES.redis.port}/0?prefix=${prefix}`;
    const dir = appDir(`{ broker: ${JSON.stringify(url)}, backend: ${JSON.stringify(url)} }`);
    const sub = new Redis(SERVICES.redis);
    const admin = new Redis(SERVICES.redis);
    const types: string[] = [];
    try {
      await sub.psubscribe(`${prefix}/0.celeryev/*`);
      sub.on("pmessage", (_p, _channel, payload: string) => {
        const body = JSON.parse(Buffer.from(JSON.parse(payload).body, "base64").toString("utf8")) as { type: string };
        types.push(body.type);
      });
      const w = startWorker(["-A", "app.mjs", "-E", "--without-beat", "-c", "1"], { cwd: dir });
      await waitFor("worker-online", () => types.includes("worker-online"), 20_000, 20).catch(() => {
        throw new Error(`no worker-online; the worker printed:\n${w.log()}`);
      });
      const sent = await ebb(["call", "t.add", "--args", "[2, 3]", "-A", "app.mjs", "--json"], { cwd: dir });
      expect(sent.code, sent.stderr).toBe(0);
      await waitFor("task-succeeded", () => types.includes("task-succeeded"), 20_000, 20);
      w.child.kill("SIGTERM");
      expect(await w.exited).toBe(0);
      await waitFor("worker-offline", () => types.includes("worker-offline"), 5_000, 20);
      expect(types.filter((t) => t.startsWith("task-"))).toEqual(["task-received", "task-started", "task-succeeded"]);
      expect(types.at(-1)).toBe("worker-offline");
    } finally {
      sub.disconnect();
      await unlinkPrefix(admin, prefix);
      admin.disconnect();
    }
  });
});
