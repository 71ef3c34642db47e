import { describe, expect, it } from "vitest";
import { buildCall } from "../../src/call.js";
import { ConfigError, ProtocolError } from "../../src/errors.js";
import { checkCompression, compressBody, decompressBody } from "../../src/protocol/compression.js";
import { decodeTaskMessage, encodeTaskMessage, makeTaskMessage } from "../../src/protocol/task-message.js";
import type { TransportMessage } from "../../src/protocol/transport-message.js";
import { defineTask } from "../../src/task.js";

// Bodies compressed by Python 3 (/usr/bin/python3) as kombu compresses them: bz2.compress,
// zlib.compress (kombu's "zlib" and "gzip") and lzma.compress of the same protocol v2 body.
const BODY = '[[2, 3], {}, {"callbacks": null, "errbacks": null, "chain": null, "chord": null}]';
const PY_BZ2 =
  "QlpoOTFBWSZTWaRTNS4AAA+bgFAEGBAACj5tmgogAFQ1AGgANNBKmJqGh6g9QyKDgh7KRfKnlLYiH3BWh+Se77WpIy1GQqGFNWw7AESeQGBAcl8XckU4UJCkUzUu";
const PY_ZLIB = "eJyLjjbSUTCO1VGorgVipeTEnJykxOTsYiUrhbzSnBwdBaXUoiI0keSMxMw8ZG5+UQqUWxsLAApsGfI=";
const PY_LZMA =
  "/Td6WFoAAATm1rRGAgAhARYAAAB0L+Wj4ABQADZdAC3gxFghFmYaLE91EEZQl45P+JXz7EBhcwcW3cF2FJS4v+KyE8ElvCxsTUIn6T/m2ZkUoqc8AAAAAL+W5h8113PWAAFSUZ/rZ7QftvN9AQAAAAAEWVo=";

function pythonMessage(body: Buffer, compression: string | undefined): TransportMessage {
  return {
    headers: { task: "t.add", id: "id-1", ...(compression ? { compression } : {}) },
    properties: { priority: 0 },
    body,
    contentType: "application/json",
    contentEncoding: "utf-8",
  };
}

describe("decompressing what Python sends", () => {
  it.each([
    ["application/x-gzip", PY_ZLIB],
    ["gzip", PY_ZLIB],
    ["zlib", PY_ZLIB],
    ["application/x-bz2", PY_BZ2],
    ["bzip2", PY_BZ2],
  ])("reads headers.compression %s", (header, base64) => {
    const m = decodeTaskMessage(pythonMessage(Buffer.from(base64, "base64"), header), "celery");
    expect(m.args).toEqual([2, 3]);
    expect(m.compression).toBe(header);
  });

  it("names a method Ebb cannot read and says what to do (the worker dead-letters it)", () => {
    expect(() => decodeTaskMessage(pythonMessage(Buffer.from(PY_LZMA, "base64"), "application/x-lzma"), "celery")).toThrow(
      new ProtocolError(
        'Message for task "t.add" is compressed with "application/x-lzma", which Ebb cannot decompress; send it uncompressed or with compression "zlib", "gzip", "bzip2" or "brotli"',
      ),
    );
  });

  it("says so when the bytes do not match the header", () => {
    expect(() => decompressBody(Buffer.from(BODY), "application/x-bz2", "t.add")).toThrow(/does not decompress as application\/x-bz2/);
  });
});

describe("sending compressed", () => {
  it.each([
    ["zlib", "application/x-gzip"],
    ["gzip", "application/x-gzip"],
    ["brotli", "application/x-brotli"],
  ])("%s: kombu's header, and the body reads back", (compression, header) => {
    const t = encodeTaskMessage(makeTaskMessage({ task: "t.add", args: [2, 3], compression }));
    expect(t.headers.compression).toBe(header);
    expect(t.body.toString("utf8")).not.toContain("[2, 3]");
    expect(decodeTaskMessage(t, "celery").args).toEqual([2, 3]);
  });

  it("writes zlib exactly as Python's zlib.decompress reads it", () => {
    const { body } = compressBody(Buffer.from(BODY), "zlib");
    expect(body.subarray(0, 2).toString("hex")).toBe("789c"); // a zlib stream, as kombu writes for "gzip" too
  });

  it("a retry of a compressed message goes out compressed, an uncompressed one does not", () => {
    const received = decodeTaskMessage(pythonMessage(Buffer.from(PY_ZLIB, "base64"), "application/x-gzip"), "celery");
    expect(encodeTaskMessage({ ...received, retries: 1 }).headers.compression).toBe("application/x-gzip");
    const plain = decodeTaskMessage(pythonMessage(Buffer.from(BODY), undefined), "celery");
    expect(encodeTaskMessage(plain).headers.compression).toBeUndefined();
  });

  it("takes compression from the call, then the task", () => {
    const def = defineTask("t.add", (() => 0) as never, { compression: "brotli" });
    const config = { defaultQueue: "celery" };
    expect(buildCall("t.add", [1], {}, def, config, 0).message.compression).toBe("brotli");
    expect(buildCall("t.add", [1], { compression: "zlib" }, def, config, 0).message.compression).toBe("zlib");
  });

  it("rejects a method Ebb cannot write, naming it; bzip2 says Ebb only reads it", () => {
    expect(() => checkCompression("lz4")).toThrow(ConfigError);
    expect(() => checkCompression("lz4")).toThrow('Expected compression to be one of "zlib", "gzip", "brotli", got "lz4"');
    expect(() => checkCompression("bzip2")).toThrow(/Ebb workers read bzip2 from Python senders, but Ebb cannot write it/);
    expect(() => defineTask("t", (() => 0) as never, { compression: "zstd" as never })).toThrow(/compression/);
  });
});
