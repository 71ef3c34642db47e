/**
 * What a task costs Redis, and the ceiling that puts on throughput. The floor: redis-benchmark
 * (Debian's redis-tools) with 16 commands pipelined per round trip, SET, GET, LPUSH and RPOP,
 * 200,000 each, on the benchmark's database; its mean ops/s ÷ a system's commands per task (from
 * INFO commandstats over the drain) is "tasks/s if Redis only ran these commands", an upper bound
 * that ignores what its scripts and blocking reads cost beyond a plain command. The window's cost
 * (costOf) is the difference of two INFO snapshots (redis-stats.ts).
 */
import { execFileSync } from "node:child_process";
import type { Redis } from "ioredis";
import { flush, type RedisSnapshot } from "./redis-stats.js";

export interface RedisFloor {
  /** Mean of the four tests' requests per second. */
  opsPerSecond: number;
  byTest: Record<string, number>;
  command: string;
}

export const FLOOR_TESTS = "set,get,lpush,rpop";
export const FLOOR_REQUESTS = 200_000;

export async function redisFloor(redis: Redis, url: string): Promise<RedisFloor> {
  const u = new URL(url);
  const args = ["-h", u.hostname, "-p", u.port || "6379", "--dbnum", u.pathname.slice(1) || "0"];
  if (u.password) args.push("-a", decodeURIComponent(u.password), "--no-auth-warning");
  const shown = ["-P", "16", "-q", "-t", FLOOR_TESTS, "-n", String(FLOOR_REQUESTS)];
  const out = execFileSync("redis-benchmark", [...args, ...shown], { maxBuffer: 16 * 1024 * 1024 }).toString();
  // -q prints progress lines ending in \r, then "SET: 812345.67 requests per second, p50=..."
  const byTest: Record<string, number> = {};
  for (const m of out.matchAll(/([A-Z]+): ([\d.]+) requests per second/g)) byTest[m[1]!] = Number(m[2]);
  const values = Object.values(byTest);
  if (values.length === 0) throw new Error(`redis-benchmark printed no results:\n${out.slice(-1000)}`);
  await flush(redis); // it leaves key:__rand_int__ and mylist behind
  return {
    opsPerSecond: values.reduce((a, b) => a + b, 0) / values.length,
    byTest,
    command: `redis-benchmark ${shown.join(" ")}`,
  };
}

/** Script calls: what runs a Lua script or function (its redis.call()s count as commands too). */
const SCRIPT_COMMANDS = new Set(["eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro"]);

export interface RedisCost {
  cpuSeconds: number;
  /** Every command called in the window, scripts' inner calls included, INFO (the harness's own) left out. */
  commands: number;
  scripts: number;
  /** Calls per command, largest first (for the notes under the table). */
  byCommand: [string, number][];
  /**
   * Other clients of the same server seen in the window: clients of other databases that ran a
   * command in it, and connections accepted in it that are not on this database at its end.
   * The counters above are server-wide, so a window with company may count their work too.
   */
  company: number;
}

export function costOf(before: RedisSnapshot, after: RedisSnapshot, db: number): RedisCost {
  const byCommand: [string, number][] = [];
  let commands = 0;
  let scripts = 0;
  for (const [name, calls] of after.calls) {
    const delta = calls - (before.calls.get(name) ?? 0);
    if (delta <= 0 || name === "info") continue;
    byCommand.push([name, delta]);
    commands += delta;
    if (SCRIPT_COMMANDS.has(name)) scripts += delta;
  }
  byCommand.sort((a, b) => b[1] - a[1]);
  const window = Math.ceil((after.at - before.at) / 1000) + 1;
  const busyElsewhere = after.clients.filter((c) => c.db !== db && c.idle <= window).length;
  const joinedHere = after.clients.filter((c) => c.db === db && c.age <= window).length;
  const joinedElsewhere = Math.max(0, after.connections - before.connections - joinedHere);
  return {
    cpuSeconds: after.cpuSeconds - before.cpuSeconds,
    commands,
    scripts,
    byCommand,
    company: Math.max(busyElsewhere, joinedElsewhere),
  };
}
