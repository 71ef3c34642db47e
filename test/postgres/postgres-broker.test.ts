import { expect, it, vi, onTestFinished } from "vitest";
import type { Delivery } from "../../src/brokers/broker.js";
import { brokerFromUrl } from "../../src/brokers/by-url.js";
import { PostgresBroker, type PostgresBrokerOptions } from "../../src/brokers/postgres/postgres-broker.js";
import { manualClock } from "../../src/clock.js";
import { ConfigError, StoreUnavailableError } from "../../src/errors.js";
import { poolOf, testSchema, type PostgresSchema } from "../support/postgres-schema.js";
import { describeWithService, SERVICES } from "../support/services.js";
import { bodies, textMessage } from "../support/transport-messages.js";
import { waitFor } from "../support/wait.js";

// PostgreSQL-only behaviour of the broker: NOTIFY across processes (two brokers, two pools),
// polling without LISTEN, SKIP LOCKED between brokers, the store's own clock, ack batching, and
// connection errors. The Broker contract itself is in test/conformance/postgres-broker.test.ts.

/** Far beyond every deadline here: a fetch that returns in time was woken by a notification. */
const NO_POLLING = 600_000;
const VT = 60_000;
const Q = { queue: "q", priority: 0, availableAt: null };
const { host, port } = SERVICES.postgres;

async function broker(ns: PostgresSchema, opts: Partial<PostgresBrokerOptions> = {}): Promise<PostgresBroker> {
  const b = await PostgresBroker.connect({ url: ns.url, ...opts });
  onTestFinished(() => b.close());
  return b;
}

/** Resolves once `b` has looked for messages (a lease statement) and found none: a fetch started before is now waiting. */
function lookedEmpty(b: PostgresBroker): Promise<void> {
  const pool = poolOf(b);
  const query = pool.query.bind(pool);
  return new Promise((resolve) => {
    vi.spyOn(pool, "query").mockImplementation(async (text, values, on) => {
      const rows = await query(text, values, on);
      if (text.includes("SKIP LOCKED") && rows.length === 0) resolve();
      return rows as never;
    });
  });
}

/** The pid of the broker's LISTEN connection, if it is up (its last statement names the schema's channel). */
async function listenerPid(ns: PostgresSchema): Promise<number | null> {
  const [row] = await ns.sql("SELECT pid FROM pg_stat_activity WHERE starts_with(query, $1)", [`LISTEN "ebb_broker.${ns.schema}";`]);
  return (row?.pid as number | undefined) ?? null;
}

await describeWithService("postgres", "postgresql broker", () => {
  it("a waiting fetch is woken by NOTIFY from another broker (another pool), long before it would poll", async () => {
    const ns = await testSchema();
    const consumer = await broker(ns, { pollIntervalMs: NO_POLLING });
    const producer = await broker(ns, { listen: false });
    expect(consumer.listening).toBe(true);
    const looked = lookedEmpty(consumer);
    const pending = consumer.fetch(["q"], 5, { visibilityTimeoutMs: VT, waitMs: NO_POLLING });
    await looked;
    await producer.publish(textMessage("wake"), Q);
    // Only NOTIFY can end this wait within the test's timeout.
    expect(bodies(await pending)).toEqual(["wake"]);
  }, 10_000);

  it("without LISTEN, a waiting fetch still gets another broker's messages by polling", async () => {
    const ns = await testSchema();
    const consumer = await broker(ns, { listen: false, pollIntervalMs: 20 });
    const producer = await broker(ns, { listen: false });
    expect(consumer.listening).toBe(false);
    const looked = lookedEmpty(consumer);
    const pending = consumer.fetch(["q"], 5, { visibilityTimeoutMs: VT, waitMs: 8_000 });
    await looked;
    await producer.publish(textMessage("polled"), Q);
    expect(bodies(await pending)).toEqual(["polled"]);
  }, 10_000);

  it("a killed LISTEN connection: fetches keep working by polling, and the listener comes back", async () => {
    const ns = await testSchema();
    const log = { info: vi.fn(), warn: vi.fn(), error: vi.fn() };
    const consumer = await broker(ns, { pollIntervalMs: 20, log });
    const producer = await broker(ns, { listen: false });
    const first = await waitFor("the LISTEN connection", () => listenerPid(ns));
    await ns.sql("SELECT pg_terminate_backend($1)", [first]);
    await producer.publish(textMessage("during"), Q);
    expect(bodies(await consumer.fetch(["q"], 5, { visibilityTimeoutMs: VT, waitMs: 8_000 }))).toEqual(["during"]);
    const second = await waitFor("a new LISTEN connection", async () => {
      const pid = await listenerPid(ns);
      return pid !== null && pid !== first && consumer.listening && pid;
    });
    expect(second).not.toBe(first);
    expect(log.warn).toHaveBeenCalledWith(expect.stringMatching(/LISTEN on .* failed .*retrying/));
  }, 15_000);

  it("after the listener is back, NOTIFY wakes waiting fetches again", async () => {
    const ns = await testSchema();
    const consumer = await broker(ns, { pollIntervalMs: NO_POLLING });
    const producer = await broker(ns, { listen: false });
    const first = await waitFor("the LISTEN connection", () => listenerPid(ns));
    await ns.sql("SELECT pg_terminate_backend($1)", [first]);
    await waitFor("a new LISTEN connection", async () => {
      const pid = await listenerPid(ns);
      return pid !== null && pid !== first && consumer.listening;
    });
    const looked = lookedEmpty(consumer);
    const pending = consumer.fetch(["q"], 5, { visibilityTimeoutMs: VT, waitMs: NO_POLLING });
    await looked;
    await producer.publish(textMessage("again"), Q);
    expect(bodies(await pending)).toEqual(["again"]);
  }, 15_000);

  it("two brokers fetching at once never get the same message (SKIP LOCKED): 1000 messages, each exactly once", async () => {
    const ns = await testSchema();
    const a = await broker(ns, { pollIntervalMs: 10 });
    const b = await broker(ns, { pollIntervalMs: 10 });
    const total = 1_000;
    await a.publishMany(Array.from({ length: total }, (_, i) => ({ message: textMessage(`m${i}`), options: Q })));
    const seen: string[] = [];
    let left = total;
    const loop = async (on: PostgresBroker): Promise<void> => {
      while (left > 0) {
        const got = await on.fetch(["q"], 7, { visibilityTimeoutMs: VT, waitMs: 0 });
        left -= got.length;
        seen.push(...bodies(got));
        await Promise.all(got.map((d) => on.ack(d)));
        if (got.length === 0 && left > 0) await new Promise((r) => setImmediate(r));
      }
    };
    await Promise.all([...Array.from({ length: 5 }, () => loop(a)), ...Array.from({ length: 5 }, () => loop(b))]);
    expect(seen).toHaveLength(total);
    expect(new Set(seen).size).toBe(total);
    expect(await ns.sql(`SELECT count(*)::int AS n FROM "${ns.schema}".ebb_messages`)).toEqual([{ n: 0 }]);
  }, 30_000);

  it("on the store's clock: a lease that lapses is handed out again, redelivered", async () => {
    const ns = await testSchema();
    const b = await broker(ns, { pollIntervalMs: 10 });
    const before = Date.now();
    const now = await b.now();
    expect(Number.isInteger(now)).toBe(true);
    expect(Math.abs(now - before)).toBeLessThan(5_000);
    await b.publish(textMessage("m"), Q);
    const [first] = await b.fetch(["q"], 1, { visibilityTimeoutMs: 50, waitMs: 0 });
    expect(first?.redelivered).toBe(false);
    const [again] = await b.fetch(["q"], 1, { visibilityTimeoutMs: VT, waitMs: 8_000 });
    expect(again).toMatchObject({ message: { headers: { id: "m" } }, redelivered: true });
    expect(again?.tag).not.toBe(first?.tag);
    // The lapsed lease's tag no longer acks.
    await b.ack(first!);
    expect(await ns.sql(`SELECT delivered_count FROM "${ns.schema}".ebb_messages`)).toEqual([{ delivered_count: 2 }]);
    await b.ack(again!);
    expect(await ns.sql(`SELECT count(*)::int AS n FROM "${ns.schema}".ebb_messages`)).toEqual([{ n: 0 }]);
  }, 10_000);

  it("a row that is not a stored message is handed out unframed, and dead-lettered byte for byte", async () => {
    const ns = await testSchema();
    const b = await broker(ns, { pollIntervalMs: NO_POLLING });
    const junk = '{"body": "W10=", "content-type": "application/json", "headers": {}}  é not ours 😀';
    await ns.sql(`INSERT INTO "${ns.schema}".ebb_messages (queue, priority, body, visible_at, published_at) VALUES ('q', 0, $1, 0, 0)`, [
      junk,
    ]);
    const [d] = await b.fetch(["q"], 1, { visibilityTimeoutMs: VT, waitMs: 0 });
    if (d?.message !== null) throw new Error("expected an unframed delivery");
    expect(d.raw.toString("utf8")).toBe(junk);
    expect(d.reason).toMatch(/stored message is not JSON/);
    await b.deadLetter(d, d.reason);
    const { items } = await b.deadLetters();
    expect(items).toHaveLength(1);
    expect(items[0]!.raw.equals(Buffer.from(junk, "utf8"))).toBe(true);
    expect(items[0]!.message).toBeNull();
    expect(items[0]!.queue).toBe("q");
  });

  it("acks made together go as one DELETE, and leave an empty table", async () => {
    const ns = await testSchema();
    const b = await broker(ns, { pollIntervalMs: NO_POLLING });
    await b.publishMany(Array.from({ length: 300 }, (_, i) => ({ message: textMessage(`m${i}`), options: Q })));
    const got: Delivery[] = [];
    for (let i = 0; i < 3; i++) got.push(...(await b.fetch(["q"], 100, { visibilityTimeoutMs: VT, waitMs: 0 })));
    expect(got).toHaveLength(300);
    const spy = vi.spyOn(poolOf(b), "query");
    await Promise.all(got.map((d) => b.ack(d)));
    const deletes = spy.mock.calls.filter(([text]) => /^\s*DELETE/.test(text));
    expect(deletes).toHaveLength(1);
    expect(deletes[0]![1]![0]).toHaveLength(300);
    expect(await ns.sql(`SELECT count(*)::int AS n FROM "${ns.schema}".ebb_messages`)).toEqual([{ n: 0 }]);
  });

  it("where autovacuum is off, the broker vacuums the dead rows its leases and acks left (once they pass 1000)", async () => {
    const ns = await testSchema();
    const b = await broker(ns, { pollIntervalMs: NO_POLLING });
    // Off for this table whatever the server says, so the test is the same on every server.
    await ns.sql(`ALTER TABLE "${ns.schema}".ebb_messages SET (autovacuum_enabled = false)`);
    await b.publishMany(Array.from({ length: 1500 }, (_, i) => ({ message: textMessage(`m${i}`), options: Q })));
    const got: Delivery[] = [];
    while (got.length < 1500) got.push(...(await b.fetch(["q"], 500, { visibilityTimeoutMs: VT, waitMs: 0 })));
    await Promise.all(got.map((d) => b.ack(d)));
    // The statistics reach pg_stat_user_tables when the connections that wrote them report (within
    // seconds); until then a look sees too few dead rows and leaves the table alone.
    const look = await waitFor("a look that vacuums", () => b.vacuum.look().then((l) => (l?.vacuumed ? l : null)), 20_000, 200);
    expect(look.autovacuum).toBe(false);
    expect(look.dead).toBeGreaterThanOrEqual(1000);
    const after = await b.vacuum.look();
    expect(after).toMatchObject({ vacuumed: false });
    expect(after!.dead).toBeLessThan(100);
  });

  it("publishes made together go as one INSERT, in the order made", async () => {
    const ns = await testSchema();
    const b = await broker(ns, { pollIntervalMs: NO_POLLING });
    const spy = vi.spyOn(poolOf(b), "query");
    await Promise.all(Array.from({ length: 50 }, (_, i) => b.publish(textMessage(`m${i}`), Q)));
    expect(spy.mock.calls.filter(([text]) => text.includes("INSERT INTO"))).toHaveLength(1);
    expect(bodies(await b.fetch(["q"], 50, { visibilityTimeoutMs: VT, waitMs: 0 }))).toEqual(Array.from({ length: 50 }, (_, i) => `m${i}`));
  });

  it("ackIn deletes inside the caller's transaction: rolled back, the message stays; committed, it is gone", async () => {
    const ns = await testSchema();
    const b = await broker(ns, { pollIntervalMs: NO_POLLING });
    await b.publish(textMessage("m"), Q);
    const [d] = await b.fetch(["q"], 1, { visibilityTimeoutMs: VT, waitMs: 0 });
    const { default: pg } = await import("pg");
    const client = new pg.Client({ connectionString: ns.databaseUrl });
    await client.connect();
    try {
      await client.query("BEGIN");
      expect(await b.ackIn(client as never, [d!])).toBe(1);
      await client.query("ROLLBACK");
      expect(await ns.sql(`SELECT count(*)::int AS n FROM "${ns.schema}".ebb_messages`)).toEqual([{ n: 1 }]);
      await client.query("BEGIN");
      expect(await b.ackIn(client as never, [d!, { ...d!, tag: "not-ours" }])).toBe(1);
      await client.query("COMMIT");
      expect(await ns.sql(`SELECT count(*)::int AS n FROM "${ns.schema}".ebb_messages`)).toEqual([{ n: 0 }]);
    } finally {
      await client.end();
    }
    expect(b.target.schema).toBe(ns.schema);
    expect(b.target.connectionString).toBe(ns.databaseUrl);
  });

  it("takes a publishOnce key again once it lapsed, and prunes lapsed keys", async () => {
    const ns = await testSchema();
    const clock = manualClock();
    const b = await broker(ns, { clock, pollIntervalMs: NO_POLLING });
    expect(await b.publishOnce("k", textMessage("one"), Q, 1_000)).toBe(true);
    expect(await b.publishOnce("gone", textMessage("x"), Q, 500)).toBe(true);
    clock.advance(999);
    expect(await b.publishOnce("k", textMessage("early"), Q, 1_000)).toBe(false);
    clock.advance(1);
    expect(await b.publishOnce("k", textMessage("two"), Q, 1_000)).toBe(true);
    expect(bodies(await b.fetch(["q"], 10, { visibilityTimeoutMs: VT, waitMs: 0 }))).toEqual(["one", "x", "two"]);
    expect(await ns.sql(`SELECT key, expires_at FROM "${ns.schema}".ebb_publish_keys`)).toEqual([
      { key: "k", expires_at: String(clock() + 1_000) },
    ]);
    await expect(b.publishOnce("k", textMessage("bad"), Q, 0)).rejects.toThrow(/keyTtlMs.*> 0.*0/);
  });

  it("brokerFromUrl opens postgresql:// and postgres:// URLs, migrated", async () => {
    const ns = await testSchema();
    for (const url of [ns.url, ns.url.replace(/^postgresql:/, "postgres:")]) {
      const b = await brokerFromUrl(url);
      onTestFinished(() => b.close());
      expect(b).toBeInstanceOf(PostgresBroker);
      await b.publish(textMessage(url), Q);
    }
    const ids = await ns.sql(`SELECT id FROM "${ns.schema}".ebb_migrations ORDER BY id`);
    expect(ids.map((r) => r.id)).toContain("0002_broker");
  });

  it("an unreachable server or a missing database is StoreUnavailableError without the password; a bad URL is ConfigError", async () => {
    for (const url of [`postgresql://postgres:s3cret@127.0.0.1:1/test`, `postgres://postgres:s3cret@${host}:${port}/no_such_db_ebb`]) {
      const e = await PostgresBroker.connect({ url }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(StoreUnavailableError);
      expect((e as Error).message).toContain(":***@");
      expect((e as Error).message).not.toContain("s3cret");
    }
    const bad = await PostgresBroker.connect({ url: "postgresql://u:s3cret@db/x?schema=" }).catch((x: unknown) => x);
    expect(bad).toBeInstanceOf(ConfigError);
    expect((bad as Error).message).not.toContain("s3cret");
  });
});
