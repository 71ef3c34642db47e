import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { runEbbWith } from "../support/run-cli.js";
import { createApp } from "../../src/index.js";
import { silentLogger } from "../../src/logger.js";

// `ebb call --stdin`: many calls from JSON Lines, sent in chunks (app.sendMany), one id per line out.

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function run(stdin: string, ...argv: string[]) {
  const r = await runEbbWith({ stdin: Readable.from([stdin]) }, ...argv);
  return { code: r.code, out: r.out, err: r.err };
}

function db(): string {
  const dir = mkdtempSync(join(tmpdir(), "ebb-call-stdin-"));
  dirs.push(dir);
  return `sqlite://${join(dir, "ebb.db")}`;
}

/** The task messages queued on `url`, in the order a worker gets them. */
async function queued(url: string) {
  const app = createApp({ broker: url, backend: url }, { log: silentLogger });
  try {
    const broker = await app.broker();
    const got = await broker.fetch(["celery"], 5_000, { visibilityTimeoutMs: 60_000, waitMs: 0 });
    return got.map((d) => d.message!.headers as { id: string; task: string; argsrepr: string; kwargsrepr: string });
  } finally {
    await app.close();
  }
}

describe("ebb call --stdin", () => {
  it("sends one call per line, in order, and prints their ids in the same order", async () => {
    const url = db();
    const lines = [
      "[1, 2]",
      "",
      '{"args": [3, 4]}',
      '{"task": "other", "args": ["x"], "kwargs": {"k": 1}}',
      ...Array.from({ length: 1_500 }, (_, i) => `[${i}, 0]`),
    ];
    const r = await run(`${lines.join("\n")}\n`, "call", "add", "--stdin", "--broker", url);
    expect(r.code, r.err).toBe(0);
    const ids = r.out.trim().split("\n");
    expect(ids).toHaveLength(1_503);
    const msgs = await queued(url);
    expect(msgs.map((m) => m.id)).toEqual(ids);
    expect(msgs.slice(0, 4).map((m) => [m.task, m.argsrepr, m.kwargsrepr])).toEqual([
      ["add", "[1,2]", "{}"],
      ["add", "[3,4]", "{}"],
      ["other", '["x"]', '{"k":1}'],
      ["add", "[0,0]", "{}"],
    ]);
  });

  it("--json prints one object per call", async () => {
    const r = await run("[1]\n[2]\n", "call", "t", "--stdin", "--json", "--broker", db());
    expect(r.code, r.err).toBe(0);
    expect(
      r.out
        .trim()
        .split("\n")
        .map((l) => Object.keys(JSON.parse(l))),
    ).toEqual([["id"], ["id"]]);
  });

  it("a bad line stops the command before its chunk is sent, names the line, and exits 65", async () => {
    const url = db();
    const r = await run('[1]\n[2]\n{"args": 5}\n[4]\n', "call", "t", "--stdin", "--broker", url);
    expect(r.code).toBe(65);
    expect(r.err).toMatch(
      /stdin line 3: "args" must be an array, got 5 \(number\); expected a JSON array .* 0 call\(s\) before it were sent .* it and the 2 checked call\(s\) waiting with it were not/,
    );
    expect(r.out).toBe("");
    expect(await queued(url)).toEqual([]);
    const notJson = await run("[1]\nnope\n", "call", "t", "--stdin", "--broker", url);
    expect(notJson.code).toBe(65);
    expect(notJson.err).toMatch(/stdin line 2: not JSON \(starts "nope"\)/);
    const noTask = await run("[1]\n", "call", "--stdin", "--broker", url);
    expect(noTask.err).toMatch(/stdin line 1: a bare argument array needs the task name on the command line/);
  });

  it("refuses --args with --stdin, and a call with neither a task nor --stdin", async () => {
    const url = db();
    const both = await run("", "call", "t", "--stdin", "--args", "[1]", "--broker", url);
    expect(both.code).toBe(64);
    expect(both.err).toMatch(/With --stdin the arguments come from each line/);
    const none = await run("", "call", "--broker", url);
    expect(none.code).toBe(64);
    expect(none.err).toMatch(/ebb call needs a task name/);
  });
});
