import { describe, it, expect } from "vitest";
import { ProtocolError } from "../../src/errors.js";
import { isExceptionInfo } from "../../src/protocol/exception-info.js";
import { decodeResultMeta, encodeResultMeta, type ResultMeta } from "../../src/protocol/result-meta.js";
import { listReference, readReference } from "../fixtures/celery-reference.js";

const FILES = listReference("result_values", ".json");
const read = (file: string) => readReference(`result_values/${file}`);

/** Exact instant of a naive Celery date_done in fractional ms, computed without src/. */
function exactNaiveMs(value: string): number {
  const m = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{6})$/.exec(value);
  if (!m) throw new Error(`test helper cannot parse ${value}`);
  const [, y, mo, d, h, mi, s, us] = m;
  return Date.UTC(+y!, +mo! - 1, +d!, +h!, +mi!, +s!) + Number(us) / 1000;
}

const EXTENDED_KEYS = ["name", "args", "kwargs", "worker", "retries", "queue"] as const;

describe("decodeResultMeta on real Celery 5.2.6 result values", () => {
  it("finds the captured result values", () => {
    expect(FILES.length).toBe(14);
    expect(FILES.filter((f) => f.startsWith("result_extended_")).length).toBe(6);
  });

  it.each(FILES)("%s decodes to the stored fields", (file) => {
    const raw = read(file);
    // biome-ignore lint/suspicious/noExplicitAny: the test reads nested fields of parsed JSON freely
    const o = JSON.parse(raw) as Record<string, any>;
    const meta = decodeResultMeta(raw, `celery-task-meta-${o.task_id}`);

    expect(meta.taskId).toBe(o.task_id);
    expect(meta.status).toBe(o.status);
    expect(meta.result).toEqual(o.result);
    expect(meta.traceback).toBe(o.traceback);
    if (o.children !== null) expect(meta.children).toEqual(o.children);
    if (o.date_done === null) expect(meta.dateDone).toBeNull();
    else expect(Math.abs(meta.dateDone! - exactNaiveMs(o.date_done))).toBeLessThanOrEqual(0.5);

    if (file.startsWith("result_extended_")) {
      expect(meta.extended).toBeDefined();
      for (const k of EXTENDED_KEYS) expect(meta.extended![k], k).toEqual(o[k]);
    } else {
      expect(meta.extended).toBeUndefined();
    }
  });

  it.each(FILES)("%s re-encodes byte-identical with encodeResultMeta", (file) => {
    const raw = read(file);
    expect(encodeResultMeta(decodeResultMeta(raw, file))).toBe(raw);
  });

  it.each(FILES)("%s re-encodes with Celery's key order", (file) => {
    const raw = read(file);
    const again = JSON.parse(encodeResultMeta(decodeResultMeta(raw, file)));
    expect(Object.keys(again)).toEqual(Object.keys(JSON.parse(raw)));
  });

  it("reads exception results as {exc_type, exc_message, exc_module}", () => {
    const meta = decodeResultMeta(read("failure_custom_exception.json"), "k");
    expect(isExceptionInfo(meta.result)).toBe(true);
    expect(meta.result).toEqual({ exc_type: "MyError", exc_message: ["custom", 42], exc_module: "probeapp" });
    expect(meta.traceback).toMatch(/^Traceback \(most recent call last\):/);
  });

  it("reads STARTED and RETRY with date_done null", () => {
    expect(decodeResultMeta(read("started_track_started.json"), "k")).toMatchObject({
      status: "STARTED",
      dateDone: null,
      result: { pid: 16794, hostname: "wP@vm" },
    });
    expect(decodeResultMeta(read("retry_state.json"), "k")).toMatchObject({ status: "RETRY", dateDone: null });
  });

  it("reads success_add's date_done to the millisecond", () => {
    // "2026-11-24T02:04:40.124625" is 124.625 ms past the second.
    const ms = decodeResultMeta(read("success_add.json"), "k").dateDone!;
    expect(ms).toBeGreaterThanOrEqual(Date.UTC(2026, 10, 24, 2, 4, 40, 124));
    expect(ms).toBeLessThanOrEqual(Date.UTC(2026, 10, 24, 2, 4, 40, 125));
  });
});

describe("encodeResultMeta keeps what Celery wrote (the parts of byte-identity, one at a time)", () => {
  it("keeps date_done's microseconds", () => {
    const raw = read("success_add.json");
    const again = JSON.parse(encodeResultMeta(decodeResultMeta(raw, "k")));
    expect(again.date_done).toBe("2026-11-24T02:04:40.124625");
  });

  it("uses Python json.dumps separators (', ' and ': '), as Celery's stored strings do", () => {
    const out = encodeResultMeta({ taskId: "t1", status: "SUCCESS", result: [1, { a: 2 }], traceback: null, children: [], dateDone: null });
    expect(out).toBe(
      '{"status": "SUCCESS", "result": [1, {"a": 2}], "traceback": null, "children": [], "date_done": null, "task_id": "t1"}',
    );
  });

  it("keeps children null (store_result() without a request)", () => {
    const raw = read("client_store_result_no_request_children_null.json");
    expect(JSON.parse(encodeResultMeta(decodeResultMeta(raw, "k"))).children).toBeNull();
  });
});

describe("encodeResultMeta", () => {
  const base: ResultMeta = {
    taskId: "41f3d619-9bb2-4ba0-8544-0ec8907ad0f5",
    status: "SUCCESS",
    result: 5,
    traceback: null,
    children: [],
    dateDone: Date.UTC(2026, 10, 24, 2, 12, 52, 549),
  };

  it("writes Celery's keys in Celery's order", () => {
    const out = JSON.parse(encodeResultMeta(base));
    expect(Object.keys(out)).toEqual(["status", "result", "traceback", "children", "date_done", "task_id"]);
    expect(out).toEqual({
      status: "SUCCESS",
      result: 5,
      traceback: null,
      children: [],
      date_done: "2026-11-24T02:12:52.549000",
      task_id: base.taskId,
    });
  });

  it("writes date_done with 6 fractional digits so Python does not read .549 as 549 µs", () => {
    expect(JSON.parse(encodeResultMeta(base)).date_done).toMatch(/^2026-11-24T02:12:52\.549000$/);
  });

  it("writes date_done null when not done", () => {
    expect(JSON.parse(encodeResultMeta({ ...base, status: "STARTED", dateDone: null })).date_done).toBeNull();
  });

  it("puts the extended fields between date_done and task_id", () => {
    const out = JSON.parse(
      encodeResultMeta({ ...base, extended: { name: "probe.add", args: [2, 3], kwargs: {}, worker: "w@h", retries: 0, queue: "celery" } }),
    );
    expect(Object.keys(out)).toEqual([
      "status",
      "result",
      "traceback",
      "children",
      "date_done",
      "name",
      "args",
      "kwargs",
      "worker",
      "retries",
      "queue",
      "task_id",
    ]);
    expect(out).toMatchObject({ name: "probe.add", args: [2, 3], kwargs: {}, worker: "w@h", retries: 0, queue: "celery" });
  });

  it("round-trips through decodeResultMeta", () => {
    const meta: ResultMeta = {
      ...base,
      status: "FAILURE",
      result: { exc_type: "ValueError", exc_message: ["boom"], exc_module: "builtins" },
      traceback: "Traceback ...",
      children: [[["id", null], null]],
      extended: { name: "n", args: null, kwargs: null, worker: null, retries: 2, queue: "q" },
    };
    const back = decodeResultMeta(encodeResultMeta(meta), "k");
    expect(back).toMatchObject({ ...meta });
    expect(back.extended).toEqual(meta.extended);
    expect(encodeResultMeta(back)).toBe(encodeResultMeta(meta));
  });
});

describe("decodeResultMeta reads date_done spellings other clients write", () => {
  const value = (dateDone: string) =>
    JSON.stringify({ status: "SUCCESS", result: 1, traceback: null, children: [], date_done: dateDone, task_id: "t" });

  it.each([
    ["2026-11-24T02:12:52.549Z", 549],
    ["2026-11-24T02:12:52.549118+00:00", 549.118],
    ["2026-11-24T02:12:52.549118", 549.118],
    ["2026-11-24T02:12:52Z", 0],
  ])("%s", (text, ms) => {
    // Microseconds are kept as the fraction of a millisecond.
    expect(decodeResultMeta(value(text), "k").dateDone).toBeCloseTo(Date.UTC(2026, 10, 24, 2, 12, 52) + ms, 6);
  });
});

describe("decodeResultMeta rejects what is not a Celery JSON result", () => {
  const where = "celery-task-meta-abc";
  const expectProtocol = (raw: string, message: RegExp) => {
    expect(() => decodeResultMeta(raw, where)).toThrow(ProtocolError);
    expect(() => decodeResultMeta(raw, where)).toThrow(message);
  };

  it("not JSON (e.g. a pickle), naming the key and JSON", () => {
    expectProtocol("\x80\x04\x95\x1c\x00", /celery-task-meta-abc.*not JSON/);
  });

  it("a JSON array", () => {
    expectProtocol('["SUCCESS", 5]', /celery-task-meta-abc.*not a JSON object/);
  });

  it("JSON null", () => {
    expectProtocol("null", /not a JSON object/);
  });

  it("a missing task_id", () => {
    expectProtocol('{"status": "SUCCESS", "result": 5}', /task_id/);
  });

  it.each(['"success"', '"EXPIRED"', "null", "5"])("status %s", (status) => {
    expectProtocol(`{"status": ${status}, "result": 5, "task_id": "t"}`, /status/);
  });

  it("a date_done that is not a timestamp", () => {
    expectProtocol('{"status": "SUCCESS", "result": 5, "date_done": "later", "task_id": "t"}', /date_done/);
  });
});
