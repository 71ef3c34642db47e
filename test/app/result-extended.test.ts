/**
 * resultExtended (Celery's result_extended): the call itself (task name, args, kwargs, worker,
 * retries, queue) is stored with a result, and copied into archives, only when it is on. Off by
 * default, as in Celery: arguments often hold personal data and results outlive the call.
 */
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import type { App } from "../../src/app.js";
import type { StoredResult } from "../../src/backends/result-backend.js";
import { currentTask } from "../../src/task-context.js";
import { clockedApp, newApp, startWorker, until } from "./helpers.js";

const EXTENDED = ["name", "args", "kwargs", "worker", "retries", "queue"] as const;

async function stored(app: App, id: string): Promise<StoredResult> {
  const got = await (await app.backend()).lookup(id, { graceMs: 0 });
  if (got.kind !== "found") throw new Error(`result ${id} not found (${got.kind})`);
  return got.result;
}

const extendedOf = (r: StoredResult): Record<string, unknown> => Object.fromEntries(EXTENDED.map((k) => [k, r[k]]));
const NONE = Object.fromEntries(EXTENDED.map((k) => [k, null]));

describe("resultExtended", () => {
  it("is off by default: a success, a failure and a RETRY are stored without the call's name, args, kwargs, worker, retries or queue", async () => {
    const app = newApp();
    const ok = app.task("signup", async (email: string) => `welcome ${email.length}`);
    const bad = app.task("charge", async (_card: string) => {
      throw new Error("declined");
    });
    const again = app.task(
      "notify",
      async (_to: string) => {
        if (currentTask().retries === 0) currentTask().retry({ countdown: "1h" });
      },
      { maxRetries: 1 },
    );
    await startWorker(app);
    const a = await ok.delay("alice@example.com");
    const b = await bad.applyAsync(["4111-1111"], { kwargs: { cvc: "123" } });
    const c = await again.delay("bob@example.com");
    await a.get({ timeoutMs: 10_000 });
    await expect(b.get({ timeoutMs: 10_000 })).rejects.toThrow("declined");
    await until(async () => (await c.state()) === "RETRY", "the third task stored RETRY");

    for (const res of [a, b, c]) {
      const r = await stored(app, res.id);
      expect(extendedOf(r)).toEqual(NONE);
      expect(JSON.stringify(r)).not.toMatch(/alice@|4111-1111|"123"|bob@/);
    }
  });

  it("createApp({ resultExtended: true }) stores them, as Celery does with result_extended=True", async () => {
    const app = newApp({ resultExtended: true });
    const t = app.task("echo", async (a: number, b: string) => [a, b]);
    const { worker } = await startWorker(app);
    const res = await t.applyAsync([1, "x"], { kwargs: { k: [1, { n: null }] }, queue: "celery" });
    await res.get({ timeoutMs: 10_000 });
    expect(extendedOf(await stored(app, res.id))).toEqual({
      name: "echo",
      args: [1, "x"],
      kwargs: { k: [1, { n: null }] },
      worker: worker.name,
      retries: 0,
      queue: "celery",
    });
  });

  it("a task's resultExtended overrides the app's, either way", async () => {
    const off = newApp();
    const on = newApp({ resultExtended: true });
    const loud = off.task("loud", async (x: number) => x, { resultExtended: true });
    const quiet = on.task("quiet", async (x: number) => x, { resultExtended: false });
    await startWorker(off);
    await startWorker(on);
    const [l, q] = [await loud.delay(7), await quiet.delay(8)];
    await l.get({ timeoutMs: 10_000 });
    await q.get({ timeoutMs: 10_000 });
    expect(await stored(off, l.id)).toMatchObject({ name: "loud", args: [7], retries: 0 });
    expect(extendedOf(await stored(on, q.id))).toEqual(NONE);
  });

  it("a task option that is not a boolean is named in the error", () => {
    const app = newApp();
    expect(() => app.task("t", async () => 1, { resultExtended: "yes" as unknown as boolean })).toThrow(/task "t".*resultExtended/);
  });

  it("archives carry args and kwargs only for results stored with resultExtended", async () => {
    const archiveDir = join(mkdtempSync(join(tmpdir(), "ebb-ext-")), "archives");
    const { app, clock } = await clockedApp({ archiveDir, tiers: { "audit-short": { expires: "1m", action: "archive" } } });
    const plain = app.task("audit.plain", async (_who: string) => "ok", { tier: "audit-short" });
    const extended = app.task("audit.extended", async (_who: string) => "ok", { tier: "audit-short", resultExtended: true });
    await startWorker(app);
    const [p, e] = [await plain.delay("carol@example.com"), await extended.delay("dave@example.com")];
    await p.get({ timeoutMs: 10_000 });
    await e.get({ timeoutMs: 10_000 });
    clock.advance(2 * 60_000);
    const run = await app.sendTask<{ archive: { archived: number } }>("celery.backend_cleanup");
    expect((await run.get({ timeoutMs: 20_000 })).archive.archived).toBe(2);

    const [file] = readdirSync(archiveDir).filter((f) => f.endsWith(".jsonl.gz"));
    const lines = gunzipSync(readFileSync(join(archiveDir, file!)))
      .toString("utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const byId = new Map(lines.map((l) => [l.task_id, l]));
    expect(byId.get(p.id)).toMatchObject({ args: null, kwargs: null, name: null, worker: null });
    expect(JSON.stringify(byId.get(p.id))).not.toContain("carol@");
    expect(byId.get(e.id)).toMatchObject({ name: "audit.extended", args: ["dave@example.com"], kwargs: {} });
  });
});
