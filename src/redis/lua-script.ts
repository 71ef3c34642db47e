import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import type { Redis } from "ioredis";

/**
 * One Lua script, loaded from a source file whose name says how many KEYS it takes, as BullMQ
 * names its commands: `store-result-4.lua` takes exactly 4, `remove-results-4+.lua` takes 4 or
 * more (a fixed head, then one key per item of a batch). A line `--@include "includes/x.lua"`
 * is replaced by that file (each file once per script, relative to the scripts folder), so
 * helpers shared by several scripts live in one place. The header of each file is its
 * contract: KEYS, ARGV and the reply.
 *
 * Run with EVALSHA, and with EVAL the first time a server has not seen it (NOSCRIPT: a new
 * server, SCRIPT FLUSH, a failover), which also caches it. Files are read once per process;
 * the build copies them next to the compiled JS, so this resolves in src/ and in dist/.
 */
export class LuaScript {
  readonly name: string;
  readonly source: string;
  readonly sha: string;
  readonly #keys: number;
  readonly #atLeast: boolean;

  /** `folder`: the scripts folder's URL; `file`: the name without ".lua", ending in -N or -N+. */
  constructor(folder: URL, file: string) {
    const count = /-(\d+)(\+?)$/.exec(file);
    if (!count) throw new Error(`Lua script name ${JSON.stringify(file)} must end in -N or -N+ (the number of KEYS it takes)`);
    this.name = file;
    this.#keys = Number(count[1]);
    this.#atLeast = count[2] === "+";
    this.source = expandIncludes(folder, `${file}.lua`, new Set());
    this.sha = createHash("sha1").update(this.source).digest("hex");
  }

  async run(client: Redis, keys: readonly string[], args: readonly (string | number | Buffer)[]): Promise<unknown> {
    const fits = this.#atLeast ? keys.length >= this.#keys : keys.length === this.#keys;
    if (!fits || keys.length === 0) {
      throw new Error(`${this.name}.lua takes ${this.#atLeast ? "at least " : ""}${this.#keys} keys, got ${keys.length}`);
    }
    try {
      return await client.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error;
      return client.eval(this.source, keys.length, ...keys, ...args);
    }
  }
}

const INCLUDE = /^--@include "([^"]+)"\s*$/gm;

/** The file's text with every `--@include "path"` line replaced by that file, each included once. */
function expandIncludes(folder: URL, path: string, seen: Set<string>): string {
  const text = readFileSync(new URL(path, folder), "utf8");
  return text.replace(INCLUDE, (_line, included: string) => {
    if (seen.has(included)) return `-- (${included} is included above)`;
    seen.add(included);
    return expandIncludes(folder, included, seen);
  });
}
