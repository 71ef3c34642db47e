import type { Command } from "commander";
import type { CallOptions } from "../../task.js";
import { compressionFlag, durationFlag, instantFlag, intFlag, jsonFlag, withAppFlags } from "../flags.js";
import { printJson, type CliIO } from "../io.js";
import { loadApp, type AppFlags } from "../load-app.js";
import { requireKnownTask } from "../known-names.js";
import { sendLines } from "../call-lines.js";
import { UsageError } from "../exit-codes.js";

interface CallFlags extends AppFlags {
  args?: string;
  kwargs?: string;
  countdown?: string;
  eta?: string;
  expires?: string;
  resultExpires?: string;
  ignoreResult?: boolean;
  queue?: string;
  priority?: string;
  compression?: string;
  force?: boolean;
  json?: boolean;
  stdin?: boolean;
}

const isArray = (v: unknown): v is unknown[] => Array.isArray(v);
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

export function callCommand(program: Command, io: CliIO, done: (code: number) => void): void {
  withAppFlags(
    program
      .command("call")
      .argument("[task]", "task name (with --stdin, the default for lines that name none)")
      .description("send one task by name, or many from stdin (--stdin, JSON Lines)"),
  )
    .option("--args <json-array>", "positional arguments, a JSON array", "[]")
    .option("--kwargs <json-object>", "keyword arguments, a JSON object")
    .option("--countdown <dur>", "run no earlier than this from now (30s, 5m; a bare number is seconds)")
    .option("--eta <iso>", "run no earlier than this ISO 8601 instant")
    .option("--expires <dur>", "message expiry: not started within this → REVOKED")
    .option("--result-expires <dur|never>", "this result's lifetime")
    .option("--ignore-result", "do not store this call's result")
    .option("--queue <q>", "queue to send to")
    .option("--priority <n>", "0..9, 0 first")
    .option("--compression <method>", "compress the message as kombu does: zlib (= gzip) or brotli")
    .option("--force", "with -A, send even a task the app does not register (e.g. one only Python workers run)")
    .option("--stdin", 'send one call per line of stdin: a JSON array of arguments, or {"task", "args", "kwargs"}; prints one id per line')
    .action(async (task: string | undefined, flags: CallFlags) => {
      if (task === undefined && !flags.stdin)
        throw new UsageError("ebb call needs a task name (or --stdin with lines that name their tasks)");
      if (flags.stdin && (flags.args !== "[]" || flags.kwargs !== undefined))
        throw new UsageError("With --stdin the arguments come from each line: drop --args and --kwargs");
      const options: CallOptions = {};
      const args = jsonFlag("--args", flags.args ?? "[]", isArray, "a JSON array such as '[2, 3]'");
      if (flags.kwargs !== undefined) options.kwargs = jsonFlag("--kwargs", flags.kwargs, isObject, `a JSON object such as '{"x": 1}'`);
      if (flags.countdown !== undefined) options.countdown = `${durationFlag("--countdown", flags.countdown)}ms`;
      if (flags.eta !== undefined) options.eta = instantFlag("--eta", flags.eta);
      if (flags.expires !== undefined) options.expires = `${durationFlag("--expires", flags.expires)}ms`;
      if (flags.resultExpires !== undefined) {
        const ms = durationFlag("--result-expires", flags.resultExpires, true);
        options.resultExpires = ms === null ? null : `${ms}ms`;
      }
      if (flags.ignoreResult) options.ignoreResult = true;
      if (flags.queue !== undefined) options.queue = flags.queue;
      if (flags.priority !== undefined) options.priority = intFlag("--priority", flags.priority, 0, 9);
      if (flags.compression !== undefined) options.compression = compressionFlag(flags.compression);
      const app = await loadApp(flags);
      try {
        const check = (name: string) => {
          if (flags.app !== undefined && !flags.force)
            requireKnownTask(app, name, flags.app, ", or pass --force to send it by name anyway (e.g. to a Python worker)");
        };
        if (flags.stdin) {
          const write = (id: string) => (flags.json ? printJson(io, { id }) : io.out(`${id}\n`));
          await sendLines(app, io.stdin ?? process.stdin, task, options, write, check);
          done(0);
          return;
        }
        check(task!);
        const res = await app.sendTask(task!, args, options);
        if (flags.json) printJson(io, { id: res.id });
        else io.out(`${res.id}\n`);
      } finally {
        await app.close();
      }
      done(0);
    });
}
