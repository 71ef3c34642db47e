/**
 * How a Node peer worker tells the harness when it is done, measured inside the worker so nothing
 * polls the store during the timed window: started() in the task handler (the first call is the
 * start), finished() once per task that is stored and acknowledged (or finishedTotal(count) with a
 * running count). When N tasks are done it prints one line:
 *
 *   bench-done {"firstAt", "doneAt" (epoch ms), "cpuFirst", "cpuDone" (utime+stime ticks of this
 *   process, /proc/self/stat), "hwmKB", "rssKB" (VmHWM, VmRSS)}
 *
 * bench/peers/celery_worker.py prints the same line for Python Celery.
 */
import { cpuTicks, memoryKB } from "../proc-stats.js";

export interface DoneReport {
  firstAt: number;
  doneAt: number;
  cpuFirst: number;
  cpuDone: number;
  hwmKB: number;
  rssKB: number;
}

export const DONE_LINE = /^bench-done (\{.*\})$/m;

export function doneReporter(n: number) {
  let firstAt = 0;
  let cpuFirst = 0;
  let count = 0;
  let reported = false;
  const report = () => {
    if (reported) return;
    reported = true;
    const doneAt = Date.now();
    const line: DoneReport = { firstAt, doneAt, cpuFirst, cpuDone: cpuTicks(), ...memoryKB() };
    process.stdout.write(`bench-done ${JSON.stringify(line)}\n`);
  };
  return {
    started(): void {
      if (firstAt !== 0) return;
      firstAt = Date.now();
      cpuFirst = cpuTicks();
    },
    finished(): void {
      if (++count >= n) report();
    },
    finishedTotal(total: number): void {
      if (total >= n) report();
    },
  };
}
