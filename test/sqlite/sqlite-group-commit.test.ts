import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { StoreRequest } from "../../src/backends/result-backend.js";
import { SqliteBackend } from "../../src/backends/sqlite/sqlite-backend.js";
import { MemoryBroker } from "../../src/brokers/memory/memory-broker.js";
import { SqliteBroker } from "../../src/brokers/sqlite/sqlite-broker.js";
import { manualClock } from "../../src/clock.js";
import { createApp, silentLogger } from "../../src/index.js";
import { GroupCommit } from "../../src/sqlite/group-commit.js";
import { openDatabase, type SqliteHandle } from "../../src/sqlite/open-database.js";
import { textMessage } from "../support/transport-messages.js";

const NO_POLLING = 600_000;
const GRACE = { graceMs: 60_000 };
const Q = { queue: "q", priority: 0, availableAt: null };
const LEASE = { visibilityTimeoutMs: 10_000, waitMs: 0 };

function request(taskId: string, over: Partial<StoreRequest> = {}): StoreRequest {
  return {
    taskId,
    status: "SUCCESS",
    result: `r-${taskId}`,
    traceback: null,
    children: [],
    lifetimeMs: 60_000,
    tier: null,
    action: "delete",
    ...over,
  };
}

describe("sqlite group commit: finishWith, batched stores and acks", () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  /** A broker and a backend on one temp file (manual clock), and a handle on that file to look at its rows and commits. */
  function stores(clock = manualClock()) {
    const dir = mkdtempSync(join(tmpdir(), "ebb-group-"));
    const path = join(dir, "ebb.db");
    const url = `sqlite://${path}`;
    const broker = new SqliteBroker({ url, clock, pollIntervalMs: NO_POLLING });
    const backend = new SqliteBackend({ url, clock, pollIntervalMs: NO_POLLING });
    const handle = openDatabase(path);
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    cleanups.push(async () => {
      handle.close();
      await broker.close();
      await backend.close();
    });
    const messages = () => handle.db.prepare("SELECT count(*) FROM ebb_messages").pluck().get() as number;
    return { dir, path, url, clock, broker, backend, handle, messages };
  }

  async function publishAndFetch(broker: SqliteBroker, ids: string[]) {
    await broker.publishMany(ids.map((id) => ({ message: textMessage(id), options: Q })));
    const got = await broker.fetch(["q"], ids.length, LEASE);
    expect(got.map((d) => d.message?.headers.id)).toEqual(ids);
    return got;
  }

  it("finishes made in one event-loop turn store and ack in one transaction", async () => {
    const { broker, backend, handle, messages } = stores();
    const finish = backend.finishWith(broker);
    expect(finish).not.toBeNull();
    const ids = Array.from({ length: 40 }, (_, i) => `t-${i}`);
    const deliveries = await publishAndFetch(broker, ids);
    const before = handle.commits.commits;
    const outcomes = await Promise.all(deliveries.map((d, i) => finish!(request(ids[i]!), d)));
    expect(handle.commits.commits - before).toBe(1);
    expect(outcomes.every((o) => o.stored)).toBe(true);
    expect(outcomes[7]!.result).toMatchObject({ taskId: "t-7", status: "SUCCESS", result: "r-t-7", held: false });
    expect(messages()).toBe(0);
    for (const id of ids) expect(await backend.lookup(id, GRACE)).toMatchObject({ kind: "found", result: { result: `r-${id}` } });
  });

  it("plain store() and ack() calls of one turn share one transaction too", async () => {
    const { broker, backend, handle, messages } = stores();
    const deliveries = await publishAndFetch(broker, ["a", "b", "c"]);
    const before = handle.commits.commits;
    await Promise.all([...deliveries.map((d) => broker.ack(d)), backend.store(request("a")), backend.store(request("b"))]);
    expect(handle.commits.commits - before).toBe(1);
    expect(messages()).toBe(0);
    expect((await backend.lookup("b", GRACE)).kind).toBe("found");
  });

  it("publishes made together commit as one transaction, keep their order before a publishMany, and wake a waiting fetch", async () => {
    const { broker, handle } = stores();
    const waiting = broker.fetch(["q"], 10, { visibilityTimeoutMs: 10_000, waitMs: 60_000 });
    const before = handle.commits.commits;
    await Promise.all(["a", "b", "c"].map((id) => broker.publish(textMessage(id), Q)));
    expect(handle.commits.commits - before).toBe(1);
    expect((await waiting).map((d) => d.message?.headers.id)).toEqual(["a", "b", "c"]);
    // Not awaited, then a publishMany: the queued publish goes first.
    const d = broker.publish(textMessage("d"), Q);
    await broker.publishMany([{ message: textMessage("e"), options: Q }]);
    await d;
    expect((await broker.fetch(["q"], 10, LEASE)).map((x) => x.message?.headers.id)).toEqual(["d", "e"]);
  });

  it("a batch is bounded: past maxOps the writes go in more than one transaction", async () => {
    const { backend, handle } = stores();
    const before = handle.commits.commits;
    await Promise.all(Array.from({ length: 600 }, (_, i) => backend.store(request(`m-${i}`))));
    expect(handle.commits.commits - before).toBe(3); // 256 + 256 + 88
  });

  it("one failing write rolls its whole batch back, then the others commit alone and only it fails", async () => {
    const { broker, backend, handle, messages } = stores();
    // A trigger that refuses one task id: its store fails inside the transaction, as a full disk or a constraint would.
    handle.db.exec(
      "CREATE TRIGGER refuse_poison BEFORE INSERT ON ebb_results WHEN NEW.task_id = 'poison' BEGIN SELECT RAISE(ABORT, 'poison refused'); END",
    );
    const finish = backend.finishWith(broker)!;
    const ids = ["a", "poison", "b"];
    const deliveries = await publishAndFetch(broker, ids);
    const before = handle.commits.commits;
    const settled = await Promise.allSettled(deliveries.map((d, i) => finish(request(ids[i]!), d)));
    expect(settled.map((s) => s.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect((settled[1] as PromiseRejectedResult).reason.message).toMatch(/poison refused/);
    // No batch commit: a and b went alone, after the rollback.
    expect(handle.commits.commits - before).toBe(2);
    // poison: neither stored nor acked, so it runs again; a and b: both.
    expect(messages()).toBe(1);
    expect(await backend.lookup("poison", GRACE)).toEqual({ kind: "missing" });
    expect((await backend.lookup("a", GRACE)).kind).toBe("found");
    expect((await backend.lookup("b", GRACE)).kind).toBe("found");
  });

  it("all or nothing: a write that ran before the failing one in the batch is rolled back, not kept twice", async () => {
    const { handle } = stores();
    handle.db.exec("CREATE TABLE counter (n INTEGER NOT NULL); INSERT INTO counter VALUES (0)");
    const bump = handle.db.prepare("UPDATE counter SET n = n + 1");
    const read = handle.db.prepare("SELECT n FROM counter").pluck();
    const group = new GroupCommit(handle.db);
    let seenInsideBatch = -1;
    let attempts = 0;
    const results = await Promise.allSettled([
      group.run(() => bump.run().changes),
      group.run(() => {
        attempts += 1;
        seenInsideBatch = read.get() as number;
        throw new Error("refused");
      }),
      group.run(() => bump.run().changes),
    ]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect(seenInsideBatch).toBe(1); // the first bump was there inside the batch...
    expect(attempts).toBe(2); // ...which failed, and the failing op ran once more alone
    expect(read.get()).toBe(2); // ...and was rolled back: each bump counted once
    expect(group.commits).toBe(2);
  });

  it("a failure of the transaction itself fails every write of the batch, none is retried alone", async () => {
    const { path, handle } = stores();
    // Another connection holds the write lock past a short busy timeout: BEGIN IMMEDIATE cannot start.
    const other = new (handle.db.constructor as new (p: string) => SqliteHandle["db"])(path);
    other.exec("BEGIN IMMEDIATE");
    handle.db.pragma("busy_timeout = 20");
    let ran = 0;
    const group = new GroupCommit(handle.db);
    const results = await Promise.allSettled([group.run(() => ran++), group.run(() => ran++)]);
    other.exec("ROLLBACK");
    other.close();
    handle.db.pragma("busy_timeout = 5000");
    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected"]);
    expect((results[0] as PromiseRejectedResult).reason.code).toBe("SQLITE_BUSY");
    expect(ran).toBe(0);
  });

  it("a finish whose lease was taken over stores the result but leaves the new holder's message alone", async () => {
    const { broker, backend, clock, messages } = stores();
    const finish = backend.finishWith(broker)!;
    const [stale] = await publishAndFetch(broker, ["slow"]);
    clock.advance(LEASE.visibilityTimeoutMs + 1);
    const [fresh] = await broker.fetch(["q"], 1, LEASE);
    expect(fresh?.redelivered).toBe(true);
    expect(fresh!.tag).not.toBe(stale!.tag);
    const outcome = await finish(request("slow"), stale!);
    expect(outcome.stored).toBe(true);
    expect(messages()).toBe(1); // not acked: the lease is the new holder's
    // The new holder finishes too: the ready result is kept (stored: false) and its ack lands.
    const again = await finish(request("slow", { result: "second" }), fresh!);
    expect(again).toEqual({ stored: false, result: outcome.result });
    expect(messages()).toBe(0);
  });

  it("a finish is store() then ack(): a ready result is kept, an unfinished one replaced, holds survive, watchers wake", async () => {
    const { broker, backend } = stores();
    const finish = backend.finishWith(broker)!;
    await backend.store(request("started", { status: "STARTED", result: { pid: 1 } }));
    await backend.setHeld("started", true);
    const watch = await backend.watch("started");
    const [d] = await publishAndFetch(broker, ["started"]);
    const woken = watch.changed(60_000);
    const outcome = await finish(request("started"), d!);
    await woken;
    watch.close();
    expect(outcome).toMatchObject({ stored: true, result: { status: "SUCCESS", held: true, result: "r-started" } });
    expect(await backend.lookup("started", GRACE)).toEqual({ kind: "found", result: outcome.result });
  });

  it("bad input gets a clear error, fails that call alone and acks nothing", async () => {
    const { broker, backend, messages } = stores();
    const finish = backend.finishWith(broker)!;
    const [bad, good] = await publishAndFetch(broker, ["bad", "good"]);
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    const [b1, b2, b3, ok] = await Promise.allSettled([
      finish(request("bad", { status: "DONE" as never }), bad!),
      backend.store(request("")),
      backend.store(request("x", { result: circular })),
      finish(request("good"), good!),
    ]);
    expect((b1 as PromiseRejectedResult).reason).toBeInstanceOf(TypeError);
    expect((b1 as PromiseRejectedResult).reason.message).toMatch(/status of result bad .*Celery state.*got DONE/);
    expect((b2 as PromiseRejectedResult).reason.message).toMatch(/taskId to be a non-empty string/);
    expect((b3 as PromiseRejectedResult).reason.message).toMatch(/circular/i);
    expect(ok.status).toBe("fulfilled");
    expect(messages()).toBe(1); // "bad" is still there, to run again
    expect(await backend.lookup("bad", GRACE)).toEqual({ kind: "missing" });
  });

  it("a store queued when the last user closes the file commits before the connection goes; later writes are refused", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ebb-group-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const url = `sqlite://${join(dir, "ebb.db")}`;
    const backend = new SqliteBackend({ url });
    const pending = backend.store(request("last"));
    await backend.close();
    await expect(pending).resolves.toMatchObject({ stored: true });
    await expect(backend.store(request("late"))).rejects.toThrow(/is closed/);
    const reopened = new SqliteBackend({ url });
    expect((await reopened.lookup("last", GRACE)).kind).toBe("found");
    await reopened.close();
  });

  it("finishWith is null for a broker on another file or of another kind, and not for the same file named another way", async () => {
    const { dir, broker, backend } = stores();
    const otherDir = mkdtempSync(join(tmpdir(), "ebb-group-other-"));
    cleanups.push(() => rmSync(otherDir, { recursive: true, force: true }));
    const other = new SqliteBroker({ url: `sqlite://${join(otherDir, "ebb.db")}`, pollIntervalMs: NO_POLLING });
    const memory = new MemoryBroker({ url: "memory://group-commit" });
    expect(backend.finishWith(other)).toBeNull();
    expect(backend.finishWith(memory)).toBeNull();
    expect(backend.finishWith(broker)).not.toBeNull();
    // The same file through a symbolic link to its directory, and through a relative path.
    const link = join(otherDir, "link");
    symlinkSync(dir, link);
    const viaLink = new SqliteBroker({ url: `sqlite://${join(link, "ebb.db")}`, pollIntervalMs: NO_POLLING });
    const viaRelative = new SqliteBroker({ url: `sqlite://${relative(process.cwd(), join(dir, "ebb.db"))}`, pollIntervalMs: NO_POLLING });
    expect(viaLink.file).toBe(broker.file);
    expect(backend.finishWith(viaLink)).not.toBeNull();
    expect(backend.finishWith(viaRelative)).not.toBeNull();
    // A second file in the same directory is another store.
    mkdirSync(join(dir, "sub"));
    const sibling = new SqliteBroker({ url: `sqlite://${join(dir, "sub", "ebb.db")}`, pollIntervalMs: NO_POLLING });
    expect(backend.finishWith(sibling)).toBeNull();
    for (const b of [other, memory, viaLink, viaRelative, sibling]) await b.close();
  });

  it("a worker on one SQLite file finishes through finishWith: every result stored, every message acked, far fewer commits than tasks", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ebb-group-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, "ebb.db");
    const url = `sqlite://${path}`;
    const app = createApp({ broker: url, backend: url }, { log: silentLogger });
    app.task("t.double", async (i: number) => i * 2);
    const n = 500;
    const results = await app.sendMany(
      "t.double",
      Array.from({ length: n }, (_, i) => [i]),
    );
    const handle = openDatabase(path);
    const before = handle.commits.commits;
    const worker = await app.worker({ concurrency: 50 });
    const running = worker.start();
    try {
      for (const [i, r] of results.entries()) if (i % 50 === 0) expect(await r.get({ timeoutMs: 20_000 })).toBe(i * 2);
      while (worker.processed < n) await new Promise((r) => setTimeout(r, 10));
    } finally {
      await worker.stop();
      await running;
    }
    expect(handle.db.prepare("SELECT count(*) FROM ebb_messages").pluck().get()).toBe(0);
    expect(handle.db.prepare("SELECT count(*) FROM ebb_results").pluck().get()).toBe(n);
    expect(handle.commits.commits - before).toBeLessThan(n / 5);
    handle.close();
    await app.close();
  });
});
