import { createInterface } from "node:readline";
import type { App } from "../app.js";
import { describe, ProtocolError } from "../errors.js";
import type { CallOptions } from "../task.js";
import { parseCeleryJson } from "../protocol/celery-json.js";

/** One line of `ebb call --stdin`: a JSON array (the arguments), or {"task"?, "args"?, "kwargs"?}. */
interface LineCall {
  task: string;
  args: unknown[];
  kwargs: Record<string, unknown> | undefined;
}

/** Lines read and checked before any of them is sent: the calls of one chunk go out together. */
const CHUNK = 1000;

/**
 * `ebb call [TASK] --stdin`: many calls from JSON Lines, sent with app.sendMany a chunk at a time
 * (one round trip or one transaction per chunk, per run of lines with the same task and kwargs).
 * `write` gets each call's id, in input order, once its chunk is sent. A line that is not a call
 * stops the command before its chunk is sent; the error names the line and says how many calls
 * went out before it, so nothing is sent twice when the rest is sent again.
 */
export async function sendLines(
  app: App,
  input: NodeJS.ReadableStream,
  defaultTask: string | undefined,
  options: Omit<CallOptions, "taskId" | "kwargs">,
  write: (id: string) => void | Promise<void>,
  check: (task: string) => void,
): Promise<number> {
  let sent = 0;
  let lineNo = 0;
  let chunk: LineCall[] = [];
  const flush = async (): Promise<void> => {
    for (const run of runs(chunk)) {
      const results = await app.sendMany(
        run[0]!.task,
        run.map((c) => c.args),
        run[0]!.kwargs ? { ...options, kwargs: run[0]!.kwargs } : options,
      );
      for (const r of results) await write(r.id);
      sent += results.length;
    }
    chunk = [];
  };
  for await (const line of createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })) {
    lineNo++;
    if (line.trim() === "") continue;
    const call = parseLine(line, lineNo, defaultTask, sent, chunk.length);
    check(call.task);
    chunk.push(call);
    if (chunk.length >= CHUNK) await flush();
  }
  await flush();
  return sent;
}

function parseLine(line: string, n: number, defaultTask: string | undefined, sent: number, pending: number): LineCall {
  const bad = (why: string): ProtocolError =>
    new ProtocolError(
      `stdin line ${n}: ${why}; expected a JSON array of arguments or {"task": NAME, "args": [...], "kwargs": {...}}. ${sent} call(s) before it were sent (their ids are printed); it and the ${pending} checked call(s) waiting with it were not: fix the line and send from the first unsent one`,
    );
  let value: unknown;
  try {
    value = parseCeleryJson(line);
  } catch {
    throw bad(`not JSON (starts ${JSON.stringify(line.slice(0, 40))})`);
  }
  if (Array.isArray(value)) {
    if (defaultTask === undefined) throw bad("a bare argument array needs the task name on the command line");
    return { task: defaultTask, args: value, kwargs: undefined };
  }
  if (typeof value !== "object" || value === null) throw bad(`got ${describe(value)}`);
  const o = value as Record<string, unknown>;
  const task = o.task ?? defaultTask;
  if (typeof task !== "string" || task === "") throw bad('no task name (give "task" or the task on the command line)');
  if (o.args !== undefined && !Array.isArray(o.args)) throw bad(`"args" must be an array, got ${describe(o.args)}`);
  if (o.kwargs !== undefined && (typeof o.kwargs !== "object" || o.kwargs === null || Array.isArray(o.kwargs)))
    throw bad(`"kwargs" must be an object, got ${describe(o.kwargs)}`);
  return { task, args: (o.args as unknown[] | undefined) ?? [], kwargs: o.kwargs as Record<string, unknown> | undefined };
}

/** Consecutive calls with the same task and kwargs: each run is one sendMany. */
function runs(calls: LineCall[]): LineCall[][] {
  const out: LineCall[][] = [];
  let key = "";
  for (const c of calls) {
    const k = `${c.task}\u0000${c.kwargs === undefined ? "" : JSON.stringify(c.kwargs)}`;
    if (out.length === 0 || k !== key) out.push([]);
    out[out.length - 1]!.push(c);
    key = k;
  }
  return out;
}
