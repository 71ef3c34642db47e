/**
 * Malformed messages are dead-lettered with a reason, kept as they were, and do not stop the
 * worker. Two levels: bytes the transport cannot frame (on Redis: a list entry that is not a
 * kombu envelope), handed out as an unframed delivery; and framed messages that are not
 * protocol v2 JSON (pickle, protocol v1, a bad body), which the worker's decode rejects.
 */
import { randomUUID } from "node:crypto";
import { describe, expect, it, onTestFinished } from "vitest";
import { createApp } from "../../src/app.js";
import type { Broker } from "../../src/brokers/broker.js";
import type { TransportMessage } from "../../src/protocol/transport-message.js";
import { Redis } from "ioredis";
import { collectingLogger, newApp, startWorker } from "../app/helpers.js";
import { unlinkPrefix } from "../redis/redis-broker-helpers.js";
import { describeWithService, SERVICES } from "../support/services.js";

const PICKLED = Buffer.from([
  0x80, 0x04, 0x95, 0x1c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x5d, 0x94, 0x28, 0x4b, 0x02, 0x4b, 0x03, 0x65, 0x7d, 0x94, 0x2e,
]);

const publish = (broker: Broker, message: TransportMessage) => broker.publish(message, { queue: "celery", priority: 0, availableAt: null });

/** A task sent with task_serializer="pickle": framed fine, but not JSON. */
function pickleMessage(id: string): TransportMessage {
  return {
    headers: { lang: "py", task: "add", id, retries: 0, root_id: id, parent_id: null, group: null, eta: null, expires: null },
    properties: { correlation_id: id, reply_to: randomUUID(), delivery_mode: 2, priority: 0 },
    body: PICKLED,
    contentType: "application/x-python-serialize",
    contentEncoding: "binary",
  };
}

function jsonMessage(headers: Record<string, unknown>, body: string): TransportMessage {
  return {
    headers,
    properties: { priority: 0 },
    body: Buffer.from(body, "utf8"),
    contentType: "application/json",
    contentEncoding: "utf-8",
  };
}

/** What kombu puts on the list for a task sent with task_serializer="pickle". */
function pickleEnvelope(id: string): string {
  const m = pickleMessage(id);
  return JSON.stringify({
    body: PICKLED.toString("base64"),
    "content-encoding": "binary",
    "content-type": "application/x-python-serialize",
    headers: m.headers,
    properties: {
      ...m.properties,
      delivery_info: { exchange: "", routing_key: "celery" },
      body_encoding: "base64",
      delivery_tag: randomUUID(),
    },
  });
}

describe("malformed messages", () => {
  it("a pickled task and a body that is not JSON are dead-lettered with a reason, the message kept; the worker goes on", async () => {
    const { log, lines } = collectingLogger();
    const app = newApp({}, log);
    let addRuns = 0;
    const add = app.task("add", async (a: number, b: number) => {
      addRuns++;
      return a + b;
    });
    const broker = await app.broker();
    const notJson = jsonMessage({ task: "add", id: randomUUID() }, "this is {not json \u0000 \u{1F4A5}");
    const pickleId = randomUUID();
    const pickle = pickleMessage(pickleId);
    await publish(broker, notJson);
    await publish(broker, pickle);
    const good = await add.delay(2, 3);

    const { worker } = await startWorker(app, { concurrency: 1 });
    expect(await good.get({ timeoutMs: 15_000 })).toBe(5);
    expect(addRuns).toBe(1); // the pickled "add" never ran
    expect(worker.processed).toBeGreaterThanOrEqual(2);

    const { items: dead } = await broker.deadLetters();
    expect(dead).toHaveLength(2);
    // newest first, each message exactly as published
    expect(dead.map((d) => d.message)).toEqual([pickle, notJson]);
    expect(dead[1]!.queue).toBe("celery");
    expect(dead[1]!.reason).toMatch(/not JSON/i);
    expect(dead[0]!.reason).toMatch(/application\/x-python-serialize|pickle/);
    for (const d of dead) expect(typeof d.at).toBe("number");

    // nothing is stored for the pickled task's id
    expect(await app.asyncResult(pickleId).state()).toBe("PENDING");
    // an error line says what happened
    const errors = lines.filter((l) => l.level === "error" && l.message.toLowerCase().includes("dead letter"));
    expect(errors).toHaveLength(2);

    // and the worker is still consuming after them
    expect(await (await add.delay(1, 1)).get({ timeoutMs: 15_000 })).toBe(2);
  });

  it("other protocol violations are dead-lettered too: no headers.task (protocol v1), a body that is not [args, kwargs, embed]", async () => {
    const app = newApp();
    app.task("add", async (a: number, b: number) => a + b);
    const marker = app.task("marker", async () => "m");
    const broker = await app.broker();
    const v1 = jsonMessage({}, JSON.stringify({ task: "add", id: "x", args: [1, 2] }));
    const id = randomUUID();
    const badBody = jsonMessage({ task: "add", id }, JSON.stringify({ args: [1, 2] }));
    await publish(broker, v1);
    await publish(broker, badBody);
    await startWorker(app, { concurrency: 1 });
    expect(await (await marker.delay()).get({ timeoutMs: 15_000 })).toBe("m");

    const { items: dead } = await broker.deadLetters();
    expect(dead.map((d) => d.message)).toEqual([badBody, v1]);
    expect(dead[1]!.reason).toMatch(/headers\.task|protocol/);
    expect(dead[0]!.reason).toMatch(/args, kwargs/);
    for (const d of dead) expect(d.reason.length).toBeGreaterThan(10);
    expect(await app.asyncResult(id).state()).toBe("PENDING");
  });
});

await describeWithService("redis", "malformed messages on Redis", () => {
  it("list entries that are not kombu envelopes, and envelopes that are not protocol v2 JSON, are dead-lettered byte for byte", async () => {
    const { host, port } = SERVICES.redis;
    const prefix = `ebbtest:${randomUUID()}:`;
    const url = `redis://${host}:${port}/0?prefix=${prefix}`;
    const redis = new Redis({ host, port });
    const app = createApp({ broker: url, backend: url }, { log: collectingLogger().log });
    onTestFinished(async () => {
      await app.close();
      await unlinkPrefix(redis, prefix);
      await redis.quit();
    });
    const marker = app.task("marker", async () => "m");
    app.task("add", async (a: number, b: number) => a + b);
    const notJson = "this is {not json \u0000 \u{1F4A5}";
    const jsonArray = "[1,2,3]";
    const noBody = '{"headers": {"task": "add", "id": "nb"}, "properties": {}}';
    const pickle = pickleEnvelope(randomUUID());
    const v1 = JSON.stringify({
      body: Buffer.from(JSON.stringify({ task: "add", id: "x", args: [1, 2] })).toString("base64"),
      "content-type": "application/json",
      "content-encoding": "utf-8",
      headers: {},
      properties: { body_encoding: "base64" },
    });
    const pushed = [notJson, jsonArray, noBody, pickle, v1];
    for (const raw of pushed) await redis.lpush(`${prefix}celery`, raw);
    await startWorker(app, { concurrency: 1 });
    expect(await (await marker.delay()).get({ timeoutMs: 15_000 })).toBe("m");

    const broker = await app.broker();
    const { items: dead } = await broker.deadLetters();
    expect(dead.map((d) => d.raw.toString("utf8")).sort()).toEqual([...pushed].sort());
    const reasonOf = (raw: string) => dead.find((d) => d.raw.toString("utf8") === raw)?.reason;
    expect(reasonOf(notJson)).toMatch(/not JSON/);
    expect(reasonOf(jsonArray)).toMatch(/not an object/);
    expect(reasonOf(noBody)).toMatch(/no string body/);
    expect(reasonOf(pickle)).toMatch(/application\/x-python-serialize/);
    expect(reasonOf(v1)).toMatch(/headers\.task/);
    // Framed ones carry their message, unframed ones only their bytes.
    expect(dead.find((d) => d.raw.toString("utf8") === pickle)?.message?.contentType).toBe("application/x-python-serialize");
    expect(dead.find((d) => d.raw.toString("utf8") === notJson)?.message).toBeNull();
  });
});
