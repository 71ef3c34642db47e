import { describe, it, expect } from "vitest";
import { ProtocolError } from "../../src/errors.js";
import { frameKombuEnvelope, parseKombuEnvelope } from "../../src/brokers/redis/kombu-envelope.js";
import {
  decodeTaskMessage as decodeTransport,
  encodeTaskMessage as encodeTransport,
  makeTaskMessage,
  type TaskMessage,
} from "../../src/protocol/task-message.js";
import { listReference, loadRedisVariants, parseEnvelope, readReference } from "../fixtures/celery-reference.js";

/**
 * Exact instant of a Celery header timestamp in (fractional) epoch ms, computed without src/:
 * naive values are UTC (enable_utc=True), the fraction is a fraction of a second.
 */
function exactMs(value: string): number {
  const m = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?$/.exec(value);
  if (!m) throw new Error(`test helper cannot parse ${value}`);
  const [, y, mo, d, h, mi, s, frac, zone] = m;
  let ms = Date.UTC(+y!, +mo! - 1, +d!, +h!, +mi!, +s!) + (frac ? Number(`0${frac}`) * 1000 : 0);
  if (zone && zone !== "Z") {
    const sign = zone[0] === "-" ? -1 : 1;
    ms -= sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6))) * 60_000;
  }
  return ms;
}

function expectInstant(actual: number | null, header: unknown): void {
  if (header === null) {
    expect(actual).toBeNull();
    return;
  }
  expect(typeof header).toBe("string");
  expect(actual).not.toBeNull();
  // Ebb keeps milliseconds; Celery writes microseconds. Allow only the sub-millisecond part to differ.
  expect(Math.abs(actual! - exactMs(header as string))).toBeLessThanOrEqual(0.5);
}

function expectProtocolError(fn: () => unknown, message: RegExp): void {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toBeInstanceOf(ProtocolError);
  expect((thrown as ProtocolError).code).toBe("PROTOCOL");
  expect((thrown as Error).message).toMatch(message);
}

/**
 * Most cases here read and write messages as they sit on a Redis list: protocol v2 (this
 * module) inside kombu's Redis framing (src/brokers/redis/kombu-envelope.ts), as Celery does.
 */
function decodeRaw(raw: string, queue = "celery"): TaskMessage {
  return decodeTransport(parseKombuEnvelope(raw), queue);
}

function frameRaw(m: TaskMessage): string {
  return frameKombuEnvelope(encodeTransport(m), m.queue, m.priority);
}

const RAW_FILES = listReference("broker_messages", ".raw.json");
const plainRaw = readReference("broker_messages/msg_plain.raw.json");

/** msg_plain with a modification, re-serialised. */
// biome-ignore lint/suspicious/noExplicitAny: the test edits nested fields of a parsed envelope freely
type Envelope = Record<string, any>;

function mutatePlain(change: (envelope: Envelope) => void): string {
  const envelope = JSON.parse(plainRaw) as Envelope;
  change(envelope);
  return JSON.stringify(envelope);
}

function b64(text: string): string {
  return Buffer.from(text, "utf8").toString("base64");
}

describe("decodeTaskMessage on real Celery 5.2.6 broker messages", () => {
  it("finds every captured message file", () => {
    // 13 apply_async/send_task variants + retry republish + warm-shutdown restore + beat cleanup.
    expect(RAW_FILES.length).toBe(16);
  });

  it.each(RAW_FILES)("%s decodes to what its own headers and body say", (file) => {
    const raw = readReference(`broker_messages/${file}`);
    const { envelope, body } = parseEnvelope(raw);
    const m = decodeRaw(raw);

    expect(m.task).toBe(envelope.headers.task);
    expect(m.id).toBe(envelope.headers.id);
    expect(m.args).toEqual(body[0]);
    expect(m.kwargs).toEqual(body[1]);
    expect(m.embed).toEqual(body[2]);
    expectInstant(m.eta, envelope.headers.eta);
    expectInstant(m.expires, envelope.headers.expires);
    expect(m.retries).toBe(envelope.headers.retries);
    expect(m.priority).toBe(envelope.properties.priority);
    expect(m.queue).toBe(envelope.properties.delivery_info.routing_key);
    expect(m.ignoreResult).toBe(envelope.headers.ignore_result);
    expect(m.rootId).toBe(envelope.headers.root_id);
    expect(m.parentId).toBe(envelope.headers.parent_id);
    expect(m.group).toBe(envelope.headers.group);
    // Headers are kept as received so a retry can republish what Ebb does not interpret.
    expect(m.headers).toEqual(envelope.headers);
    // A Celery message carries no Ebb headers.
    expect(m.resultExpiresMs).toBeUndefined();
    expect(m.ignoreResultOverride).toBeUndefined();
  });
});

describe("decodeTaskMessage: specific captured values", () => {
  const decode = (name: string) => decodeRaw(readReference(`broker_messages/msg_${name}.raw.json`));

  it("plain apply_async((2, 3))", () => {
    const m = decode("plain");
    expect(m).toMatchObject({
      task: "probe.add",
      id: "44d20ee2-5c67-4102-bea1-aee870fcb508",
      args: [2, 3],
      kwargs: {},
      eta: null,
      expires: null,
      retries: 0,
      priority: 0,
      queue: "celery",
      ignoreResult: false,
      rootId: "44d20ee2-5c67-4102-bea1-aee870fcb508",
      parentId: null,
      group: null,
    });
    expect(m.embed).toEqual({ callbacks: null, errbacks: null, chain: null, chord: null });
  });

  it("countdown=60 gives an aware eta read to the microsecond", () => {
    expect(decode("countdown_60").eta).toBeCloseTo(Date.UTC(2026, 10, 24, 2, 1, 47) + 207.196, 6);
  });

  it("a naive eta is read as UTC", () => {
    expect(decode("eta_naive").eta).toBe(Date.UTC(2030, 0, 2, 3, 4, 5));
  });

  it("expires=120 is message expiry in headers.expires", () => {
    const m = decode("expires_seconds_120");
    expect(m.expires).toBeCloseTo(Date.UTC(2026, 10, 24, 2, 2, 47) + 215.01, 6);
    expect(m.eta).toBeNull();
  });

  it("kwargs with nested values and None", () => {
    const m = decode("kwargs");
    expect(m.task).toBe("probe.echo");
    expect(m.args).toEqual([1, "a"]);
    expect(m.kwargs).toEqual({ k: "v", n: [1, 2, { x: null }] });
  });

  it("priority 5 and a custom task id; the queue is the routing key, not the priority list name", () => {
    const m = decode("priority_5_custom_task_id");
    expect(m.priority).toBe(5);
    expect(m.id).toBe("my-custom-id-0001");
    expect(m.rootId).toBe("my-custom-id-0001");
    expect(m.queue).toBe("celery");
  });

  it("ignore_result=True at call time and on the decorator", () => {
    expect(decode("ignore_result_true").ignoreResult).toBe(true);
    expect(decode("task_decorator_ignore_result").ignoreResult).toBe(true);
    expect(decode("delay").ignoreResult).toBe(false);
  });

  it("the worker's retry republish carries retries=1, parent_id and the eta", () => {
    const m = decode("retry_republished_by_worker");
    expect(m.retries).toBe(1);
    expect(m.parentId).toBe("ef6452ba-b15c-44d3-902a-fed54098593d");
    expect(m.kwargs).toEqual({ countdown: 600 });
    expect(m.eta).toBeCloseTo(Date.UTC(2026, 10, 24, 2, 14, 40) + 164.403, 6);
  });

  it("the message restored at warm shutdown keeps headers.redelivered", () => {
    const m = decode("eta_retry_restored_at_warm_shutdown");
    expect(m.headers.redelivered).toBe(true);
    expect(m.retries).toBe(1);
  });

  it("beat's celery.backend_cleanup message", () => {
    const m = decode("beat_celery_backend_cleanup");
    expect(m.task).toBe("celery.backend_cleanup");
    expect(m.args).toEqual([]);
    expect(m.expires).toBeCloseTo(Date.UTC(2026, 10, 24, 14, 11, 36) + 380.057, 6);
  });
});

describe("decodeTaskMessage on broker_messages_protocol_v2_redis.json", () => {
  const variants = Object.entries(loadRedisVariants());

  it("has the 13 documented variants", () => {
    expect(variants.map(([name]) => name).sort()).toEqual(
      [
        "plain",
        "countdown_60",
        "eta_aware_utc",
        "eta_naive",
        "expires_seconds_120",
        "expires_datetime",
        "ignore_result_true",
        "kwargs",
        "task_decorator_expires300",
        "task_decorator_ignore_result",
        "send_task_by_name",
        "priority_5_custom_task_id",
        "delay",
      ].sort(),
    );
  });

  it.each(variants)("%s: the raw list entry decodes to its parsed envelope and decoded body", (_name, v) => {
    const m = decodeRaw(v.raw_list_entry);
    expect(m.task).toBe(v.parsed.headers.task);
    expect(m.id).toBe(v.parsed.headers.id);
    expect(m.args).toEqual(v.decoded_body[0]);
    expect(m.kwargs).toEqual(v.decoded_body[1]);
    expect(m.embed).toEqual(v.decoded_body[2]);
    expectInstant(m.eta, v.parsed.headers.eta);
    expectInstant(m.expires, v.parsed.headers.expires);
    expect(m.priority).toBe(v.parsed.properties.priority);
    expect(m.queue).toBe(v.parsed.properties.delivery_info.routing_key);
    expect(m.ignoreResult).toBe(v.parsed.headers.ignore_result);
    expect(m.headers).toEqual(v.parsed.headers);
  });

  it.each(variants)("%s: compact re-serialisation of the parsed envelope decodes the same", (_name, v) => {
    expect(decodeRaw(JSON.stringify(v.parsed))).toEqual(decodeRaw(v.raw_list_entry));
  });
});

describe("encodeTaskMessage → decodeTaskMessage round trip", () => {
  const full: TaskMessage = makeTaskMessage({
    id: "0f8fad5b-d9cb-469f-a165-70867728950e",
    task: "reports.build",
    args: [1, "héllo", { nested: [true, null] }, "😀"],
    kwargs: { mode: "fast", limit: 10 },
    embed: { callbacks: [{ task: "cb" }], errbacks: null, chain: null, chord: null },
    eta: Date.UTC(2026, 10, 24, 2, 1, 47, 207),
    expires: Date.UTC(2026, 10, 24, 3, 0, 0, 1),
    retries: 2,
    rootId: "root-1",
    parentId: "parent-1",
    group: "group-1",
    ignoreResult: true,
    priority: 7,
    queue: "reports",
    resultExpiresMs: 3_600_000,
    ignoreResultOverride: true,
  });

  it("preserves every field", () => {
    const back = decodeRaw(frameRaw(full), full.queue);
    const { headers: _h, ...rest } = back;
    const { headers: _h2, ...expected } = full;
    expect(rest).toEqual(expected);
  });

  it.each([
    ["a number", 86_400_000],
    ["zero", 0],
    ["null (never)", null],
  ] as const)("preserves ebb_result_expires_ms as %s", (_label, value) => {
    const m = makeTaskMessage({ task: "t", args: [], resultExpiresMs: value });
    const raw = frameRaw(m);
    expect(JSON.parse(raw).headers.ebb_result_expires_ms).toBe(value);
    const back = decodeRaw(raw);
    expect("resultExpiresMs" in back).toBe(true);
    expect(back.resultExpiresMs).toBe(value);
  });

  it.each([true, false])("preserves ebb_ignore_result = %s", (value) => {
    const raw = frameRaw(makeTaskMessage({ task: "t", args: [], ignoreResultOverride: value }));
    expect(JSON.parse(raw).headers.ebb_ignore_result).toBe(value);
    expect(decodeRaw(raw).ignoreResultOverride).toBe(value);
  });

  it("omits the Ebb headers when they are not set, and decodes them as absent", () => {
    const raw = frameRaw(makeTaskMessage({ task: "t", args: [] }));
    const headers = JSON.parse(raw).headers as Record<string, unknown>;
    expect("ebb_result_expires_ms" in headers).toBe(false);
    expect("ebb_ignore_result" in headers).toBe(false);
    const back = decodeRaw(raw);
    expect("resultExpiresMs" in back).toBe(false);
    expect("ignoreResultOverride" in back).toBe(false);
  });

  it("fills Celery's defaults for a minimal message", () => {
    const m = makeTaskMessage({ task: "t", args: [1] });
    expect(m.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(m).toMatchObject({
      kwargs: {},
      eta: null,
      expires: null,
      retries: 0,
      rootId: m.id,
      parentId: null,
      group: null,
      ignoreResult: false,
      priority: 0,
      queue: "celery",
    });
    expect(makeTaskMessage({ task: "t", args: [] }).id).not.toBe(m.id);
  });
});

describe("the envelope Ebb writes looks like Celery's", () => {
  const celery = parseEnvelope(plainRaw).envelope;
  const sortedKeys = (o: object) => Object.keys(o).sort();

  it("has Celery's top-level keys, content-type application/json and base64 body encoding", () => {
    const ours = JSON.parse(frameRaw(makeTaskMessage({ task: "probe.add", args: [2, 3] })));
    expect(sortedKeys(ours)).toEqual(sortedKeys(celery));
    expect(ours["content-type"]).toBe("application/json");
    expect(ours["content-encoding"]).toBe("utf-8");
    expect(ours.properties.body_encoding).toBe("base64");
  });

  it("has exactly msg_plain's header and property keys when no Ebb option is set", () => {
    const ours = JSON.parse(frameRaw(makeTaskMessage({ task: "probe.add", args: [2, 3] })));
    expect(sortedKeys(ours.headers)).toEqual(sortedKeys(celery.headers));
    expect(sortedKeys(ours.properties)).toEqual(sortedKeys(celery.properties));
    expect(sortedKeys(ours.properties.delivery_info)).toEqual(sortedKeys(celery.properties.delivery_info));
  });

  it("adds only the Ebb headers that are set", () => {
    const one = JSON.parse(frameRaw(makeTaskMessage({ task: "t", args: [], resultExpiresMs: null })));
    expect(sortedKeys(one.headers)).toEqual([...Object.keys(celery.headers), "ebb_result_expires_ms"].sort());
    const both = JSON.parse(frameRaw(makeTaskMessage({ task: "t", args: [], resultExpiresMs: 5, ignoreResultOverride: false })));
    expect(sortedKeys(both.headers)).toEqual([...Object.keys(celery.headers), "ebb_result_expires_ms", "ebb_ignore_result"].sort());
    expect(sortedKeys(both.properties)).toEqual(sortedKeys(celery.properties));
  });

  it("writes Celery's header values and a base64 [args, kwargs, embed] body", () => {
    const m = makeTaskMessage({
      task: "probe.add",
      args: [2, 3],
      kwargs: { k: 1 },
      priority: 3,
      queue: "q1",
      eta: Date.UTC(2026, 10, 24, 2, 1, 47, 207),
    });
    const ours = JSON.parse(frameRaw(m));
    expect(ours.headers).toMatchObject({
      task: "probe.add",
      id: m.id,
      root_id: m.id,
      parent_id: null,
      group: null,
      group_index: null,
      shadow: null,
      retries: 0,
      timelimit: [null, null],
      ignore_result: false,
      expires: null,
    });
    // Same shape as Celery's aware eta: 6 fractional digits and +00:00.
    expect(ours.headers.eta).toBe("2026-11-24T02:01:47.207000+00:00");
    expect(ours.properties).toMatchObject({
      correlation_id: m.id,
      delivery_mode: 2,
      priority: 3,
      delivery_info: { exchange: "", routing_key: "q1" },
    });
    const body = JSON.parse(Buffer.from(ours.body, "base64").toString("utf8"));
    expect(body).toEqual([[2, 3], { k: 1 }, { callbacks: null, errbacks: null, chain: null, chord: null }]);
  });

  it("re-encodes a decoded Celery message so that it decodes to the same message", () => {
    for (const file of RAW_FILES) {
      const first = decodeRaw(readReference(`broker_messages/${file}`));
      const again = decodeRaw(frameRaw(first));
      const { headers: _a, ...a } = first;
      const { headers: _b, ...b } = again;
      expect(b, file).toEqual(a);
    }
  });
});

describe("decodeTaskMessage rejects malformed input with a ProtocolError", () => {
  it("accepts the unmodified base message (control)", () => {
    expect(decodeRaw(mutatePlain(() => {})).task).toBe("probe.add");
  });

  it("not JSON", () => {
    expectProtocolError(() => decodeRaw("\x80\x04\x95pickle bytes"), /not JSON/);
  });

  it("a JSON array", () => {
    expectProtocolError(() => decodeRaw("[1, 2, 3]"), /not an object/);
  });

  it("pickle content-type, naming JSON and pickle", () => {
    const raw = mutatePlain((e) => {
      e["content-type"] = "application/x-python-serialize";
    });
    expectProtocolError(() => decodeRaw(raw), /application\/x-python-serialize/);
    expectProtocolError(() => decodeRaw(raw), /json/i);
    expectProtocolError(() => decodeRaw(raw), /pickle/i);
  });

  it("protocol v1 shape (task and id in the body, no headers.task)", () => {
    const raw = mutatePlain((e) => {
      e.headers = {};
      e.body = b64(JSON.stringify({ task: "probe.add", id: "x", args: [2, 3], kwargs: {} }));
    });
    expectProtocolError(() => decodeRaw(raw), /headers\.task/);
    expectProtocolError(() => decodeRaw(raw), /protocol v2/);
  });

  it("no headers at all", () => {
    const raw = mutatePlain((e) => {
      delete e.headers;
    });
    expectProtocolError(() => decodeRaw(raw), /protocol v1/);
  });

  it("missing id, naming the task", () => {
    const raw = mutatePlain((e) => {
      delete e.headers.id;
    });
    expectProtocolError(() => decodeRaw(raw), /"probe\.add".*headers\.id/);
  });

  it("empty id", () => {
    const raw = mutatePlain((e) => {
      e.headers.id = "";
    });
    expectProtocolError(() => decodeRaw(raw), /headers\.id/);
  });

  it("body that is not base64 of JSON", () => {
    const raw = mutatePlain((e) => {
      e.body = "%%% not base64 json %%%";
    });
    expectProtocolError(() => decodeRaw(raw), /body.*"probe\.add".*not JSON/);
  });

  it("missing body", () => {
    const raw = mutatePlain((e) => {
      delete e.body;
    });
    expectProtocolError(() => decodeRaw(raw), /body/);
  });

  it.each([
    ["an object", { args: [2, 3], kwargs: {} }],
    ["args only", [[2, 3]]],
    ["args not an array", ["2, 3", {}, {}]],
    ["kwargs not an object", [[2, 3], [], {}]],
  ])("body %s instead of [args, kwargs, embed]", (_label, body) => {
    const raw = mutatePlain((e) => {
      e.body = b64(JSON.stringify(body));
    });
    expectProtocolError(() => decodeRaw(raw), /\[args, kwargs, embed\]/);
  });

  it.each([
    ["-5", -5],
    ["a string", "1h"],
    ["an object", { ms: 5 }],
    ["true", true],
  ])("ebb_result_expires_ms %s", (_label, value) => {
    const raw = mutatePlain((e) => {
      e.headers.ebb_result_expires_ms = value;
    });
    expectProtocolError(() => decodeRaw(raw), /ebb_result_expires_ms/);
  });

  it("eta that is not a timestamp, naming the field and the value", () => {
    const raw = mutatePlain((e) => {
      e.headers.eta = "tomorrow";
    });
    expectProtocolError(() => decodeRaw(raw), /headers\.eta.*"tomorrow"/);
  });

  it("expires as a number", () => {
    const raw = mutatePlain((e) => {
      e.headers.expires = 120;
    });
    expectProtocolError(() => decodeRaw(raw), /headers\.expires/);
  });
});

describe("encodeTaskMessage / decodeTaskMessage: protocol only, no transport framing", () => {
  it("builds headers, properties and the body bytes, with none of kombu's framing", () => {
    const m = makeTaskMessage({ task: "probe.add", args: [2, "é"], kwargs: { k: 1 }, priority: 4, queue: "q1" });
    const t = encodeTransport(m);
    expect(t.contentType).toBe("application/json");
    expect(t.contentEncoding).toBe("utf-8");
    expect(Object.keys(t.properties)).toEqual(["correlation_id", "reply_to", "delivery_mode", "priority"]);
    expect(t.properties).toMatchObject({ correlation_id: m.id, delivery_mode: 2, priority: 4 });
    // The body is the serialized bytes themselves (Python's json.dumps), not base64.
    expect(t.body.toString("utf8")).toBe('[[2, "\\u00e9"], {"k": 1}, {"callbacks": null, "errbacks": null, "chain": null, "chord": null}]');
    expect(t.headers).toMatchObject({ task: "probe.add", id: m.id });
  });

  it("decodes a TransportMessage, taking the queue it was delivered from", () => {
    const m = makeTaskMessage({ task: "t", args: [1], queue: "q1", priority: 2 });
    const back = decodeTransport(encodeTransport(m), "q1");
    const { headers: _h, ...rest } = back;
    const { headers: _h2, ...expected } = m;
    expect(rest).toEqual(expected);
  });

  it("rejects a content type other than JSON, naming it", () => {
    const t = { ...encodeTransport(makeTaskMessage({ task: "t", args: [] })), contentType: "application/x-python-serialize" };
    expectProtocolError(() => decodeTransport(t, "celery"), /application\/x-python-serialize.*pickle/);
  });
});

describe("kombu's Redis framing (kombu-envelope.ts) against Celery's captured list entries", () => {
  it.each(RAW_FILES)("%s: parse then frame again gives the same bytes", (file) => {
    const raw = readReference(`broker_messages/${file}`);
    const { envelope } = parseEnvelope(raw);
    const message = parseKombuEnvelope(raw);
    // The framing is gone from the message itself.
    for (const k of ["delivery_info", "body_encoding", "delivery_tag"]) expect(k in message.properties).toBe(false);
    const tag = (envelope.properties as Record<string, unknown>).delivery_tag as string;
    // A restored message's delivery_info.redelivered is delivery state kombu's restore adds, not part of a publish.
    const published = raw.trimEnd().replace('"routing_key": "celery", "redelivered": true}', '"routing_key": "celery"}');
    expect(frameKombuEnvelope(message, envelope.properties.delivery_info.routing_key, envelope.properties.priority, tag)).toBe(published);
  });

  it("an Ebb message framed for Redis is Celery's envelope: key order and separators as msg_plain's", () => {
    const celery = parseEnvelope(plainRaw).envelope;
    const m = makeTaskMessage({ id: celery.headers.id, task: "probe.add", args: [2, 3] });
    const ours = frameKombuEnvelope(encodeTransport(m), "celery", 0, "tag");
    const props = JSON.parse(ours).properties as Record<string, unknown>;
    expect(Object.keys(props)).toEqual(Object.keys(celery.properties));
    expect(Object.keys(JSON.parse(ours))).toEqual(Object.keys(celery));
    expect(ours).toContain(
      '"delivery_info": {"exchange": "", "routing_key": "celery"}, "priority": 0, "body_encoding": "base64", "delivery_tag": "tag"}}',
    );
  });

  it.each([
    ["not JSON", "\x80\x04\x95pickle bytes", /not JSON/],
    ["a JSON array", "[1, 2, 3]", /not an object/],
    ["no body", JSON.stringify({ headers: { task: "t" }, properties: {} }), /"t".*no string body/],
  ])("refuses %s with a ProtocolError", (_label, raw, message) => {
    expectProtocolError(() => parseKombuEnvelope(raw), message);
  });
});
