import { describe, expect, it } from "vitest";
import { dumpsCeleryJson, parseCeleryJson, stringifyCeleryJson } from "../../src/protocol/celery-json.js";

// What Python 3's json.dumps writes for these values (checked with /usr/bin/python3).
const PY_BIG = "[123456789012345678, -123456789012345678, 9007199254740991, 9007199254740992, 9007199254740993]";

describe("parseCeleryJson", () => {
  it("reads integers beyond 2^53 as bigint, and safe ones as number", () => {
    expect(parseCeleryJson(PY_BIG)).toEqual([
      123456789012345678n,
      -123456789012345678n,
      9007199254740991,
      9007199254740992n,
      9007199254740993n,
    ]);
  });

  it("keeps the 2^53 boundary exact on both sides, negative too", () => {
    const v = parseCeleryJson("[-9007199254740991, -9007199254740992, -9007199254740993]") as unknown[];
    expect(v).toEqual([-9007199254740991, -9007199254740992n, -9007199254740993n]);
    expect(typeof v[0]).toBe("number");
  });

  it("keeps floats as numbers, 17 significant digits and exponents included", () => {
    const v = parseCeleryJson("[0.1, 1.2345678901234567, 12345678901234567.0, 1e+16, 1.5e-07, -0.0]") as number[];
    expect(v).toEqual([0.1, 1.2345678901234567, 12345678901234568, 1e16, 1.5e-7, -0]);
    for (const x of v) expect(typeof x).toBe("number");
  });

  it("reads Python's NaN, Infinity and -Infinity tokens, nested anywhere", () => {
    const v = parseCeleryJson('{"a": NaN, "b": [Infinity, {"c": -Infinity}], "d": 1}') as Record<string, unknown>;
    expect(Number.isNaN(v.a)).toBe(true);
    expect(v.b).toEqual([Number.POSITIVE_INFINITY, { c: Number.NEGATIVE_INFINITY }]);
    expect(v.d).toBe(1);
  });

  it('leaves "NaN" and "Infinity" inside strings alone, escaped quotes included', () => {
    const text = '["NaN", "Infinity", "-Infinity", "say \\"NaN\\"", NaN, "x\\\\", Infinity]';
    const v = parseCeleryJson(text) as unknown[];
    expect(v.slice(0, 4)).toEqual(["NaN", "Infinity", "-Infinity", 'say "NaN"']);
    expect(Number.isNaN(v[4])).toBe(true);
    expect(v.slice(5)).toEqual(["x\\", Number.POSITIVE_INFINITY]);
  });

  it("never mistakes a number the sender wrote for a NaN sentinel", () => {
    // The sentinels are zeros with an exponent whose digits the text does not contain: a text
    // holding the first choice's digits gets another.
    const v = parseCeleryJson("[0E-71904231, NaN, 0E-719042331, 0E-7190423331]") as unknown[];
    expect(v[0]).toBe(0);
    expect(Number.isNaN(v[1])).toBe(true);
    expect(v.slice(2)).toEqual([0, 0]);
  });

  it("reads big integers inside strings-with-digits texts and objects alike", () => {
    expect(parseCeleryJson('{"id": "12345678901234567890", "n": 12345678901234567890}')).toEqual({
      id: "12345678901234567890",
      n: 12345678901234567890n,
    });
  });

  it("keeps the last of a duplicated key, as Python's dict does", () => {
    expect(parseCeleryJson('{"a": 1, "a": 2, "big": 123456789012345678}')).toEqual({ a: 2, big: 123456789012345678n });
  });

  it("throws SyntaxError for text that is not JSON, on either path", () => {
    expect(() => parseCeleryJson("{not json")).toThrow(SyntaxError);
    expect(() => parseCeleryJson("[NaNa]")).toThrow(SyntaxError);
    expect(() => parseCeleryJson("[12345678901234567890,]")).toThrow(SyntaxError);
  });
});

describe("dumpsCeleryJson", () => {
  it("leaves separators, quotes and backslashes inside strings alone, and escapes surrogates and DEL as Python does", () => {
    const value = { "k,é": 'a, b: "c" \\ 😀', n: [1, { "x:": ",y" }], e: "", q: '\\"', DEL: "\x7f~" };
    // /usr/bin/python3 -c 'import json; print(json.dumps(...))' on the same value:
    expect(dumpsCeleryJson(value)).toBe(
      '{"k,\\u00e9": "a, b: \\"c\\" \\\\ \\ud83d\\ude00", "n": [1, {"x:": ",y"}], "e": "", "q": "\\\\\\"", "DEL": "\\u007f~"}',
    );
  });

  it("writes what Python's json.dumps writes: separators and ensure_ascii", () => {
    expect(dumpsCeleryJson({ a: [1, 2.5, null], s: "é\u2028x", t: true })).toBe('{"a": [1, 2.5, null], "s": "\\u00e9\\u2028x", "t": true}');
  });

  it("writes a bigint as a JSON integer", () => {
    expect(dumpsCeleryJson([123456789012345678n, -123456789012345678n, 9007199254740991, 9007199254740992n, 9007199254740993n])).toBe(
      PY_BIG,
    );
  });

  it("writes NaN, Infinity and -Infinity as Python does, and never touches strings", () => {
    expect(dumpsCeleryJson({ a: Number.NaN, b: [Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY], s: "1E1 0E0", n: null })).toBe(
      '{"a": NaN, "b": [Infinity, -Infinity], "s": "1E1 0E0", "n": null}',
    );
  });

  it("round-trips big integers and non-finite numbers with parseCeleryJson", () => {
    const value = { args: [123456789012345678n, Number.NaN, 1.5, "NaN"], kwargs: { x: [Number.NEGATIVE_INFINITY, -(2n ** 70n)] } };
    const back = parseCeleryJson(dumpsCeleryJson(value));
    expect(back).toEqual(value);
  });

  it("writes a whole float as an integer (JavaScript cannot tell 1.0 from 1)", () => {
    expect(dumpsCeleryJson([1.0, 2.5])).toBe("[1, 2.5]");
  });

  it("writes undefined as null and keeps toJSON (dates)", () => {
    expect(dumpsCeleryJson(undefined)).toBe("null");
    expect(dumpsCeleryJson({ d: new Date(0), big: 1n })).toBe('{"d": "1970-01-01T00:00:00.000Z", "big": 1}');
  });
});

describe("stringifyCeleryJson", () => {
  it("writes compact JSON with characters kept, bigints and non-finite numbers as Python does", () => {
    expect(stringifyCeleryJson({ s: "é", n: 10n ** 20n, x: [Number.NaN, Number.POSITIVE_INFINITY] })).toBe(
      '{"s":"é","n":100000000000000000000,"x":[NaN,Infinity]}',
    );
    expect(stringifyCeleryJson({ a: [1, "E"] })).toBe(JSON.stringify({ a: [1, "E"] }));
  });
});
