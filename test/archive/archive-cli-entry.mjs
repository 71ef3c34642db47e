// The `ebb archive` / `ebb restore` commands from the built package, for the SIGKILL test while
// src/cli/program.ts does not register them yet (the test prefers dist/src/cli/main.js once it
// does). Same error handling as runCli: one line on stderr and a sysexits status.
import { Command, CommanderError } from "commander";
import { archiveCommand } from "../../dist/src/cli/commands/archive.js";
import { restoreCommand } from "../../dist/src/cli/commands/restore.js";
import { exitCodeFor } from "../../dist/src/cli/exit-codes.js";
import { processIO } from "../../dist/src/cli/io.js";

let code = null;
const done = (c) => (code ??= c);
const program = new Command("ebb").exitOverride();
archiveCommand(program, processIO, done);
restoreCommand(program, processIO, done);
for (const cmd of program.commands) cmd.exitOverride();
try {
  await program.parseAsync(process.argv.slice(2), { from: "user" });
} catch (e) {
  process.stderr.write(`ebb: ${e instanceof Error ? e.message : String(e)}\n`);
  code = e instanceof CommanderError ? 64 : exitCodeFor(e);
}
process.exit(code ?? 0);
