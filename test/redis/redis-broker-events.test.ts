import { afterEach, beforeEach, expect, it } from "vitest";
import { Redis } from "ioredis";
import { encodeEvent, routingKeyOf, type CeleryEvent } from "../../src/events/celery-event.js";
import { describeWithService, SERVICES } from "../support/services.js";
import { waitFor } from "../support/wait.js";
import { namespace, type Namespace } from "./redis-broker-helpers.js";

// Store-only cases: how the Redis broker carries Celery events (kombu's fanout publish: a
// PUBLISH, nothing stored). The memory broker hands events to in-process listeners instead.

const event = (type: CeleryEvent["type"], uuid: string): CeleryEvent => ({
  hostname: "ebb-1@h",
  utcoffset: 0,
  pid: 1,
  clock: 1,
  uuid,
  timestamp: 1_796_123_167.08,
  type,
});

await describeWithService("redis", "redis broker: Celery events", () => {
  let ns: Namespace;
  let sub: Redis;
  beforeEach(async () => {
    ns = await namespace();
    sub = new Redis(SERVICES.redis);
  });
  afterEach(async () => {
    sub.disconnect();
    await ns.cleanup();
  });

  it("publishes kombu's fanout envelope on /<db>.celeryev/<routing key> under the URL's prefix, as Celery's receivers subscribe", async () => {
    const got: { channel: string; payload: string }[] = [];
    await sub.psubscribe(`${ns.prefix}/0.celeryev/*`);
    sub.on("pmessage", (_pattern, channel, payload) => got.push({ channel, payload }));
    const broker = await ns.broker({ clock: null });
    const e = event("task-succeeded", "u-1");
    await broker.publishEvent(encodeEvent(e), { exchange: "celeryev", routingKey: routingKeyOf(e.type) });
    await waitFor("the event on the subscriber", () => got.length === 1);
    expect(got[0]!.channel).toBe(`${ns.prefix}/0.celeryev/task.succeeded`);
    const envelope = JSON.parse(got[0]!.payload);
    expect(envelope).toMatchObject({
      "content-type": "application/json",
      "content-encoding": "utf-8",
      headers: { hostname: "ebb-1@h" },
      properties: {
        delivery_mode: 1,
        delivery_info: { exchange: "celeryev", routing_key: "task.succeeded" },
        priority: 0,
        body_encoding: "base64",
      },
    });
    expect(JSON.parse(Buffer.from(envelope.body, "base64").toString("utf8"))).toEqual(e);
  });

  it("stores nothing: with nobody listening an event is dropped, so no list grows", async () => {
    const broker = await ns.broker({ clock: null });
    for (let i = 0; i < 50; i++)
      await broker.publishEvent(encodeEvent(event("task-received", `u-${i}`)), { exchange: "celeryev", routingKey: "task.received" });
    const keys: string[] = [];
    for (let cursor = "0"; ; ) {
      const [next, page] = await ns.redis.scan(cursor, "MATCH", `${ns.prefix}*`, "COUNT", 1000);
      keys.push(...page);
      cursor = next;
      if (cursor === "0") break;
    }
    expect(keys).toEqual([]);
  });
});
