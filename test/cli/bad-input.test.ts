import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runEbb as run } from "../support/run-cli.js";
import { ebb } from "../e2e/cli-harness.js";

/** Bad input: one clear line on stderr, a sysexits status (64–78), no stack trace, no secrets. */
function expectOneLine(err: string) {
  expect(err.trim().split("\n")).toHaveLength(1);
  expect(err).not.toMatch(/\n\s+at /);
}

const dir = mkdtempSync(join(tmpdir(), "ebb-cli-bad-"));
const db = `sqlite://${join(dir, "ebb.db")}`;

describe("ebb CLI bad input", () => {
  it("rejects an unknown flag with EX_USAGE", async () => {
    const r = await run("call", "add", "--broker", db, "--frobnicate");
    expect(r.code).toBe(64);
    expect(r.err).toContain("--frobnicate");
    expectOneLine(r.err);
  });

  it("rejects an unknown command with EX_USAGE", async () => {
    const r = await run("frob");
    expect(r.code).toBe(64);
    expect(r.err).toContain("frob");
  });

  it("rejects an unparseable duration naming the flag and value", async () => {
    const r = await run("call", "add", "--broker", db, "--countdown", "5 minutes");
    expect(r.code).toBe(64);
    expect(r.err).toContain("--countdown");
    expect(r.err).toContain('"5 minutes"');
    expectOneLine(r.err);
  });

  it("rejects a negative duration", async () => {
    const r = await run("call", "add", "--broker", db, "--result-expires", "-5m");
    expect(r.code).toBe(64);
    expect(r.err).toMatch(/--result-expires.*negative/);
  });

  it("rejects --args that is not a JSON array", async () => {
    for (const bad of ["{", '{"a":1}']) {
      const r = await run("call", "add", "--broker", db, "--args", bad);
      expect(r.code).toBe(64);
      expect(r.err).toContain("--args");
      expectOneLine(r.err);
    }
  });

  it("rejects an unknown URL scheme listing the known ones, without printing the password", async () => {
    const r = await run("call", "add", "--broker", "foo://admin:s3cret@example:1/0");
    expect(r.code).toBe(64);
    expect(r.err).toContain('"foo://"');
    expect(r.err).toContain("sqlite://");
    expect(r.err).not.toContain("s3cret");
    expectOneLine(r.err);
  });

  it("reports an unreachable store (a SQLite file in a folder that does not exist) as EX_UNAVAILABLE", async () => {
    const r = await run("result", "some-id", "--backend", `sqlite://${join(dir, "no/such/folder/ebb.db")}`);
    expect(r.code).toBe(69);
    expect(r.err).toContain("no/such/folder");
    expectOneLine(r.err);
  });

  it("reports a missing app module as EX_NOINPUT", async () => {
    const r = await run("worker", "-A", join(dir, "nope.mjs"));
    expect(r.code).toBe(66);
    expect(r.err).toContain("nope.mjs");
    expectOneLine(r.err);
  });

  it("reports a module that exports no app", async () => {
    const path = join(dir, "empty.mjs");
    writeFileSync(path, "export const x = 1;\n");
    const r = await run("worker", "-A", path);
    expect(r.code).toBe(66);
    expect(r.err).toContain("exports no app");
  });

  it("reports a module whose createApp() config is wrong as EX_CONFIG naming the option", async () => {
    const path = join(dir, "badcfg.mjs");
    const index = new URL("../../dist/src/index.js", import.meta.url).href;
    writeFileSync(path, `import { createApp } from ${JSON.stringify(index)};\nexport const app = createApp({ resultExpires: "soon" });\n`);
    const r = await run("worker", "-A", path);
    expect(r.code).toBe(78);
    expect(r.err).toContain("resultExpires");
    expect(r.err).toContain('"soon"');
    expectOneLine(r.err);
  });

  it("needs -A for worker", async () => {
    const r = await run("worker");
    expect(r.code).toBe(64);
    expect(r.err).toContain("-A");
  });

  it("rejects a bad concurrency", async () => {
    const r = await run("worker", "-A", "x.mjs", "-c", "0");
    expect(r.code).toBe(64);
    expect(r.err).toContain("--concurrency");
  });

  it("rejects a bad prefetch", async () => {
    for (const bad of ["-1", "1.5", "lots"]) {
      const r = await run("worker", "-A", "x.mjs", "--prefetch", bad);
      expect(r.code).toBe(64);
      expect(r.err).toContain("--prefetch");
    }
  });

  it("prints one line and no stack trace from the real binary too", async () => {
    const r = await ebb(["result", "x", "--backend", "redis-ish://user:hunter2@h/0"]);
    expect(r.code).toBe(64);
    expect(r.stderr).not.toContain("hunter2");
    expectOneLine(r.stderr);
    expect(r.stdout).toBe("");
  });

  it("reads an unknown id as PENDING with exit 2", async () => {
    const r = await run("result", "no-such-id", "--backend", db, "--json");
    expect(r.code).toBe(2);
    expect(JSON.parse(r.out)).toMatchObject({ id: "no-such-id", state: "PENDING", result: null, expiresAt: null });
  });
});

describe("ebb --version", () => {
  it("prints the package's version and exits 0", async () => {
    const { readFileSync } = await import("node:fs");
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
    const r = await run("--version");
    expect(r.code).toBe(0);
    expect(r.out.trim()).toBe(pkg.version);
  });
});
