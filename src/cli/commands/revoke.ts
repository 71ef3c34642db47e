import type { Command } from "commander";
import { formatDuration } from "../../duration.js";
import { durationFlag, withAppFlags } from "../flags.js";
import { printJson, type CliIO } from "../io.js";
import { loadApp, type AppFlags } from "../load-app.js";
import { nodesFlag } from "./inspect.js";

interface RevokeFlags extends AppFlags {
  json?: boolean;
  terminate?: boolean;
  signal?: string;
  timeout?: string;
  destination?: string;
}

/**
 * `ebb revoke ID... [--terminate] [--signal SIGTERM]`: Celery's revoke, broadcast to every
 * worker, Ebb or Python. A message for a revoked id that a worker takes later ends REVOKED
 * without running; with --terminate a running one is ended too. It waits --timeout for the
 * workers' acknowledgements and names them; on Redis a worker not running now never hears of it
 * (Celery's pub/sub), which stderr says when no worker answered. Exit 0 once sent.
 */
export function revokeCommand(program: Command, io: CliIO, done: (code: number) => void): void {
  withAppFlags(
    program
      .command("revoke")
      .argument("<ids...>", "task ids")
      .description("revoke tasks on every worker (Ebb or Python): they end REVOKED without running"),
  )
    .option("--terminate", "also end the task where it is running (Ebb: its signal aborts; Python: the process gets --signal)")
    .option("--signal <name>", "the signal Python workers send with --terminate", "SIGTERM")
    .option("--timeout <dur>", "how long to wait for the workers' acknowledgements (a bare number is seconds)", "1s")
    .option("-d, --destination <nodes>", "only these workers, by node name, comma separated")
    .action(async (ids: string[], flags: RevokeFlags) => {
      const timeoutMs = durationFlag("--timeout", flags.timeout ?? "1s")!;
      const destination = nodesFlag(flags.destination);
      const terminate = flags.terminate === true;
      const app = await loadApp(flags);
      let replies: Record<string, unknown>;
      try {
        replies = await app.control.revoke(ids, {
          terminate,
          signal: flags.signal ?? "SIGTERM",
          reply: true,
          timeoutMs,
          ...(destination ? { destination } : {}),
        });
      } finally {
        await app.close();
      }
      const nodes = Object.keys(replies);
      if (flags.json) printJson(io, { id: ids[0], ids, revoked: true, terminate, nodes });
      else {
        for (const [node, reply] of Object.entries(replies)) io.out(`${node}: ${describe(reply)}\n`);
        io.out(`${ids.join(" ")} revoked${terminate ? " (terminate)" : ""}; ${nodes.length} worker(s) acknowledged\n`);
      }
      if (nodes.length === 0)
        io.err(
          `ebb: no worker acknowledged the revoke within ${formatDuration(timeoutMs)}; a worker that starts later does not know of it unless the broker keeps revokes (SQLite does, Redis does not)\n`,
        );
      done(0);
    });
}

function describe(reply: unknown): string {
  if (typeof reply === "object" && reply !== null) {
    const r = reply as { ok?: unknown; error?: unknown };
    if (typeof r.ok === "string") return r.ok;
    if (typeof r.error === "string") return `ERROR ${r.error}`;
  }
  return JSON.stringify(reply);
}
