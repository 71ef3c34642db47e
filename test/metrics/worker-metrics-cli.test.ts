import { rmSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { ebb, scratchDir, startWorker, writeApp } from "../e2e/cli-harness.js";
import { freePort, releasePort } from "../support/free-port.js";
import { waitFor } from "../support/wait.js";
import { promtool, sample } from "./metrics-text.js";

// `ebb worker --metrics-port`: the built binary serves /metrics on loopback, counts the tasks it
// runs, refuses to serve the network without a token, and stops serving when it stops.

const dirs: string[] = [];
const ports: number[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  for (const p of ports.splice(0)) releasePort(p);
});

function appDir(): string {
  const dir = scratchDir();
  dirs.push(dir);
  writeApp(dir, `export const app = createApp({ broker: db, backend: db });\napp.task("t.add", async (a, b) => a + b);\n`);
  return dir;
}

async function scrape(url: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string } | null> {
  try {
    const r = await fetch(url, { headers });
    return { status: r.status, text: await r.text() };
  } catch {
    return null;
  }
}

describe("ebb worker --metrics-port", () => {
  it("serves /metrics on 127.0.0.1 with the tasks it ran, and stops serving on SIGTERM", async () => {
    const dir = appDir();
    const port = await freePort();
    ports.push(port);
    const url = `http://127.0.0.1:${port}/metrics`;
    const w = startWorker(["-A", "app.mjs", "--without-beat", "-c", "1", "--metrics-port", String(port)], { cwd: dir });
    try {
      const first = await waitFor("the metrics endpoint", () => scrape(url), 20_000, 50).catch(() => {
        throw new Error(`no /metrics; the worker printed:\n${w.log()}`);
      });
      expect(first.status).toBe(200);
      expect(sample(first.text, "celery_worker_up")).toBe(1);
      expect(w.log()).toContain(`Serving metrics on ${url}`);
      const sent = await ebb(["call", "t.add", "--args", "[2, 3]", "-A", "app.mjs", "--json"], { cwd: dir });
      expect(sent.code, sent.stderr).toBe(0);
      const text = await waitFor(
        "celery_task_succeeded_total to count the task",
        async () => {
          const s = await scrape(url);
          return s && sample(s.text, "celery_task_succeeded_total", { name: "t.add" }) === 1 ? s.text : null;
        },
        20_000,
        50,
      );
      expect(text).toMatch(/^celery_task_succeeded_total\{name="t\.add",queue_name="celery"\} 1$/m);
      expect(sample(text, "celery_task_received_total", { name: "t.add" })).toBe(1);
      expect(sample(text, "ebb_results_written_total", { tier: "none" })).toBe(1);
      const check = promtool(text);
      expect(check.output).toBe("");
      expect(check.status).toBe(0);
    } finally {
      w.child.kill("SIGTERM");
    }
    expect(await w.exited).toBe(0);
    expect(await scrape(url)).toBeNull();
  });

  it("refuses --metrics-host 0.0.0.0 without a token: exit 64 with a line naming the flag", async () => {
    const dir = appDir();
    const r = await ebb(["worker", "-A", "app.mjs", "--without-beat", "--metrics-port", "9", "--metrics-host", "0.0.0.0"], {
      cwd: dir,
      env: { EBB_METRICS_TOKEN: "" },
    });
    expect(r.code).toBe(64);
    expect(r.stderr).toMatch(
      /^ebb: Serving metrics on 0\.0\.0\.0 \(not a loopback address\) needs --metrics-token \(or EBB_METRICS_TOKEN\)/,
    );
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it("refuses a bad --metrics-port: exit 64 naming the flag", async () => {
    const dir = appDir();
    const r = await ebb(["worker", "-A", "app.mjs", "--without-beat", "--metrics-port", "ninety"], { cwd: dir });
    expect(r.code).toBe(64);
    expect(r.stderr).toMatch(/^ebb: Expected --metrics-port to be an integer 0\.\.65535, got "ninety"/);
  });

  it("with a token on 0.0.0.0, answers only the Bearer token", async () => {
    const dir = appDir();
    const port = await freePort();
    ports.push(port);
    const url = `http://127.0.0.1:${port}/metrics`;
    const w = startWorker(
      ["-A", "app.mjs", "--without-beat", "--metrics-port", String(port), "--metrics-host", "0.0.0.0", "--metrics-token", "tok"],
      {
        cwd: dir,
      },
    );
    try {
      const denied = await waitFor("the metrics endpoint", () => scrape(url), 20_000, 50).catch(() => {
        throw new Error(`no /metrics; the worker printed:\n${w.log()}`);
      });
      expect(denied.status).toBe(401);
      const ok = await scrape(url, { authorization: "Bearer tok" });
      expect(ok?.status).toBe(200);
      expect(sample(ok!.text, "celery_worker_up")).toBe(1);
    } finally {
      w.child.kill("SIGTERM");
    }
    expect(await w.exited).toBe(0);
  });
});
