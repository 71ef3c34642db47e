import { packageVersion } from "../package-version.js";
import { Command, CommanderError } from "commander";
import { redactUrl } from "../url.js";
import { callCommand } from "./commands/call.js";
import { resultCommand } from "./commands/result.js";
import { workerCommand } from "./commands/worker.js";
import { beatCommand } from "./commands/beat.js";
import { inspectCommand } from "./commands/inspect.js";
import { revokeCommand } from "./commands/revoke.js";
import { retentionCommands } from "./retention-commands.js";
import { EX, exitCodeFor } from "./exit-codes.js";
import type { CliIO } from "./io.js";

/**
 * Run the CLI once and return its exit status. Errors become one line on stderr and a
 * sysexits status, never a stack trace (EBB_DEBUG=1 adds the stack).
 */
export async function runCli(argv: string[], io: CliIO): Promise<number> {
  let exitCode: number | null = null;
  const done = (code: number) => {
    exitCode ??= code;
  };
  const program = new Command("ebb")
    .description("Ebb: a task queue whose results have a lifecycle")
    .version(packageVersion(), "-V, --version")
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s), outputError: () => undefined })
    .showSuggestionAfterError();
  workerCommand(program, io, done);
  beatCommand(program, io, done);
  callCommand(program, io, done);
  resultCommand(program, io, done);
  retentionCommands(program, io, done);
  inspectCommand(program, io, done);
  revokeCommand(program, io, done);
  for (const cmd of program.commands)
    cmd.exitOverride().configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s), outputError: () => undefined });
  try {
    await program.parseAsync(argv, { from: "user" });
    return exitCode ?? EX.OK;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.code === "commander.help") return EX.OK;
      io.err(`ebb: ${e.message.replace(/^error: /, "")}\n`);
      return EX.USAGE;
    }
    const message = e instanceof Error ? e.message : String(e);
    io.err(`ebb: ${redactUrl(message)}\n`);
    if (process.env.EBB_DEBUG && e instanceof Error && e.stack) io.err(`${redactUrl(e.stack)}\n`);
    return exitCodeFor(e);
  }
}
