import { spawn } from "node:child_process";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { archiveResults } from "../../src/archive/archive-results.js";
import { backendFromUrl } from "../../src/backends/by-url.js";
import type { ResultBackend } from "../../src/backends/result-backend.js";
import type { RetentionStore } from "../../src/backends/retention-store.js";
import { SqliteBackend } from "../../src/backends/sqlite/sqlite-backend.js";
import { done, scratch } from "../archive/helpers.js";
import { EBB_BIN } from "./cli-harness.js";

/**
 * Output is never lost: the real binary, its stdout a real pipe, several megabytes of output.
 * process.exit() used to run before a pipe had taken the output, cutting it at 64 KiB with
 * status 0, and a reader that closed the pipe (| head -1) got an EPIPE stack trace.
 */
const RESULTS = 100_000;
const BIG = 10 * 1024 * 1024;

let dir: string;
let cleanup: () => void;
let archive: string;
let expectedLines: Buffer;
let db: string;
let bigId: string;
let bigValue: string;

beforeAll(async () => {
  ({ dir, cleanup } = scratch());
  // 100k results archived in-process from a memory store: the archive is what `ebb restore` prints.
  const store = (await backendFromUrl(`memory://cli-output-${process.pid}`)) as RetentionStore & ResultBackend;
  const now = await store.now();
  for (let i = 0; i < RESULTS; i++) await store.put(done(`id-${i}`, now, 3_600_000, 60_000), { replace: true });
  archive = join(dir, "a.jsonl.gz");
  const out = await archiveResults(store, { to: archive, olderThanMs: 0, source: "memory://" });
  expect(out.archived).toBe(RESULTS);
  await store.close();
  expectedLines = gunzipSync(readFileSync(archive));
  // One 10 MB result in a SQLite file, for `ebb result ID --json`.
  db = `sqlite://${join(dir, "ebb.db")}`;
  const sqlite = new SqliteBackend({ url: db });
  bigId = "big-result";
  bigValue = "é".repeat(BIG / 2) + "x".repeat(7);
  await sqlite.store({
    taskId: bigId,
    status: "SUCCESS",
    result: { text: bigValue },
    traceback: null,
    children: [],
    lifetimeMs: null,
    tier: null,
    action: "delete",
    name: "big",
  });
  await sqlite.close();
}, 120_000);

afterAll(() => cleanup?.());

interface Piped {
  code: number | null;
  stdout: Buffer;
  stderr: string;
  fd3: string;
}

/** Spawn with every stdio a pipe and read all of it as bytes. */
function piped(command: string, args: string[], extraFd = false): Promise<Piped> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe", ...(extraFd ? (["pipe"] as const) : [])] });
    const out: Buffer[] = [];
    let stderr = "";
    let fd3 = "";
    child.stdout!.on("data", (d: Buffer) => out.push(d));
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    if (extraFd) (child.stdio[3] as NodeJS.ReadableStream).on("data", (d: Buffer) => (fd3 += d.toString()));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${args.join(" ")} did not finish in 60 s; stderr: ${stderr}`));
    }, 60_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out), stderr, fd3 });
    });
  });
}

describe("ebb output through a pipe", () => {
  it("ebb restore prints every line of an archive of 100k results, byte for byte", async () => {
    const r = await piped(process.execPath, [EBB_BIN, "restore", archive]);
    expect(r.stderr).toBe(`restore: found ${RESULTS}\n`);
    expect(r.code).toBe(0);
    expect(r.stdout.length).toBeGreaterThan(5_000_000);
    expect(r.stdout.length).toBe(expectedLines.length);
    expect(r.stdout.equals(expectedLines)).toBe(true);
  }, 90_000);

  it("ebb restore --json prints its whole object", async () => {
    const r = await piped(process.execPath, [EBB_BIN, "restore", archive, "--json"]);
    expect(r.code).toBe(0);
    const text = r.stdout.toString();
    expect(text.endsWith("}\n")).toBe(true);
    const json = JSON.parse(text) as { found: number; entries: unknown[]; truncated: boolean };
    expect(json.found).toBe(RESULTS);
    expect(json.entries).toHaveLength(1000);
    expect(json.truncated).toBe(true);
  }, 90_000);

  it("ebb result ID --json prints a 10 MB result, byte for byte", async () => {
    const r = await piped(process.execPath, [EBB_BIN, "result", bigId, "--json", "--backend", db]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const text = r.stdout.toString("utf8");
    expect(r.stdout.length).toBeGreaterThan(BIG);
    expect(text.endsWith("}\n")).toBe(true);
    const json = JSON.parse(text) as { id: string; state: string; result: { text: string } };
    expect(json.id).toBe(bigId);
    expect(json.result.text).toBe(bigValue);
    expect(text).toBe(`${JSON.stringify({ ...json })}\n`);
  }, 90_000);

  it("ebb restore | head -1 ends quietly: one line, nothing on stderr, status 0", async () => {
    // ebb's own status comes out on fd 3; its stderr is the shell's.
    const script = `("$0" "$1" restore "$2"; echo "ebb exit $?" >&3) | head -1`;
    const r = await piped("sh", ["-c", script, process.execPath, EBB_BIN, archive], true);
    expect(r.stderr).toBe("");
    expect(r.fd3).toBe("ebb exit 0\n");
    expect(r.code).toBe(0);
    const first = expectedLines.subarray(0, expectedLines.indexOf(10) + 1);
    expect(r.stdout.equals(first)).toBe(true);
  }, 90_000);
});
