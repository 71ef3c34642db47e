import { afterEach, beforeEach, expect, it } from "vitest";
import { readReference } from "../fixtures/celery-reference.js";
import { describeWithService } from "../support/services.js";
import { namespace, type Namespace } from "./redis-broker-helpers.js";
import { textMessage } from "../support/transport-messages.js";

// Store-only cases: restoring unacked entries that Python workers wrote, or that nobody should
// have. kombu's entry format and its exchange bindings exist only on the Redis transport.

const VT = 1_000;
const NOW = { visibilityTimeoutMs: VT, waitMs: 0 };

await describeWithService("redis", "redis broker: restoring kombu's unacked entries", () => {
  let ns: Namespace;
  beforeEach(async () => {
    ns = await namespace();
  });
  afterEach(() => ns.cleanup());
  const key = (name: string): string => `${ns.prefix}${name}`;
  /** An entry as a Python worker leaves it when it dies mid-task, scored long ago. */
  const unacked = async (field: string, value: string | null): Promise<void> => {
    if (value !== null) await ns.redis.hset(key("unacked"), field, value);
    await ns.redis.zadd(key("unacked_index"), (ns.clock() - 10 * VT) / 1000, field);
  };

  it("puts a Python worker's expired message back on the list for its priority, flagged redelivered", async () => {
    const broker = await ns.broker();
    const p5 = readReference("broker_messages/msg_priority_5_custom_task_id.raw.json");
    await unacked("t-p5", `[${p5}, "", "celery"]`);
    const [d] = await broker.fetch(["celery"], 1, NOW);
    expect(d).toMatchObject({ queue: "celery", redelivered: true });
    expect(d!.message).toMatchObject({ headers: { id: "my-custom-id-0001", redelivered: true }, properties: { priority: 5 } });
    // Served from celery\x06\x163, where kombu >= 5.3 restores it too.
    await broker.release(d!, null);
    expect(await ns.redis.llen(key("celery\x06\x163"))).toBe(1);
  });

  it("follows the exchange's bindings when the entry names one, as kombu's _lookup does", async () => {
    const broker = await ns.broker();
    await ns.redis.sadd(key("_kombu.binding.tasks"), "route.a\x06\x16\x06\x16queue-a", "route.b\x06\x16\x06\x16queue-b");
    await unacked(
      "t-a",
      `[{"headers": {"id": "x"}, "properties": {"delivery_info": {"exchange": "tasks", "routing_key": "route.a"}}}, "tasks", "route.a"]`,
    );
    const [d] = await broker.fetch(["queue-a", "queue-b"], 10, NOW);
    expect(d).toMatchObject({ queue: "queue-a", redelivered: true });
    expect(await broker.fetch(["queue-b"], 10, NOW)).toEqual([]);
  });

  it("keeps what kombu would drop: an unreadable entry or an unroutable one goes to the dead letters", async () => {
    const broker = await ns.broker();
    await unacked("t-bad", "not json at all");
    await unacked("t-lost", `[{"headers": {"id": "y"}}, "nowhere", "nothing"]`);
    await unacked("t-gone", null);
    expect(await broker.fetch(["celery"], 10, NOW)).toEqual([]);
    const { items: dead } = await broker.deadLetters();
    expect(dead.map((d) => d.raw.toString("utf8")).sort()).toEqual(
      ["not json at all", '{"headers": {"id": "y", "redelivered": true}}'].sort(),
    );
    expect(dead.find((d) => d.raw.toString("utf8") === "not json at all")?.reason).toMatch(/not JSON \[message, exchange, routing_key\]/);
    expect(dead.find((d) => d.queue === "nothing")?.reason).toMatch(/no queue is bound to exchange "nowhere"/);
    expect(await ns.redis.exists(key("unacked"), key("unacked_index"), key("unacked_mutex"))).toBe(0);
  });

  it("leaves the entries alone while another process holds unacked_mutex, then restores them", async () => {
    const broker = await ns.broker();
    await broker.publish(textMessage("m"), { queue: "q", priority: 0, availableAt: null });
    await broker.fetch(["q"], 1, NOW);
    await ns.redis.set(key("unacked_mutex"), "python-worker-token", "PX", 300_000);
    ns.clock.advance(VT);
    expect(await broker.fetch(["q"], 1, NOW)).toEqual([]);
    expect(await ns.redis.get(key("unacked_mutex"))).toBe("python-worker-token");
    await ns.redis.unlink(key("unacked_mutex"));
    // The broker leaves restoring to the mutex holder for a second, then looks again.
    const [again] = await broker.fetch(["q"], 1, { visibilityTimeoutMs: VT, waitMs: 3_000 });
    expect(again).toMatchObject({ message: { headers: { id: "m" } }, redelivered: true });
  });
});
