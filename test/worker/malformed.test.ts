/**
 * Malformed messages are dead-lettered with a reason, byte for byte, and do not stop the worker.
 */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { collectingLogger, newApp, startWorker } from "../app/helpers.js";

const publishRaw = async (broker: { publish(raw: string, o: { queue: string; priority: number; availableAt: number | null }): Promise<void> }, raw: string) =>
  broker.publish(raw, { queue: "celery", priority: 0, availableAt: null });

/** What kombu puts on the list for a task sent with task_serializer="pickle". */
function pickleEnvelope(id: string): string {
  const pickled = Buffer.from([0x80, 0x04, 0x95, 0x1c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x5d, 0x94, 0x28, 0x4b, 0x02, 0x4b, 0x03, 0x65, 0x7d, 0x94, 0x2e]);
  return JSON.stringify({
    body: pickled.toString("base64"),
    "content-encoding": "binary",
    "content-type": "application/x-python-serialize",
    headers: { lang: "py", task: "add", id, retries: 0, root_id: id, parent_id: null, group: null, eta: null, expires: null },
    properties: { correlation_id: id, reply_to: randomUUID(), delivery_mode: 2, delivery_info: { exchange: "", routing_key: "celery" }, priority: 0, body_encoding: "base64", delivery_tag: randomUUID() },
  });
}

describe("malformed messages", () => {
  it("a non-JSON string and a pickle envelope are dead-lettered with a reason, raw bytes kept; the worker goes on", async () => {
    const { log, lines } = collectingLogger();
    const app = newApp({}, log);
    let addRuns = 0;
    const add = app.task("add", async (a: number, b: number) => (addRuns++, a + b));
    const broker = await app.broker();
    const notJson = "this is {not json \u0000 \u{1F4A5}";
    const pickleId = randomUUID();
    const pickle = pickleEnvelope(pickleId);
    await publishRaw(broker, notJson);
    await publishRaw(broker, pickle);
    const good = await add.delay(2, 3);

    const { worker } = await startWorker(app, { concurrency: 1 });
    expect(await good.get({ timeoutMs: 15_000 })).toBe(5);
    expect(addRuns).toBe(1); // the pickled "add" never ran
    expect(worker.processed).toBeGreaterThanOrEqual(2);

    const dead = await broker.deadLetters();
    expect(dead).toHaveLength(2);
    const byRaw = new Map(dead.map((d) => [d.raw, d]));
    expect(byRaw.get(notJson)?.queue).toBe("celery");
    expect(byRaw.get(notJson)?.reason).toMatch(/not JSON/i);
    expect(byRaw.get(pickle)?.reason).toMatch(/application\/x-python-serialize|pickle/);
    for (const d of dead) expect(typeof d.at).toBe("number");
    // newest first
    expect(dead[0]!.raw).toBe(pickle);

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
    const v1 = JSON.stringify({ body: Buffer.from(JSON.stringify({ task: "add", id: "x", args: [1, 2] })).toString("base64"), "content-type": "application/json", "content-encoding": "utf-8", headers: {}, properties: { body_encoding: "base64" } });
    const id = randomUUID();
    const badBody = JSON.stringify({ body: Buffer.from(JSON.stringify({ args: [1, 2] })).toString("base64"), "content-type": "application/json", "content-encoding": "utf-8", headers: { task: "add", id }, properties: { body_encoding: "base64" } });
    const jsonArray = "[1,2,3]";
    await publishRaw(broker, v1);
    await publishRaw(broker, badBody);
    await publishRaw(broker, jsonArray);
    await startWorker(app, { concurrency: 1 });
    expect(await (await marker.delay()).get({ timeoutMs: 15_000 })).toBe("m");

    const dead = await broker.deadLetters();
    expect(dead.map((d) => d.raw).sort()).toEqual([v1, badBody, jsonArray].sort());
    expect(dead.find((d) => d.raw === v1)?.reason).toMatch(/headers\.task|protocol/);
    expect(dead.find((d) => d.raw === badBody)?.reason).toMatch(/args, kwargs/);
    for (const d of dead) expect(d.reason.length).toBeGreaterThan(10);
    expect(await app.asyncResult(id).state()).toBe("PENDING");
  });
});
