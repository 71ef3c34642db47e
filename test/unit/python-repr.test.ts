/**
 * Reprs as Celery 5.2.6 writes them into events (expected strings printed by Debian's Python:
 * celery.utils.saferepr.saferepr for values, repr() for exceptions).
 */
import { describe, expect, it } from "vitest";
import { pythonExceptionRepr, pythonRepr } from "../../src/protocol/python-repr.js";

describe("pythonRepr (Celery's saferepr of a result)", () => {
  it.each<[unknown, string]>([
    [null, "None"],
    [undefined, "None"],
    [true, "True"],
    [false, "False"],
    [5, "5"],
    [-3, "-3"],
    [1.5, "1.5"],
    [0.1, "0.1"],
    [1e-5, "1e-05"],
    [1e-7, "1e-07"],
    [1.5e300, "1.5e+300"],
    ["abc", "'abc'"],
    ["it's", "'it\\'s'"],
    ['say "hi"', "'say \"hi\"'"],
    ["a\nb\tc\\", "'a\nb\tc\\'"],
    ["é☃", "'é☃'"],
    [[1, "a", null], "[1, 'a', None]"],
    [["it's", "x\ny"], "['it\\'s', 'x\ny']"],
    [{ total: 5, items: [1, 2] }, "{'total': 5, 'items': [1, 2]}"],
    [{ "k'": "v" }, "{'k\\'': 'v'}"],
    [{}, "{}"],
    [[], "[]"],
  ])("%j → %s", (value, expected) => {
    expect(pythonRepr(value)).toBe(expected);
  });

  it("applies toJSON as JSON does, and cuts a long repr at 1024 characters ending in ...", () => {
    expect(pythonRepr(new Date(Date.UTC(2026, 0, 1)))).toBe("'2026-01-01T00:00:00.000Z'");
    const long = pythonRepr("x".repeat(5000));
    expect(long).toHaveLength(1024);
    expect(long.endsWith("...")).toBe(true);
  });

  it("does not loop on a cycle", () => {
    const a: unknown[] = [1];
    a.push(a);
    expect(pythonRepr(a)).toBe("[1, [...]]");
  });
});

describe("pythonExceptionRepr (repr() of the exception)", () => {
  it("prints the class and its arguments as Python does", () => {
    expect(pythonExceptionRepr(new TypeError("boom"))).toBe("TypeError('boom')");
    expect(pythonExceptionRepr(new TypeError("it's"))).toBe('TypeError("it\'s")');
    expect(pythonExceptionRepr(new TypeError("a\nb"))).toBe("TypeError('a\\nb')");
    class QuotaExceededError extends Error {}
    expect(pythonExceptionRepr(new QuotaExceededError("over"))).toBe("QuotaExceededError('over')");
    expect(pythonExceptionRepr(Object.assign(new Error("x"), { name: "KeyError", excMessage: ["a", 1] }))).toBe("KeyError('a', 1)");
    expect(pythonExceptionRepr("plain")).toBe("Error('plain')");
  });

  it("prints a stored exception (a failed task's result) the same way", () => {
    expect(pythonExceptionRepr({ exc_type: "ValueError", exc_message: ["it's", 2], exc_module: "builtins" })).toBe(`ValueError("it's", 2)`);
    expect(pythonExceptionRepr({ exc_type: "KeyError", exc_message: "k" })).toBe("KeyError('k')");
  });
});
