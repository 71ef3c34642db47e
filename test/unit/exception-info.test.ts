import { describe, it, expect } from "vitest";
import { encodeException, formatTraceback, isExceptionInfo, JS_EXC_MODULE } from "../../src/protocol/exception-info.js";
import { decodeResultMeta } from "../../src/protocol/result-meta.js";
import { readReference } from "../fixtures/celery-reference.js";

describe("encodeException", () => {
  it("uses module ebb.js for JS-only error classes", () => {
    expect(JS_EXC_MODULE).toBe("ebb.js");
  });

  it("Error → exc_type Error in ebb.js, message as a one-element list", () => {
    expect(encodeException(new Error("boom"))).toEqual({ exc_type: "Error", exc_message: ["boom"], exc_module: "ebb.js" });
  });

  it("TypeError keeps Python's builtins module so Python raises its own class", () => {
    expect(encodeException(new TypeError("x is not a function"))).toEqual({
      exc_type: "TypeError",
      exc_message: ["x is not a function"],
      exc_module: "builtins",
    });
  });

  it("other JS builtins that are not Python builtins go to ebb.js", () => {
    expect(encodeException(new RangeError("r"))).toEqual({ exc_type: "RangeError", exc_message: ["r"], exc_module: "ebb.js" });
    expect(encodeException(new SyntaxError("s")).exc_module).toBe("ebb.js");
  });

  it("a custom class that sets its name", () => {
    class PaymentDeclined extends Error {
      override name = "PaymentDeclined";
    }
    expect(encodeException(new PaymentDeclined("card 42"))).toEqual({
      exc_type: "PaymentDeclined",
      exc_message: ["card 42"],
      exc_module: "ebb.js",
    });
  });

  it("a custom class that does not set its name is still reported by its class name", () => {
    class QuotaExceeded extends Error {}
    expect(encodeException(new QuotaExceeded("over")).exc_type).toBe("QuotaExceeded");
    expect(encodeException(new QuotaExceeded("over")).exc_module).toBe("ebb.js");
  });

  it("a custom class named like a Python builtin keeps builtins", () => {
    class ValueError extends Error {
      override name = "ValueError";
    }
    expect(encodeException(new ValueError("bad"))).toEqual({ exc_type: "ValueError", exc_message: ["bad"], exc_module: "builtins" });
  });

  it("uses excMessage when an error carries Celery-style args", () => {
    const e = Object.assign(new Error("custom"), { excMessage: ["custom", 42] });
    expect(encodeException(e).exc_message).toEqual(["custom", 42]);
  });

  it("ignores an excMessage that is not a list", () => {
    const e = Object.assign(new Error("m"), { excMessage: "not a list" });
    expect(encodeException(e).exc_message).toEqual(["m"]);
  });

  it.each([
    ["a string", "plain failure", ["plain failure"]],
    ["a number", 42, ["42"]],
    ["an object", { code: 7 }, ['{"code":7}']],
    ["null", null, ["null"]],
    ["undefined", undefined, ["undefined"]],
    ["a bigint", 10n, ["10"]],
  ] as const)("a thrown %s becomes Error in ebb.js", (_label, thrown, message) => {
    expect(encodeException(thrown)).toEqual({ exc_type: "Error", exc_message: message, exc_module: "ebb.js" });
  });

  it("a circular object does not throw", () => {
    const o: Record<string, unknown> = {};
    o.self = o;
    const info = encodeException(o);
    expect(info.exc_type).toBe("Error");
    expect(info.exc_message).toEqual(["[object Object]"]);
  });

  it("produces JSON that Celery's decoder shape accepts", () => {
    const info = encodeException(new TypeError("t"));
    const back = JSON.parse(JSON.stringify(info));
    expect(Object.keys(back).sort()).toEqual(["exc_message", "exc_module", "exc_type"]);
    expect(Array.isArray(back.exc_message)).toBe(true);
  });
});

describe("isExceptionInfo", () => {
  it("accepts Celery's captured exception results", () => {
    for (const file of ["failure_valueerror.json", "failure_custom_exception.json", "revoked_by_expires.json"]) {
      expect(isExceptionInfo(decodeResultMeta(readReference(`result_values/${file}`), file).result), file).toBe(true);
    }
  });

  it("accepts what encodeException writes", () => {
    expect(isExceptionInfo(encodeException(new Error("x")))).toBe(true);
  });

  it.each([null, 5, "ValueError", { exc_message: ["x"] }, { exc_type: 3 }, undefined, [{ exc_type: "X" }]])("rejects %j", (value) => {
    expect(isExceptionInfo(value)).toBe(false);
  });
});

describe("formatTraceback", () => {
  it("returns the stack of an Error", () => {
    const e = new Error("with stack");
    expect(formatTraceback(e)).toBe(e.stack);
    expect(formatTraceback(e)).toContain("with stack");
  });

  it("returns null for non-errors and errors without a stack", () => {
    expect(formatTraceback("boom")).toBeNull();
    const e = new Error("x");
    e.stack = undefined;
    expect(formatTraceback(e)).toBeNull();
  });
});
