import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import type { Redis } from "ioredis";

/**
 * One Lua script from ./scripts/, run by EVALSHA with EVAL as the fallback when the server does not
 * have it cached (first use, or after a restart or SCRIPT FLUSH). Scripts are source files with a
 * contract header; the build copies them next to the compiled JS, so this resolves in src/ and dist/.
 */
export class LuaScript {
  readonly name: string;
  private readonly source: string;
  private readonly sha: string;

  /** numberOfKeys: how many KEYS the script takes, or "variable" for batch scripts (at least one). */
  constructor(
    name: string,
    private readonly numberOfKeys: number | "variable",
  ) {
    this.name = name;
    this.source = readFileSync(new URL(`./scripts/${name}.lua`, import.meta.url), "utf8");
    this.sha = createHash("sha1").update(this.source).digest("hex");
  }

  async run(client: Redis, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    const count = this.numberOfKeys === "variable" ? keys.length : this.numberOfKeys;
    if (keys.length !== count || count === 0) throw new Error(`${this.name}.lua takes ${this.numberOfKeys} keys, got ${keys.length}`);
    try {
      return await client.evalsha(this.sha, count, ...keys, ...args);
    } catch (error) {
      if (!String((error as Error).message).startsWith("NOSCRIPT")) throw error;
      return client.eval(this.source, count, ...keys, ...args);
    }
  }
}

/** The backend's scripts, read once per process. */
export const SCRIPTS = {
  store: new LuaScript("store-result", 4),
  setHeld: new LuaScript("set-held", 4),
  forget: new LuaScript("forget-result", 5),
  trim: new LuaScript("trim-index", 3),
  scanIndex: new LuaScript("scan-index", 1),
  remove: new LuaScript("remove-results", "variable"),
  markArchived: new LuaScript("mark-archived", "variable"),
  put: new LuaScript("put-result", 4),
  readUnindexed: new LuaScript("read-unindexed", "variable"),
  claimTicks: new LuaScript("claim-ticks", "variable"),
  markFireSent: new LuaScript("mark-fire-sent", 3),
};
