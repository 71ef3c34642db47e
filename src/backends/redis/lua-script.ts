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

  constructor(name: string, private readonly numberOfKeys: number) {
    this.name = name;
    this.source = readFileSync(new URL(`./scripts/${name}.lua`, import.meta.url), "utf8");
    this.sha = createHash("sha1").update(this.source).digest("hex");
  }

  async run(client: Redis, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    if (keys.length !== this.numberOfKeys) throw new Error(`${this.name}.lua takes ${this.numberOfKeys} keys, got ${keys.length}`);
    try {
      return await client.evalsha(this.sha, this.numberOfKeys, ...keys, ...args);
    } catch (error) {
      if (!String((error as Error).message).startsWith("NOSCRIPT")) throw error;
      return client.eval(this.source, this.numberOfKeys, ...keys, ...args);
    }
  }
}

/** The backend's scripts, read once per process. */
export const SCRIPTS = {
  store: new LuaScript("store-result", 4),
  setHeld: new LuaScript("set-held", 4),
  forget: new LuaScript("forget-result", 4),
  trim: new LuaScript("trim-index", 2),
};
