/**
 * frameKombuEnvelopes() (a sendMany chunk framed from one template) against frameKombuEnvelope()
 * on each message: the same bytes, whatever differs between the messages.
 */
import { describe, expect, it } from "vitest";
import { frameKombuEnvelopes, shapeOf, templateOf } from "../../src/brokers/redis/envelope-batch.js";
import { frameKombuEnvelope, parseKombuEnvelope } from "../../src/brokers/redis/kombu-envelope.js";
import { encodeTaskMessage, makeTaskMessage } from "../../src/protocol/task-message.js";
import type { TransportMessage } from "../../src/protocol/transport-message.js";

const ARGS: unknown[][] = [
  [1, 2],
  ["plain"],
  ['quote " and backslash \\ and slash /'],
  ["naïve café ☕ and 𝄞 (a surrogate pair)"],
  ["control \u0000 \u0001 \n \t and DEL \u007f"],
  [{ nested: [1.5, null, true], 'key with "quotes"': "v" }],
  [Number.NaN, Number.POSITIVE_INFINITY, 2n ** 70n],
  ["x".repeat(5_000)],
  [],
];

function sendManyChunk(args: unknown[][], extra: Parameters<typeof makeTaskMessage>[0] extends infer I ? Partial<I> : never = {}) {
  return args.map((a) => encodeTaskMessage(makeTaskMessage({ task: "tasks.add", args: a, ...extra })));
}

function expectSameAsOneByOne(messages: TransportMessage[], queue = "celery", priority = 0) {
  const tags = messages.map((_, i) => `tag-${i}`);
  const batch = frameKombuEnvelopes(messages, queue, priority, tags);
  expect(batch).toEqual(messages.map((m, i) => frameKombuEnvelope(m, queue, priority, tags[i])));
}

describe("frameKombuEnvelopes: one template per chunk, the bytes of framing each alone", () => {
  it("calls that differ in id, argsrepr, reply_to and body, with strings that need escaping", () => {
    const messages = sendManyChunk(ARGS);
    // The template path is taken: ids, reply_to and argsrepr do differ between the messages.
    expect(new Set(messages.map((m) => m.headers.id)).size).toBe(ARGS.length);
    // What frameKombuEnvelopes derives: every message fits, and only these strings vary.
    const { varying, fits } = shapeOf(messages);
    expect(fits).toEqual(messages.map(() => true));
    expect(varying).toEqual({ headers: new Set(["id", "root_id", "argsrepr"]), properties: new Set(["correlation_id", "reply_to"]) });
    const template = templateOf(messages[0]!, varying, "celery", 0);
    expect(template?.slots).toEqual([
      { part: "headers", key: "id" },
      { part: "headers", key: "root_id" },
      { part: "headers", key: "argsrepr" },
      { part: "properties", key: "correlation_id" },
      { part: "properties", key: "reply_to" },
      "tag",
    ]);
    expectSameAsOneByOne(messages);
  });

  it("with eta, expires, time limits and another queue and priority, shared by every call", () => {
    const eta = Date.parse("2026-12-02T10:00:00Z");
    const messages = sendManyChunk(ARGS, { eta, expires: eta, timeLimitMs: 30_000, softTimeLimitMs: 10_000, priority: 3 });
    expectSameAsOneByOne(messages, "reports", 3);
  });

  it("messages that differ elsewhere (a null against a string, an array, a number, a key order, a missing key) are framed alone, still the same bytes", () => {
    const base = sendManyChunk([[1], [2], [3], [4], [5], [6], [7]]);
    const [a, b, c, d, e, f, g] = base as [
      TransportMessage,
      TransportMessage,
      TransportMessage,
      TransportMessage,
      TransportMessage,
      TransportMessage,
      TransportMessage,
    ];
    b.headers = { ...b.headers, eta: "2026-12-02T10:00:00+00:00" }; // null in the first
    c.headers = { ...c.headers, timelimit: [5, null] };
    d.headers = { ...d.headers, retries: 3 };
    const { id, ...withoutId } = e.headers;
    e.headers = { ...withoutId, id }; // the same keys, another order
    const { origin: _origin, ...withoutOrigin } = f.headers;
    f.headers = withoutOrigin;
    g.headers = { ...g.headers, timelimit: [Number.NaN, null] };
    // Only the first (itself) fits: each of the others differs in something other than a string.
    expect(shapeOf([a, b, c, d, e, f, g]).fits).toEqual([true, false, false, false, false, false, false]);
    expectSameAsOneByOne([a, b, c, d, e, f, g]);
  });

  it("a varying property the framing replaces (delivery_tag) makes the template give way, not write the wrong bytes", () => {
    const messages = sendManyChunk([[1], [2], [3]]).map((m, i) => ({ ...m, properties: { ...m.properties, delivery_tag: `own-${i}` } }));
    expect(templateOf(messages[0]!, { headers: new Set(), properties: new Set(["delivery_tag"]) }, "celery", 0)).toBeNull();
    expectSameAsOneByOne(messages);
  });

  it("no messages give no envelopes; one message is framed as alone", () => {
    expect(frameKombuEnvelopes([], "celery", 0)).toEqual([]);
    expectSameAsOneByOne(sendManyChunk([["only"]]));
  });

  it("without tags, each envelope gets its own delivery tag and parses back to its message", () => {
    const messages = sendManyChunk(ARGS);
    const framed = frameKombuEnvelopes(messages, "celery", 0);
    const tags = framed.map((raw) => (JSON.parse(raw) as { properties: { delivery_tag: string } }).properties.delivery_tag);
    expect(new Set(tags).size).toBe(messages.length);
    for (const t of tags) expect(t).toMatch(/^[0-9a-f-]{36}$/);
    expect(framed.map((raw) => parseKombuEnvelope(raw))).toEqual(messages);
  });
});
