#!/usr/bin/env node
import { processIO } from "./io.js";
import { runCli } from "./program.js";

const code = await runCli(process.argv.slice(2), processIO);
// Exit explicitly: open store handles must not keep a finished command alive.
process.exit(code);
