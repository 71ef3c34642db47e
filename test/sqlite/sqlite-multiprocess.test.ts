import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import type { ClaimOutcome } from "../../src/beat/schedule-store.js";
import { SqliteBackend } from "../../src/backends/sqlite/sqlite-backend.js";
import { SqliteBroker } from "../../src/brokers/sqlite/sqlite-broker.js";
import { MIGRATIONS, migrate } from "../../src/sqlite/migrations.js";
import { bodies, textMessage } from "../support/transport-messages.js";

// Store-only: several OS processes on one SQLite file is a property of this store (its file
// locks and BEGIN IMMEDIATE), not of the broker contract, so it lives outside the conformance suite.

const CHILD = fileURLToPath(new URL("./fixtures/sqlite-child.ts", import.meta.url));
const ROOT = fileURLToPath(new URL("../..", import.meta.url));

interface Child {
  ready: Promise<void>;
  go(): void;
  exit: Promise<{ code: number | null; stdout: string; stderr: string }>;
}

function startChild(...args: string[]): Child {
  const child = spawn(process.execPath, ["--import", "tsx", CHILD, ...args], { cwd: ROOT, stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
    if (stdout.startsWith("ready\n")) markReady();
  });
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const exit = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on("exit", (code) => resolve({ code, stdout: stdout.replace(/^ready\n/, ""), stderr })),
  );
  return { ready, go: () => child.stdin.end("go\n"), exit };
}

describe("sqlite: several processes on one file", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const tempPath = (): string => {
    const dir = mkdtempSync(join(tmpdir(), "ebb-mp-"));
    dirs.push(dir);
    return join(dir, "ebb.db");
  };

  async function migrateConcurrently(path: string): Promise<void> {
    const children = Array.from({ length: 4 }, () => startChild("migrate", path));
    await Promise.all(children.map((c) => c.ready));
    for (const c of children) c.go();
    const exits = await Promise.all(children.map((c) => c.exit));
    for (const e of exits) expect(e, e.stderr).toMatchObject({ code: 0 });

    const db = new Database(path, { readonly: true });
    expect(db.prepare("SELECT id FROM ebb_migrations ORDER BY id").pluck().all()).toEqual(MIGRATIONS.map((m) => m.id));
    expect(db.prepare("SELECT count(*) FROM ebb_messages").pluck().get()).toBe(4);
    db.close();
  }

  it("4 processes migrating a fresh file at once all succeed, and each migration runs once", async () => {
    await migrateConcurrently(tempPath());
  });

  it("4 processes upgrading a file that has older migrations all succeed", async () => {
    // The ledger already exists here, so nothing but BEGIN IMMEDIATE orders the processes.
    const path = tempPath();
    const db = new Database(path);
    migrate(db, MIGRATIONS.slice(0, 1));
    db.close();
    await migrateConcurrently(path);
  });

  /** Start n children in one mode, release them together, and return what each printed. */
  async function race<T>(n: number, ...args: string[]): Promise<T[]> {
    const children = Array.from({ length: n }, () => startChild(...args));
    await Promise.all(children.map((c) => c.ready));
    for (const c of children) c.go();
    const exits = await Promise.all(children.map((c) => c.exit));
    for (const e of exits) expect(e, e.stderr).toMatchObject({ code: 0 });
    return exits.map((e) => JSON.parse(e.stdout) as T);
  }

  it("4 beat processes claiming the same tick from the same state: exactly one wins, the others see its claim", async () => {
    const path = tempPath();
    const url = `sqlite://${path}`;
    const T0 = Date.UTC(2026, 0, 1);
    const backend = new SqliteBackend({ url });
    const store = backend.scheduleStore();
    const created = await store.claim({
      entry: "e",
      expect: null,
      schedule: "every 1s",
      lastTick: T0,
      nextTick: T0 + 1_000,
      fires: [],
      missed: 0,
      historyLimit: 100,
      claimTtlMs: 600_000,
    });
    expect(created.ok).toBe(true);

    const outcomes = await race<ClaimOutcome>(4, "claim", url, String(T0));
    expect(outcomes.filter((o) => o.ok)).toHaveLength(1);
    const history = await store.history("e", 10);
    expect(history.map((h) => h.tick)).toEqual([T0 + 1_000]);
    // BEGIN IMMEDIATE orders the claims: every loser read the state the winner left.
    for (const o of outcomes.filter((o) => !o.ok)) {
      expect(o.ok === false && o.state).toMatchObject({
        lastTick: T0 + 1_000,
        fired: 1,
        lastFire: { tick: T0 + 1_000, taskId: history[0]!.taskId },
      });
    }
    expect((await store.states(["e"])).get("e")).toMatchObject({ lastTick: T0 + 1_000, fired: 1 });
    expect((await store.unsent(0, Number.MAX_SAFE_INTEGER, 10)).map((u) => u.taskId)).toEqual([history[0]!.taskId]);
    await backend.close();
  });

  it("4 processes publishing once under one key: one message is published", async () => {
    const url = `sqlite://${tempPath()}`;
    // Opened (so created and migrated) before the race: the race is over the key, not over creating the file.
    const broker = new SqliteBroker({ url });
    const outcomes = await race<{ published: boolean; raw: string }>(4, "once", url);
    const winners = outcomes.filter((o) => o.published);
    expect(winners).toHaveLength(1);
    const got = await broker.fetch(["q"], 10, { visibilityTimeoutMs: 1_000, waitMs: 0 });
    expect(bodies(got)).toEqual([winners[0]!.raw]);
    await broker.close();
  });

  it("two consumers share 200 messages: each is consumed exactly once", async () => {
    const path = tempPath();
    const url = `sqlite://${path}`;
    const producer = new SqliteBroker({ url });
    const consumers = [startChild("consume", url), startChild("consume", url)];
    await Promise.all(consumers.map((c) => c.ready));
    // Half before the start, half while the consumers run, so they also meet new work by polling.
    const sent = Array.from({ length: 200 }, (_, i) => `m-${i}`);
    for (const raw of sent.slice(0, 100)) await producer.publish(textMessage(raw), { queue: "q", priority: 0, availableAt: null });
    for (const c of consumers) c.go();
    for (const raw of sent.slice(100)) await producer.publish(textMessage(raw), { queue: "q", priority: 0, availableAt: null });
    // Priority 9: a consumer takes a STOP only once no unleased message is left.
    for (const raw of ["STOP", "STOP"]) await producer.publish(textMessage(raw), { queue: "q", priority: 9, availableAt: null });

    const exits = await Promise.all(consumers.map((c) => c.exit));
    for (const e of exits) expect(e, e.stderr).toMatchObject({ code: 0 });
    const consumed = exits.flatMap((e) => (JSON.parse(e.stdout) as { consumed: string[] }).consumed);
    expect(consumed).toHaveLength(200);
    expect([...consumed].sort()).toEqual([...sent].sort());
    expect(await producer.fetch(["q"], 10, { visibilityTimeoutMs: 1_000, waitMs: 0 })).toEqual([]);
    await producer.close();
  });
});
