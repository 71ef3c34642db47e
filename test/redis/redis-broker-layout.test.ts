import { afterEach, beforeEach, expect, it } from "vitest";
import { frameKombuEnvelope, parseKombuEnvelope } from "../../src/brokers/redis/kombu-envelope.js";
import { decodeTaskMessage, encodeTaskMessage, makeTaskMessage } from "../../src/protocol/task-message.js";
import { listReference, loadRedisVariants, readReference } from "../fixtures/celery-reference.js";
import { describeWithService } from "../support/services.js";
import { textMessage } from "../support/transport-messages.js";
import { bodyOfEntry, monitorArgs, namespace, type Namespace } from "./redis-broker-helpers.js";

// Store-only cases: the exact keys, bytes and scores of kombu's Redis transport are what lets
// Python Celery share queues with Ebb; the shared conformance suite cannot see them.

const NOW = { visibilityTimeoutMs: 1_000, waitMs: 0 };
const P3 = "\x06\x163";
/** The delivery_tag kombu's framing gave a list entry (random per publish). */
const tagOf = (entry: string): string => (JSON.parse(entry) as { properties: { delivery_tag: string } }).properties.delivery_tag;

await describeWithService("redis", "redis broker: kombu's layout", () => {
  let ns: Namespace;
  beforeEach(async () => {
    ns = await namespace();
  });
  afterEach(() => ns.cleanup());
  const key = (name: string): string => `${ns.prefix}${name}`;

  it("an Ebb-published message lands in the kombu list and binding, byte for byte", async () => {
    const broker = await ns.broker();
    const message = encodeTaskMessage(makeTaskMessage({ task: "probe.add", args: [2, 3] }));
    await broker.publish(message, { queue: "celery", priority: 0, availableAt: null });
    const [entry, ...more] = await ns.redis.lrange(key("celery"), 0, -1);
    expect(more).toEqual([]);
    expect(entry).toBe(frameKombuEnvelope(message, "celery", 0, tagOf(entry!)));
    expect(await ns.redis.smembers(key("_kombu.binding.celery"))).toEqual(["celery\x06\x16\x06\x16celery"]);
    for (const step of ["\x06\x163", "\x06\x166", "\x06\x169"]) expect(await ns.redis.exists(key(`celery${step}`))).toBe(0);
  });

  it("publishOnce lands exactly where publish does, beside a key of its own that expires", async () => {
    const broker = await ns.broker();
    const raw = encodeTaskMessage(makeTaskMessage({ task: "probe.add", args: [2, 3], priority: 3 }));
    expect(await broker.publishOnce("beat:e:1", raw, { queue: "celery", priority: 3, availableAt: null }, 60_000)).toBe(true);
    const [entry, ...more] = await ns.redis.lrange(key(`celery${P3}`), 0, -1);
    expect(more).toEqual([]);
    expect(entry).toBe(frameKombuEnvelope(raw, "celery", 3, tagOf(entry!)));
    expect(await ns.redis.smembers(key("_kombu.binding.celery"))).toEqual(["celery\x06\x16\x06\x16celery"]);
    const pttl = await ns.redis.pttl(key("ebb.once.beat:e:1"));
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(60_000);
    // Taken: nothing is written, not even the binding of another queue.
    expect(await broker.publishOnce("beat:e:1", raw, { queue: "other", priority: 0, availableAt: null }, 60_000)).toBe(false);
    expect(await ns.redis.exists(key("other"), key("_kombu.binding.other"))).toBe(0);
  });

  it("fetches a message a Celery client pushed, exactly as it was, and it decodes", async () => {
    const broker = await ns.broker();
    const plain = readReference("broker_messages/msg_plain.raw.json");
    const restoredByCelery = readReference("broker_messages/msg_eta_retry_restored_at_warm_shutdown.raw.json");
    await ns.redis.lpush(key("celery"), plain, restoredByCelery);
    const [first, second] = await broker.fetch(["celery"], 10, NOW);
    expect(first).toMatchObject({ message: parseKombuEnvelope(plain), queue: "celery", redelivered: false });
    expect(decodeTaskMessage(first!.message!, first!.queue)).toMatchObject({
      task: "probe.add",
      args: [2, 3],
      id: "44d20ee2-5c67-4102-bea1-aee870fcb508",
    });
    // kombu flags a message it put back in headers and delivery_info; Ebb reads the flag.
    expect(second).toMatchObject({ message: parseKombuEnvelope(restoredByCelery), redelivered: true });
  });

  it("fetches every message variant a Celery client sent, from the list it used, byte for byte", async () => {
    const broker = await ns.broker();
    const variants = Object.values(loadRedisVariants());
    for (const v of variants) await ns.redis.lpush(key(v.redis_list_key), v.raw_list_entry);
    const extra = listReference("broker_messages", ".raw.json").map((f) => readReference(`broker_messages/${f}`));
    for (const raw of extra) await ns.redis.lpush(key("celery"), raw);
    const got = await broker.fetch(["celery"], 100, NOW);
    const pushed = [...variants.map((v) => v.raw_list_entry), ...extra];
    const asText = (m: unknown) => JSON.stringify(m);
    expect(got.map((d) => asText(d.message)).sort()).toEqual(pushed.map((raw) => asText(parseKombuEnvelope(raw))).sort());
    // And byte for byte: each one's unacked value holds the very list entry.
    const values = await ns.redis.hvals(key("unacked"));
    expect(values.map((v) => v.slice(1, -', "", "celery"]'.length)).sort()).toEqual([...pushed].sort());
    for (const d of got) expect(decodeTaskMessage(d.message!, d.queue).id).toBe(d.message!.headers.id);
  });

  it("two copies of one envelope in flight get separate unacked fields, so acking one keeps the other", async () => {
    const broker = await ns.broker();
    const plain = readReference("broker_messages/msg_plain.raw.json");
    await ns.redis.lpush(key("celery"), plain, plain);
    const [a, b] = await broker.fetch(["celery"], 2, NOW);
    expect(a!.tag).not.toBe(b!.tag);
    expect(await ns.redis.hlen(key("unacked"))).toBe(2);
    await broker.ack(a!);
    expect(await ns.redis.hlen(key("unacked"))).toBe(1);
    await broker.ack(b!);
    expect(await ns.redis.exists(key("unacked"), key("unacked_index"))).toBe(0);
  });

  it("puts priority 5 on celery\\x06\\x163, as Celery does, and serves priority 0 before it", async () => {
    const broker = await ns.broker();
    const celeryP5 = readReference("broker_messages/msg_priority_5_custom_task_id.raw.json");
    await broker.publish(textMessage("ebb-p5"), { queue: "celery", priority: 5, availableAt: null });
    await ns.redis.lpush(key(`celery${P3}`), celeryP5);
    await broker.publish(textMessage("ebb-p0"), { queue: "celery", priority: 0, availableAt: null });
    const [first, second] = await ns.redis.lrange(key(`celery${P3}`), 0, -1);
    expect(first).toBe(celeryP5);
    expect(bodyOfEntry(second!)).toBe("ebb-p5");
    const got = await broker.fetch(["celery"], 10, NOW);
    expect(got.map((d) => d.message?.headers.id)).toEqual(["ebb-p0", "ebb-p5", "my-custom-id-0001"]);
    expect(decodeTaskMessage(got[2]!.message!, got[2]!.queue)).toMatchObject({ id: "my-custom-id-0001", priority: 5 });
  });

  it("records a lease as kombu does: the same unacked bytes a Python worker wrote, scored in unix seconds", async () => {
    // The worker log: the LPUSH of one message and the HSET kombu made when it fetched it.
    const log = readReference("redis_monitor_worker_solo_lifecycle.log").split("\n");
    const hset = monitorArgs(log.find((l) => l.includes('"HSET" "unacked"'))!);
    const [, , tag, kombuValue] = hset;
    const pushed = log.map(monitorArgs).find((a) => a[0] === "LPUSH" && a[2]!.includes(tag!))![2]!;
    const snapshot = JSON.parse(readReference("redis_unacked_snapshot_midtask.json")) as { unacked_index_zset: [string, number][] };
    const [, kombuScore] = snapshot.unacked_index_zset[0]!;

    ns.clock.set(kombuScore * 1000);
    const broker = await ns.broker();
    await ns.redis.lpush(key("celery"), pushed);
    const [d] = await broker.fetch(["celery"], 1, NOW);
    expect(await ns.redis.hkeys(key("unacked"))).toEqual([tag]);
    expect(await ns.redis.hget(key("unacked"), tag!)).toBe(kombuValue);
    expect(Number(await ns.redis.zscore(key("unacked_index"), tag!))).toBeCloseTo(kombuScore, 5);
    await broker.ack(d!);
    expect(await ns.redis.exists(key("unacked"), key("unacked_index"))).toBe(0);

    // Without an injected clock the score is Redis's time, in seconds like Python's time().
    const serverTimed = await ns.broker({ clock: null });
    await ns.redis.lpush(key("celery"), pushed);
    await serverTimed.fetch(["celery"], 1, NOW);
    const [seconds] = await ns.redis.time();
    expect(Number(await ns.redis.zscore(key("unacked_index"), tag!))).toBeCloseTo(Number(seconds), -1);
  });

  it("hands out an entry that is not an envelope unframed, with its bytes and the reason, stored as a JSON string so the unacked hash stays kombu-readable", async () => {
    const broker = await ns.broker();
    await ns.redis.lpush(key("q"), 'not json {"');
    const [d] = await broker.fetch(["q"], 1, NOW);
    const [field] = await ns.redis.hkeys(key("unacked"));
    expect(JSON.parse((await ns.redis.hget(key("unacked"), field!))!)).toEqual(['not json {"', "", "q"]);
    if (d?.message !== null) throw new Error("expected an unframed delivery");
    expect(d.raw.toString("utf8")).toBe('not json {"');
    expect(d.reason).toMatch(/not JSON/);
    // Released, it goes back as it was.
    await broker.release(d, null);
    expect(await ns.redis.lrange(key("q"), 0, -1)).toEqual(['not json {"']);
  });

  it("restores like kombu: RPUSH back with headers and delivery_info marked redelivered, index and hash cleared", async () => {
    const broker = await ns.broker();
    const plain = readReference("broker_messages/msg_plain.raw.json");
    await ns.redis.lpush(key("celery"), plain);
    await broker.fetch(["celery"], 1, NOW);
    await ns.redis.lpush(key("celery"), "newer");
    ns.clock.advance(1_000);
    const [again] = await broker.fetch(["celery"], 1, NOW);
    // RPUSH: the restored message is served before the newer one.
    expect(again?.redelivered).toBe(true);
    expect(again!.message!.headers.redelivered).toBe(true);
    // The same bytes kombu's restore produced: "redelivered": true appended, Python's separators
    // (in the unacked value, which holds the list entry as it was fetched).
    const restored = plain
      .trimEnd()
      .replace('"ignore_result": false}', '"ignore_result": false, "redelivered": true}')
      .replace('"routing_key": "celery"}', '"routing_key": "celery", "redelivered": true}');
    expect(await ns.redis.hvals(key("unacked"))).toEqual([`[${restored}, "", "celery"]`]);
    expect(await ns.redis.lrange(key("celery"), 0, -1)).toEqual(["newer"]);
    expect(await ns.redis.hlen(key("unacked"))).toBe(1);
  });
});
