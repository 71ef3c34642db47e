import { afterEach, beforeEach, expect, it } from "vitest";
import { parseKombuEnvelope } from "../../src/brokers/redis/kombu-envelope.js";
import { describeWithService } from "../support/services.js";
import { bodies, textMessage } from "../support/transport-messages.js";
import { envelopeOf, namespace, type Namespace } from "./redis-broker-helpers.js";
import { waitFor as until } from "../support/wait.js";

// Issue 8: a blocking fetch moves a message (BRPOPLPUSH) into a hand-off list of its own
// consumer instead of popping it into memory; the fetch script takes it from there into unacked.
// A consumer that is gone (no wait for 30 s) has its hand-off lists put back by the restore
// cycle's sweep. These cases pin the keys and the sweep; the SIGKILL case is in
// test/redis-e2e/redis-kill-after-pop.test.ts.

const VT = 60_000;
const P = ["", "\x06\x163", "\x06\x166", "\x06\x169"];

await describeWithService("redis", "redis broker: hand-off lists", () => {
  let ns: Namespace;
  beforeEach(async () => {
    ns = await namespace();
  });
  afterEach(() => ns.cleanup());
  const key = (name: string): string => `${ns.prefix}${name}`;
  /** A consumer that died with `raws` in its hand-off list for q (oldest last, as BRPOPLPUSH leaves them), last seen at `seenMs`. */
  const deadConsumer = async (id: string, seenMs: number, raws: string[]): Promise<void> => {
    await ns.redis.zadd(key("ebb.consumers"), seenMs / 1000, id);
    await ns.redis.sadd(key(`ebb.consumer.${id}`), ...P.map((p) => key(`q${p}`)));
    if (raws.length > 0) await ns.redis.rpush(key(`ebb.inflight.${id}.q`), ...raws);
  };

  it("a blocking fetch hands the message over through its own hand-off list; only the registration stays", async () => {
    const broker = await ns.broker();
    const waiting = broker.fetch(["q"], 1, { visibilityTimeoutMs: VT, waitMs: 5_000 });
    await until("the fetch to register as a consumer", async () => (await ns.redis.zcard(key("ebb.consumers"))) === 1);
    const [id] = await ns.redis.zrange(key("ebb.consumers"), 0, -1);
    expect((await ns.redis.smembers(key(`ebb.consumer.${id}`))).sort()).toEqual(P.map((p) => key(`q${p}`)).sort());
    await broker.publish(textMessage("m"), { queue: "q", priority: 0, availableAt: null });
    const got = await waiting;
    expect(bodies(got)).toEqual(["m"]);
    expect(await ns.redis.hlen(key("unacked"))).toBe(1);
    for (const p of P) expect(await ns.redis.exists(key(`ebb.inflight.${id}.q${p}`), key(`q${p}`))).toBe(0);
    await broker.ack(got[0]!);
    await broker.close();
    // Closing removes the registration too.
    expect(await ns.redis.exists(key("ebb.consumers"), key(`ebb.consumer.${id}`))).toBe(0);
  });

  it("the fetch script serves a hand-off list before its own list, and both before lower priorities", async () => {
    const broker = await ns.broker();
    // The broker's consumer id is only known once it has registered; a wait with nothing to find registers it.
    await broker.fetch(["q"], 1, { visibilityTimeoutMs: VT, waitMs: 30 });
    const [id] = await ns.redis.zrange(key("ebb.consumers"), 0, -1);
    await ns.redis.lpush(key("q\x06\x163"), envelopeOf("p3", "q", 3));
    await ns.redis.lpush(key("q"), envelopeOf("newer"));
    await ns.redis.lpush(key(`ebb.inflight.${id}.q`), envelopeOf("handed-over"));
    expect(bodies(await broker.fetch(["q"], 10, { visibilityTimeoutMs: VT, waitMs: 0 }))).toEqual(["handed-over", "newer", "p3"]);
  });

  it("the sweep puts a gone consumer's hand-off list back at the serving end, flagged redelivered; a live one's stays", async () => {
    const broker = await ns.broker();
    await broker.fetch(["other"], 1, { visibilityTimeoutMs: VT, waitMs: 0 });
    const now = ns.clock();
    await ns.redis.lpush(key("q"), envelopeOf("queued"));
    // BRPOPLPUSH pushes on the left: "first" was moved first, so it is the oldest.
    await deadConsumer("gone", now - 31_000, [envelopeOf("second"), envelopeOf("first")]);
    const liveOne = envelopeOf("live-one");
    await deadConsumer("live", now - 5_000, [liveOne]);
    await until("the sweep to put back the gone consumer's list", async () => (await ns.redis.exists(key("ebb.inflight.gone.q"))) === 0);
    const list = await ns.redis.lrange(key("q"), 0, -1);
    expect(list.map((raw) => parseKombuEnvelope(raw).body.toString())).toEqual(["queued", "second", "first"]);
    const got = await broker.fetch(["q"], 10, { visibilityTimeoutMs: VT, waitMs: 0 });
    expect(got.map((d) => [d.message!.body.toString(), d.redelivered])).toEqual([
      ["first", true],
      ["second", true],
      ["queued", false],
    ]);
    expect(await ns.redis.lrange(key("ebb.inflight.live.q"), 0, -1)).toEqual([liveOne]);
    // Nothing left of the gone one: forgotten (a stalled process registers again before its next wait).
    await until("the sweep to forget the gone consumer", async () => (await ns.redis.zscore(key("ebb.consumers"), "gone")) === null);
    expect(await ns.redis.zscore(key("ebb.consumers"), "live")).not.toBeNull();
  });

  it("a gone consumer with nothing handed over is forgotten at once; one silent for less than the timeout is kept", async () => {
    const broker = await ns.broker();
    await broker.fetch(["other"], 1, { visibilityTimeoutMs: VT, waitMs: 0 });
    const now = ns.clock();
    await deadConsumer("old", now - 30_001, []);
    await deadConsumer("recent", now - 20_000, []);
    await until("the sweep to forget the gone consumer", async () => (await ns.redis.exists(key("ebb.consumer.old"))) === 0);
    expect(await ns.redis.zscore(key("ebb.consumers"), "old")).toBeNull();
    expect(await ns.redis.zscore(key("ebb.consumers"), "recent")).not.toBeNull();
    expect(await ns.redis.scard(key("ebb.consumer.recent"))).toBe(4);
  });
});
