import { describe, expect, it } from "vitest";
import { ConfigError } from "../../src/errors.js";
import { defineTask, type TaskOptions } from "../../src/task.js";
import { bindArguments } from "../../src/worker/bind-arguments.js";

const add = { name: "t.add", params: ["a", "b"] as const };

describe("bindArguments with params (Python's binding)", () => {
  it("fills named parameters from kwargs after the positional args", () => {
    expect(bindArguments(add, [], { a: 2, b: 3 })).toEqual([2, 3]);
    expect(bindArguments(add, [2], { b: 3 })).toEqual([2, 3]);
    expect(bindArguments(add, [], { b: 3 })).toEqual([undefined, 3]);
    expect(bindArguments(add, [1, 2], {})).toEqual([1, 2]);
  });

  it("rejects an unknown keyword argument with Python's TypeError, naming it", () => {
    expect(() => bindArguments(add, [1], { c: 3 })).toThrow(new TypeError("t.add() got an unexpected keyword argument 'c'"));
    expect(() => bindArguments(add, [], { a: 1, x: 2, y: 3 })).toThrow(new TypeError("t.add() got unexpected keyword arguments 'x', 'y'"));
  });

  it("names the handler as Python names the function, when it has a name", () => {
    async function add2(a: number, b: number) {
      return a + b;
    }
    expect(() => bindArguments({ ...add, handler: add2 }, [1], { c: 3 })).toThrow(
      new TypeError("add2() got an unexpected keyword argument 'c'"),
    );
  });

  it("rejects a kwarg that repeats a positional argument", () => {
    expect(() => bindArguments(add, [1], { a: 5 })).toThrow(new TypeError("t.add() got multiple values for argument 'a'"));
  });

  it("rejects more positional args than parameters", () => {
    expect(() => bindArguments(add, [1, 2, 3], {})).toThrow(new TypeError("t.add() takes 2 positional arguments but 3 were given"));
  });
});

describe("bindArguments without params (kwargs last, Ebb 0.3's behaviour)", () => {
  it("appends non-empty kwargs as one last object, and nothing when there are none", () => {
    expect(bindArguments({ name: "t" }, [1], { a: 2 })).toEqual([1, { a: 2 }]);
    expect(bindArguments({ name: "t" }, [1], {})).toEqual([1]);
  });
});

describe("task options params / kwargs", () => {
  const handler = async (a: number, b: number) => a + b;
  const configError = (options: unknown): string => {
    try {
      defineTask("t.add", handler as never, options as TaskOptions<never>);
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      return (e as Error).message;
    }
    throw new Error("expected a ConfigError");
  };

  it("keeps params on the definition", () => {
    expect(defineTask("t.add", handler as never, { params: ["a", "b"] }).params).toEqual(["a", "b"]);
    expect(defineTask("t.add", handler as never, { kwargs: "last" }).params).toBeUndefined();
  });

  it.each([
    [{ params: [] }, /params/],
    [{ params: ["a", "a"] }, /unique/],
    [{ params: ["a", ""] }, /identifier/],
    [{ params: ["a-b"] }, /identifier/],
    [{ params: ["a"], kwargs: "last" }, /not both/],
    [{ kwargs: "first" }, /kwargs/],
  ])("rejects %j", (options, message) => {
    expect(configError(options)).toMatch(message);
  });
});
