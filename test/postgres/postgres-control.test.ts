import { describe, expect, it, vi, onTestFinished } from "vitest";
import { createApp, type App } from "../../src/app.js";
import { channelOf } from "../../src/brokers/postgres/notify-listener.js";
import { PostgresBroker, type PostgresBrokerOptions } from "../../src/brokers/postgres/postgres-broker.js";
import { manualClock } from "../../src/clock.js";
import type { ControlCommand } from "../../src/control/broker-control.js";
import type { ControlRequest } from "../../src/control/control-request.js";
import { REVOKED_EXPIRES_MS } from "../../src/control/revoked-set.js";
import { TaskRevokedError } from "../../src/errors.js";
import { silentLogger, streamLogger } from "../../src/logger.js";
import { currentTask } from "../../src/task-context.js";
import { poolOf, testSchema, type PostgresSchema } from "../support/postgres-schema.js";
import { describeWithService } from "../support/services.js";
import { waitFor } from "../support/wait.js";

// PostgreSQL-only behaviour of remote control (postgres-control.ts): NOTIFY between brokers with
// pools of their own, polling without LISTEN, kept revokes replayed by a listener that starts
// later, pruning on the store's clock, and rows that do not read. The suite every broker with
// remote control passes is hooked in test/conformance/postgres-broker.test.ts.

/** Far beyond every deadline here: a request or reply that arrives in time came by NOTIFY. */
const NO_POLLING = 600_000;

const PING: ControlCommand = { method: "ping", arguments: {}, destination: null, pattern: null, matcher: null };
const revoke = (id: string): ControlCommand => ({ ...PING, method: "revoke", arguments: { task_id: id } });

async function broker(ns: PostgresSchema, opts: Partial<PostgresBrokerOptions> = {}): Promise<PostgresBroker> {
  const b = await PostgresBroker.connect({ url: ns.url, ...opts });
  onTestFinished(() => b.close());
  return b;
}

/** A listener that records what it was handed and answers pings as `node`. */
async function listenAs(b: PostgresBroker, node: string) {
  const seen: ControlRequest[] = [];
  const listener = await b.control.listen(async (r) => {
    seen.push(r);
    return r.method === "ping" ? { [node]: { ok: "pong" } } : null;
  });
  onTestFinished(() => listener.close());
  return { seen, listener };
}

/** An app on the schema, with a pool of its own (as a separate process would have), closed when the test ends. */
function appOn(ns: PostgresSchema): App {
  const app = createApp({ broker: ns.url, backend: ns.url }, { log: silentLogger });
  onTestFinished(() => app.close());
  return app;
}

/** The task the tests revoke, and one that holds the worker busy until its gate opens. */
function tasks(app: App) {
  const ran: number[] = [];
  let open!: () => void;
  const gate = new Promise<void>((r) => {
    open = r;
  });
  const quick = app.task("quick", async (n: number) => {
    ran.push(n);
    return n;
  });
  const busy = app.task("busy", async () => {
    const signal = currentTask().signal;
    await Promise.race([gate, new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason), { once: true }))]);
    return "done";
  });
  return { quick, busy, ran, open: () => open() };
}

describe("remote control's NOTIFY channel", () => {
  it("is per schema, and a long schema name goes by its hash within PostgreSQL's 63 bytes", () => {
    expect(channelOf("ebb_control", "jobs")).toBe("ebb_control.jobs");
    const long = channelOf("ebb_control", "é".repeat(40));
    expect(Buffer.byteLength(long)).toBeLessThanOrEqual(63);
    expect(long).toMatch(/^ebb_control\.[0-9a-f]{32}$/);
    expect(long).not.toBe(channelOf("ebb_control", "é".repeat(41)));
    expect(channelOf("ebb_control", "jobs")).not.toBe(channelOf("ebb_broker", "jobs"));
  });
});

await describeWithService("postgres", "postgresql remote control", () => {
  it("two brokers (two pools) on one schema talk by NOTIFY: the request reaches the other's listeners, the replies come back", async () => {
    const ns = await testSchema();
    const worker = await broker(ns, { pollIntervalMs: NO_POLLING });
    const other = await broker(ns, { pollIntervalMs: NO_POLLING });
    const client = await broker(ns, { pollIntervalMs: NO_POLLING });
    const a = await listenAs(worker, "ebb-a@test");
    const b = await listenAs(other, "ebb-b@test");
    // One LISTEN connection per broker carries its messages' channel and control's.
    expect(worker.listening && other.listening && client.listening).toBe(true);
    const listens = await ns.sql("SELECT query FROM pg_stat_activity WHERE starts_with(query, 'LISTEN') AND strpos(query, $1) > 0", [
      `"ebb_control.${ns.schema}"`,
    ]);
    expect(listens.map((r) => r.query)).toEqual(Array(3).fill(`LISTEN "ebb_broker.${ns.schema}"; LISTEN "ebb_control.${ns.schema}"`));
    // No poll and no collect timeout falls within the test's: only NOTIFY carries the request there and the replies back.
    const replies = await client.control.send(PING, { timeoutMs: NO_POLLING, limit: 2 });
    expect(replies).toHaveLength(2);
    expect(replies).toEqual(expect.arrayContaining([{ "ebb-a@test": { ok: "pong" } }, { "ebb-b@test": { ok: "pong" } }]));
    expect(a.seen.map((r) => r.method)).toEqual(["ping"]);
    expect(b.seen[0]?.ticket).toEqual(expect.any(String));
    // Taken by the sender, or deleted when it stopped collecting: no reply row is left behind.
    expect(await ns.sql(`SELECT count(*)::int AS n FROM "${ns.schema}".ebb_control_replies`)).toEqual([{ n: 0 }]);
  }, 15_000);

  it("an idle listener looks every poll interval only while LISTEN is down", async () => {
    const ns = await testSchema();
    const looks = async (listen: boolean) => {
      const b = await broker(ns, { listen, pollIntervalMs: 20 });
      await listenAs(b, `ebb-idle-${listen}@test`);
      const spy = vi.spyOn(poolOf(b), "query");
      // A window of 20 intervals; what is counted is how many looks fall in it.
      await new Promise((resolve) => setTimeout(resolve, 400));
      const n = spy.mock.calls.filter(([text]) => text.includes("WHERE id > $1")).length;
      spy.mockRestore();
      return n;
    };
    expect(await looks(true)).toBeLessThanOrEqual(1); // NOTIFY wakes it; a look every 5 s is the safety net
    expect(await looks(false)).toBeGreaterThanOrEqual(5);
  }, 15_000);

  it("with listen: false, requests and replies are found by polling", async () => {
    const ns = await testSchema();
    const worker = await broker(ns, { listen: false, pollIntervalMs: 20 });
    const client = await broker(ns, { listen: false, pollIntervalMs: 20 });
    const { seen } = await listenAs(worker, "ebb-p@test");
    expect(await client.control.send(PING, { timeoutMs: 8_000, limit: 1 })).toEqual([{ "ebb-p@test": { ok: "pong" } }]);
    expect(worker.listening).toBe(false);
    expect(client.listening).toBe(false);
    await client.control.send(revoke("t-1"), null);
    await waitFor("the revoke to be polled", () => seen.some((r) => r.method === "revoke"));
    expect(seen.map((r) => r.method)).toEqual(["ping", "revoke"]);
  }, 15_000);

  it("kept delivery: a listener that starts later replays the revokes (without a ticket), not the other commands", async () => {
    const ns = await testSchema();
    const client = await broker(ns, { pollIntervalMs: NO_POLLING });
    const late = await broker(ns, { pollIntervalMs: NO_POLLING });
    await client.control.send(revoke("t-1"), null);
    await client.control.send(PING, null);
    await client.control.send(revoke("t-2"), null);
    const { seen } = await listenAs(late, "ebb-late@test");
    // Replayed before listen() resolved.
    expect(seen.map((r) => [r.method, r.arguments.task_id, r.ticket])).toEqual([
      ["revoke", "t-1", null],
      ["revoke", "t-2", null],
    ]);
    // And it goes on from there: the next request is handed over once, the replayed ones not again.
    expect(await client.control.send(PING, { timeoutMs: 8_000, limit: 1 })).toEqual([{ "ebb-late@test": { ok: "pong" } }]);
    expect(seen.map((r) => r.method)).toEqual(["revoke", "revoke", "ping"]);
  }, 15_000);

  it("on the store's clock, revokes older than REVOKED_EXPIRES_MS are not replayed, and sends prune them a bounded batch at a time", async () => {
    const ns = await testSchema();
    const clock = manualClock();
    const b = await broker(ns, { clock, pollIntervalMs: NO_POLLING });
    const requests = `"${ns.schema}".ebb_control_requests`;
    const count = async () => (await ns.sql(`SELECT count(*)::int AS n FROM ${requests}`))[0]!.n;
    const sentAt = clock();
    await b.control.send(revoke("old"), null);
    expect(await ns.sql(`SELECT method, sent_at::float8 AS sent_at FROM ${requests}`)).toEqual([{ method: "revoke", sent_at: sentAt }]);
    clock.advance(REVOKED_EXPIRES_MS);
    const expired = await listenAs(b, "ebb-1@test");
    expect(expired.seen).toEqual([]);
    await expired.listener.close();

    // 150 more expired rows, newer than the first; each send deletes at most 100, oldest first.
    clock.advance(10);
    await ns.sql(`INSERT INTO ${requests} (method, body, sent_at) SELECT 'revoke', '{}', $1 FROM generate_series(1, 150)`, [sentAt + 1]);
    await b.control.send(revoke("new"), null);
    expect(await count()).toBe(151 - 100 + 1);
    expect(await ns.sql(`SELECT count(*)::int AS n FROM ${requests} WHERE body LIKE '%"old"%'`)).toEqual([{ n: 0 }]);
    await b.control.send(PING, null);
    expect(await ns.sql(`SELECT method FROM ${requests} ORDER BY id`)).toEqual([{ method: "revoke" }, { method: "ping" }]);

    const fresh = await listenAs(b, "ebb-2@test");
    expect(fresh.seen.map((r) => r.arguments.task_id)).toEqual(["new"]);
  }, 15_000);

  it("replies nobody collected are pruned once old; recent ones stay", async () => {
    const ns = await testSchema();
    const clock = manualClock();
    const b = await broker(ns, { clock, pollIntervalMs: NO_POLLING });
    const replies = `"${ns.schema}".ebb_control_replies`;
    await ns.sql(`INSERT INTO ${replies} (ticket, body, sent_at) VALUES ('gone', '{}', $1), ('recent', '{}', $2)`, [
      clock() - 24 * 3_600_000,
      clock() - 1_000,
    ]);
    await b.control.send(PING, null);
    expect(await ns.sql(`SELECT ticket FROM ${replies}`)).toEqual([{ ticket: "recent" }]);
  });

  it("a request row that does not read is logged and skipped, at start and while listening; the next one is answered", async () => {
    const ns = await testSchema();
    const lines: string[] = [];
    const b = await broker(ns, { pollIntervalMs: NO_POLLING, log: streamLogger((l) => void lines.push(l)) });
    const insert = (method: string, body: string) =>
      ns.sql(`INSERT INTO "${ns.schema}".ebb_control_requests (method, body, sent_at) VALUES ($1, $2, $3)`, [method, body, Date.now()]);
    await insert("revoke", "{not json");
    const { seen } = await listenAs(b, "ebb-bad@test");
    expect(seen).toEqual([]);
    await insert("ping", "{not json");
    await insert("ping", '{"arguments":{}}');
    expect(await b.control.send(PING, { timeoutMs: 8_000, limit: 1 })).toEqual([{ "ebb-bad@test": { ok: "pong" } }]);
    expect(seen.map((r) => r.method)).toEqual(["ping"]);
    const warnings = lines.filter((l) => l.includes("WARN Ignoring a remote control request in ebb_control_requests that does not read"));
    expect(warnings, lines.join("")).toHaveLength(3);
    expect(warnings[2]).toMatch(/a string "method"/);
  }, 15_000);

  it("a poll that cannot read is logged once with the component and the store, and its recovery once", async () => {
    const ns = await testSchema();
    const lines: string[] = [];
    const b = await broker(ns, { listen: false, pollIntervalMs: 10, log: streamLogger((l) => void lines.push(l)) });
    await listenAs(b, "ebb-down@test");
    const pool = poolOf(b);
    const polls = vi.spyOn(pool, "query");
    const pollsSoFar = () => polls.mock.calls.filter(([text]) => text.includes("WHERE id > $1")).length;
    const requests = `"${ns.schema}".ebb_control_requests`;
    await ns.sql(`ALTER TABLE ${requests} RENAME TO moved`);
    await waitFor("the failure to be logged", () => lines.some((l) => l.includes("Remote control listener (PostgreSQL at ")));
    const after = pollsSoFar();
    await waitFor("five more failed polls", () => pollsSoFar() >= after + 5);
    expect(
      lines.filter((l) => l.includes("Remote control listener")),
      lines.join(""),
    ).toHaveLength(1);
    expect(lines.find((l) => l.includes("Remote control listener"))).toMatch(
      /ERROR Remote control listener \(PostgreSQL at postgresql:\/\/.*\) failed: .*ebb_control_requests/,
    );
    await ns.sql(`ALTER TABLE "${ns.schema}".moved RENAME TO ebb_control_requests`);
    await waitFor("the recovery to be logged", () => lines.some((l) => l.includes("Remote control listener") && l.includes("works again")));
  }, 15_000);

  it("through the app, across two pools: ping finds the worker, and a revoke of a queued task ends it REVOKED unrun", async () => {
    const ns = await testSchema();
    const workerApp = appOn(ns);
    const clientApp = appOn(ns);
    const onWorker = tasks(workerApp);
    const onClient = tasks(clientApp);
    const worker = await workerApp.worker({ name: "ebb-pg@test", concurrency: 1, prefetch: 1 });
    const running = worker.start();
    onTestFinished(async () => {
      onWorker.open(); // a test that failed before opening it must not leave the busy task waiting
      await worker.stop();
      await running;
    });
    await waitFor("the worker to answer", async () => Object.keys(await clientApp.control.ping({ timeoutMs: 200 })).length === 1);
    expect(await clientApp.control.inspect().ping()).toEqual({ "ebb-pg@test": { ok: "pong" } });

    const blocker = await onClient.busy.delay();
    await waitFor("the busy task to run", () => worker.active === 1);
    const queued = await onClient.quick.delay(1);
    expect(await clientApp.control.revoke(queued.id, { reply: true })).toEqual({
      "ebb-pg@test": { ok: expect.stringMatching(/flagged as revoked/) },
    });
    onWorker.open();
    expect(await blocker.get({ timeoutMs: 8_000 })).toBe("done");
    const err = await queued.get({ timeoutMs: 8_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TaskRevokedError);
    expect((err as TaskRevokedError).reason).toBe("revoked");
    expect(onWorker.ran).toEqual([]);
  }, 20_000);

  it("through the app: a revoke sent before the worker process starts still reaches it (kept), and the task ends REVOKED unrun", async () => {
    const ns = await testSchema();
    const clientApp = appOn(ns);
    const onClient = tasks(clientApp);
    const taskId = "revoked-before-the-worker";
    expect(await clientApp.control.revoke(taskId)).toEqual({});
    const revoked = await onClient.quick.applyAsync([1], { taskId });
    const after = await onClient.quick.delay(2);

    const workerApp = appOn(ns);
    const onWorker = tasks(workerApp);
    const worker = await workerApp.worker({ name: "ebb-later@test" });
    const running = worker.start();
    onTestFinished(async () => {
      await worker.stop();
      await running;
    });
    expect(await after.get({ timeoutMs: 8_000 })).toBe(2);
    expect(((await revoked.get({ timeoutMs: 8_000 }).catch((e: unknown) => e)) as TaskRevokedError).reason).toBe("revoked");
    expect(onWorker.ran).toEqual([2]);
  }, 20_000);
});
