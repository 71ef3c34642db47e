#!/usr/bin/env node
import { drainOutput, endQuietlyOnClosedPipe, processIO } from "./io.js";
import { runCli } from "./program.js";

endQuietlyOnClosedPipe();
const code = await runCli(process.argv.slice(2), processIO);
// Exit explicitly, so open store handles cannot keep a finished command alive; but only once
// stdout and stderr have been taken by whoever reads them.
await drainOutput();
process.exit(code);
