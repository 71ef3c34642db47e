import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import type { Redis } from "ioredis";

/**
 * One Lua file under ./scripts, run with EVALSHA and, the first time a server has not seen it
 * (NOSCRIPT: new server, SCRIPT FLUSH, failover), with EVAL, which also caches it. The files'
 * headers are the contracts: KEYS, ARGV and the reply.
 */
export class LuaScript {
  readonly lua: string;
  readonly sha: string;

  constructor(readonly name: string) {
    this.lua = readFileSync(new URL(`./scripts/${name}.lua`, import.meta.url), "utf8");
    this.sha = createHash("sha1").update(this.lua).digest("hex");
  }

  async run(client: Redis, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    try {
      return await client.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (e) {
      if (!(e instanceof Error) || !e.message.startsWith("NOSCRIPT")) throw e;
      return client.eval(this.lua, keys.length, ...keys, ...args);
    }
  }
}

/** Loaded once per process: the files do not change while it runs. */
export const SCRIPTS = {
  fetch: new LuaScript("fetch"),
  settle: new LuaScript("settle"),
  extend: new LuaScript("extend"),
  unlock: new LuaScript("unlock"),
  publishOnce: new LuaScript("publish-once"),
  putBack: new LuaScript("put-back"),
  sweep: new LuaScript("sweep"),
  forgetConsumer: new LuaScript("forget-consumer"),
  refreshMutex: new LuaScript("refresh-mutex"),
} as const;
