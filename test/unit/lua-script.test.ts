import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { LuaScript } from "../../src/redis/lua-script.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function folder(files: Record<string, string>): URL {
  const dir = mkdtempSync(join(tmpdir(), "ebb-lua-"));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, ".."), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return pathToFileURL(`${dir}/`);
}

/** A client that records the EVALSHA it was asked for, so key-count checks need no server. */
const recorder = () => {
  const calls: unknown[][] = [];
  return { calls, client: { evalsha: async (...a: unknown[]) => calls.push(a) } as never };
};

describe("LuaScript", () => {
  it("replaces each --@include line by the file, once per script, relative to the scripts folder", () => {
    const dir = folder({
      "a-1.lua": '--@include "includes/h.lua"\n--@include "includes/h.lua"\nreturn f()\n',
      "includes/h.lua": "local function f() return 1 end\n",
    });
    const s = new LuaScript(dir, "a-1");
    expect(s.source).toBe("local function f() return 1 end\n\n-- (includes/h.lua is included above)\nreturn f()\n");
  });

  it("takes the KEYS count from the file name: -N exactly, -N+ at least N", async () => {
    const dir = folder({ "one-2.lua": "return 1\n", "batch-2+.lua": "return 1\n" });
    const { client, calls } = recorder();
    const exact = new LuaScript(dir, "one-2");
    await expect(exact.run(client, ["a"], [])).rejects.toThrow("one-2.lua takes 2 keys, got 1");
    await expect(exact.run(client, ["a", "b", "c"], [])).rejects.toThrow("takes 2 keys, got 3");
    await exact.run(client, ["a", "b"], ["x"]);
    const batch = new LuaScript(dir, "batch-2+");
    await expect(batch.run(client, ["a"], [])).rejects.toThrow("takes at least 2 keys, got 1");
    await batch.run(client, ["a", "b", "c"], []);
    expect(calls.map((c) => c[1])).toEqual([2, 3]);
  });

  it("refuses a file name without its KEYS count", () => {
    const dir = folder({ "nameless.lua": "return 1\n" });
    expect(() => new LuaScript(dir, "nameless")).toThrow(/must end in -N or -N\+/);
  });
});
