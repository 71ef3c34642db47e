import { afterEach, expect, it, vi } from "vitest";
import { PostgresBackend } from "../../src/backends/postgres/postgres-backend.js";
import type { StoreRequest } from "../../src/backends/result-backend.js";
import { MemoryBroker } from "../../src/brokers/memory/memory-broker.js";
import { PostgresBroker } from "../../src/brokers/postgres/postgres-broker.js";
import { manualClock } from "../../src/clock.js";
import { poolOf, postgresSchema, type PostgresSchema } from "../support/postgres-schema.js";
import { describeWithService } from "../support/services.js";
import { textMessage } from "../support/transport-messages.js";

// PostgresBackend.finishWith: results stored and their messages acked in one statement, when the
// broker keeps its messages in the same database and schema; nothing shared otherwise.

const VT = 1_000;

function request(taskId: string, result: unknown): StoreRequest {
  return { taskId, status: "SUCCESS", result, traceback: null, children: [], lifetimeMs: 60_000, tier: null, action: "delete" };
}

await describeWithService("postgres", "postgresql finish step (store + ack in one statement)", () => {
  const closing: { close(): Promise<void> }[] = [];
  const schemas: PostgresSchema[] = [];
  afterEach(async () => {
    for (const c of closing.splice(0)) await c.close();
    for (const s of schemas.splice(0)) await s.cleanup();
  });

  async function stores() {
    const ns = await postgresSchema();
    schemas.push(ns);
    const clock = manualClock();
    const broker = await PostgresBroker.connect({ url: ns.url, clock, pollIntervalMs: 600_000 });
    const backend = await new PostgresBackend({ url: ns.url, clock }).connect();
    closing.push(broker, backend);
    return { ns, broker, backend, clock };
  }

  const messages = async (ns: PostgresSchema) => Number((await ns.sql(`SELECT count(*) AS n FROM "${ns.schema}".ebb_messages`))[0]!.n);

  it("is offered only for a PostgreSQL broker on the same database and schema", async () => {
    const { backend, broker } = await stores();
    const { broker: elsewhere } = await stores();
    const memory = new MemoryBroker();
    closing.push(memory);
    expect(backend.finishWith(elsewhere)).toBeNull();
    expect(backend.finishWith(memory)).toBeNull();
    expect(backend.finishWith(broker)).toBeTypeOf("function");
  });

  it("stores every result and acks every message of tasks finishing together, in one statement", async () => {
    const { ns, broker, backend } = await stores();
    const finish = backend.finishWith(broker)!;
    for (let i = 0; i < 20; i++) await broker.publish(textMessage(`m${i}`), { queue: "q", priority: 0, availableAt: null });
    const got = await broker.fetch(["q"], 20, { visibilityTimeoutMs: VT, waitMs: 0 });
    expect(got).toHaveLength(20);
    const spy = vi.spyOn(poolOf(backend), "query");
    const outcomes = await Promise.all(got.map((d, i) => finish(request(`id-${i}`, i), d)));
    expect(outcomes.every((o) => o.stored)).toBe(true);
    expect(spy.mock.calls.filter(([text]) => text.includes("acked AS"))).toHaveLength(1);
    spy.mockRestore();
    expect(await messages(ns)).toBe(0);
    expect(await backend.lookup("id-7", { graceMs: 60_000 })).toMatchObject({ kind: "found", result: { status: "SUCCESS", result: 7 } });
  });

  it("stores but does not ack a message whose lease another worker has taken over", async () => {
    const { ns, broker, backend, clock } = await stores();
    const finish = backend.finishWith(broker)!;
    await broker.publish(textMessage("m"), { queue: "q", priority: 0, availableAt: null });
    const [stale] = await broker.fetch(["q"], 1, { visibilityTimeoutMs: VT, waitMs: 0 });
    clock.advance(VT * 2);
    const [current] = await broker.fetch(["q"], 1, { visibilityTimeoutMs: VT, waitMs: 0 });
    expect(current?.redelivered).toBe(true);
    expect((await finish(request("id-x", "first"), stale!)).stored).toBe(true);
    // The new holder's lease is untouched: its message is still there, and comes back if it dies.
    expect(await messages(ns)).toBe(1);
    // A second finish of the same task keeps the ready result, reports it, and acks.
    expect(await finish(request("id-x", "second"), current!)).toMatchObject({ stored: false, result: { result: "first" } });
    expect(await messages(ns)).toBe(0);
  });

  it("a store that fails acks nothing: the message comes back", async () => {
    const { ns, broker, backend, clock } = await stores();
    const finish = backend.finishWith(broker)!;
    await broker.publish(textMessage("m"), { queue: "q", priority: 0, availableAt: null });
    const [d] = await broker.fetch(["q"], 1, { visibilityTimeoutMs: VT, waitMs: 0 });
    // A result PostgreSQL refuses (a NUL in text) fails the whole statement, ack included.
    await expect(finish({ ...request("id-bad", null), traceback: "nul \u0000 here" }, d!)).rejects.toThrow();
    expect(await messages(ns)).toBe(1);
    clock.advance(VT * 2);
    const [again] = await broker.fetch(["q"], 1, { visibilityTimeoutMs: VT, waitMs: 0 });
    expect(again?.redelivered).toBe(true);
  });
});
