/**
 * What the kernel says about a process, read from /proc (Linux only): CPU time as utime+stime in
 * clock ticks (/proc/PID/stat fields 14 and 15) and memory as VmHWM (the peak resident set) and
 * VmRSS (/proc/PID/status). The worker processes read their own ("self"); the harness converts
 * ticks with `getconf CLK_TCK`.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

export function cpuTicks(pid: number | "self" = "self"): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name (field 2) is in parentheses and may hold spaces: count fields after it.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state), so utime (14) and stime (15) are fields[11] and fields[12].
  return Number(fields[11]) + Number(fields[12]);
}

export function memoryKB(pid: number | "self" = "self"): { hwmKB: number; rssKB: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0);
  return { hwmKB: kb("VmHWM"), rssKB: kb("VmRSS") };
}

let ticks: number | undefined;

/** Clock ticks per second (`getconf CLK_TCK`, 100 on Linux almost everywhere). */
export function clockTicksPerSecond(): number {
  ticks ??= Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100;
  return ticks;
}
