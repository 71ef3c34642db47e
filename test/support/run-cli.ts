import type { CliIO } from "../../src/cli/io.js";
import { runCli } from "../../src/cli/program.js";

export interface CliRun {
  code: number;
  out: string;
  err: string;
}

/** `ebb ARGV` in-process through the real runCli, capturing stdout and stderr. */
export async function runEbb(...argv: string[]): Promise<CliRun> {
  return runEbbWith({}, ...argv);
}

/** The same, with what the command reads on stdin. */
export async function runEbbWith(input: { stdin?: NodeJS.ReadableStream }, ...argv: string[]): Promise<CliRun> {
  let out = "";
  let err = "";
  const io: CliIO = {
    out: (t) => {
      out += t;
    },
    err: (t) => {
      err += t;
    },
    onStop: () => () => undefined,
    exitNow: () => undefined,
    ...input,
  };
  const code = await runCli(argv, io);
  return { code, out, err };
}
