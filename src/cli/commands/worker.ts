import { hostname } from "node:os";
import type { Command } from "commander";
import type { Beat } from "../../beat/beat.js";
import { UsageError } from "../exit-codes.js";
import { intFlag, timeLimitFlag } from "../flags.js";
import { HARD_EXIT_MS, type CliIO } from "../io.js";
import { loadApp } from "../load-app.js";
import { startBeat } from "../start-beat.js";
import { childName, PROCESS_INDEX_ENV, sendReady, superviseWorkers } from "../worker-processes.js";
import { parseLogLevel } from "../../logger.js";
import { attachApp, attachWorker } from "../../metrics/attach.js";
import { createMetrics } from "../../metrics/ebb-metrics.js";
import { type MetricsServer, serveMetrics } from "../../metrics/metrics-server.js";
import { metricsFlags, type MetricsFlags } from "../metrics-flags.js";

interface WorkerFlags extends MetricsFlags {
  app?: string;
  concurrency?: string;
  prefetch?: string;
  queues?: string;
  beat?: boolean;
  withoutBeat?: boolean;
  events?: boolean;
  hostname?: string;
  timeLimit?: string;
  softTimeLimit?: string;
  processes?: string;
  loglevel?: string;
}

/**
 * `ebb worker -A MODULE`: consume until SIGTERM/SIGINT, then finish what is in flight and
 * exit 0. A second signal stops at once, within about a second even if a task ignores its abort
 * signal (exit 130): the messages in flight are not acked and go back to the queue.
 * Beat runs embedded unless --without-beat: ticks are claimed in the store, so every worker may
 * run it and a deployment cannot forget to.
 */
export function workerCommand(program: Command, io: CliIO, done: (code: number) => void): void {
  program
    .command("worker")
    .description("run a worker for the app that MODULE exports, with beat embedded")
    .option("-A, --app <module>", "module that exports the app (as `app` or default)")
    .option("-c, --concurrency <n>", "tasks at once", "10")
    .option(
      "--prefetch <n>",
      "messages taken ahead beyond --concurrency (default: as many as --concurrency; Celery's prefetch multiplier 4 is 3 × concurrency)",
    )
    .option("-Q, --queues <q1,q2>", "queues to consume, comma separated")
    .option("--without-beat", "do not run beat in this worker")
    .option("-B, --beat", "run beat in this worker (the default; accepted for Celery users)")
    .option("-E, --events", "send Celery's monitoring events (task events and the heartbeat) for celery events, Flower and celery-exporter")
    .option("-n, --hostname <name>", "node name for remote control and results, %h = this host (default ebb-<pid>@<host>)")
    .option("--time-limit <dur>", "hard time limit of tasks that set none (e.g. 5m; a bare number is seconds, as in Celery)")
    .option("--soft-time-limit <dur>", "soft time limit of tasks that set none: their signal is aborted with SoftTimeLimitExceeded")
    .option("--processes <n>", "worker processes to run (one core each); beat runs in the first", "1")
    .option("-l, --loglevel <level>", "debug (adds a line per task received and succeeded), info, warning or error", "info")
    .option("--metrics-port <port>", "serve Prometheus metrics at http://HOST:PORT/metrics (with --processes, process i serves PORT+i)")
    .option("--metrics-host <host>", "address the metrics are served on (default 127.0.0.1; any other needs --metrics-token)")
    .option("--metrics-token <token>", "Bearer token Prometheus must send (default: EBB_METRICS_TOKEN)")
    .action(async (flags: WorkerFlags) => {
      if (!flags.app) throw new UsageError("ebb worker needs -A MODULE: the module that exports your app and registers its tasks");
      const level = parseLogLevel(flags.loglevel ?? "info");
      if (level === null)
        throw new UsageError(`Expected --loglevel to be debug, info, warning or error, got ${JSON.stringify(flags.loglevel)}`);
      // Before the app module loads: its default logger reads the level from here.
      process.env.EBB_LOG_LEVEL = level;
      const processes = intFlag("--processes", flags.processes ?? "1", 1, 256);
      // Checked before anything starts (and in the supervisor too): a refused flag stops at once.
      const metricsAt = metricsFlags(flags, process.env);
      const index = process.env[PROCESS_INDEX_ENV];
      if (processes > 1 && index === undefined) {
        done(await superviseWorkers(io, processes, process.argv.slice(2), process.argv[1]!));
        return;
      }
      // A worker process of --processes: its supervisor's exit closes the IPC channel; stop warmly then.
      if (index !== undefined) process.once("disconnect", () => process.kill(process.pid, "SIGTERM"));
      if (flags.beat && flags.withoutBeat) throw new UsageError("Give either -B/--beat or --without-beat, not both");
      const concurrency = intFlag("--concurrency", flags.concurrency ?? "10", 1, 10_000);
      const prefetch = flags.prefetch === undefined ? undefined : intFlag("--prefetch", flags.prefetch, 0, 100_000);
      const limits = {
        ...(flags.timeLimit !== undefined ? { timeLimitMs: timeLimitFlag("--time-limit", flags.timeLimit) } : {}),
        ...(flags.softTimeLimit !== undefined ? { softTimeLimitMs: timeLimitFlag("--soft-time-limit", flags.softTimeLimit) } : {}),
      };
      if (limits.timeLimitMs !== undefined && limits.softTimeLimitMs !== undefined && limits.softTimeLimitMs >= limits.timeLimitMs)
        throw new UsageError(
          `Expected --soft-time-limit (${flags.softTimeLimit}) to be shorter than --time-limit (${flags.timeLimit}): the soft limit warns a task before the hard one stops it`,
        );
      const queues = flags.queues
        ?.split(",")
        .map((q) => q.trim())
        .filter(Boolean);
      const app = await loadApp({ app: flags.app });
      let metricsServer: MetricsServer | null = null;
      try {
        // Beat first: a schedule that cannot run stops the worker before it takes any message.
        const beat: Beat | null = flags.withoutBeat || (index !== undefined && index !== "0") ? null : await startBeat(app);
        const given = flags.hostname?.replace(/%h/g, hostname());
        const name = given !== undefined && index !== undefined ? childName(given, Number(index)) : given;
        if (name !== undefined && name.trim() === "")
          throw new UsageError("Expected --hostname to be a node name such as ebb1@%h, got an empty one");
        const worker = await app.worker({
          concurrency,
          ...(prefetch !== undefined ? { prefetch } : {}),
          ...limits,
          ...(queues ? { queues } : {}),
          ...(name ? { name } : {}),
          ...(flags.events ? { events: true } : {}),
        });
        if (metricsAt) {
          const metrics = createMetrics();
          attachWorker(metrics, worker);
          attachApp(metrics, app);
          // The last cleanup run recorded in the store, so the gauge is right from the first scrape.
          void app
            .scheduleStore()
            .then((s) => s.runs(50))
            .then((runs) => metrics.seedCleanupRuns(runs))
            .catch(() => undefined);
          const port = metricsAt.port === 0 || index === undefined ? metricsAt.port : metricsAt.port + Number(index);
          try {
            metricsServer = await serveMetrics(metrics, { ...metricsAt, port });
          } catch (e) {
            throw new UsageError(`--metrics-port: ${(e as Error).message}`);
          }
          io.err(`Serving metrics on ${metricsServer.url}\n`);
        }
        const off = io.onStop((count) => {
          if (count === 1) {
            io.err(`Stopping: finishing ${worker.active} task(s) in flight (signal again to stop at once)\n`);
            void beat?.stop();
            void worker.stop();
          } else {
            // Now: tasks that ignore their abort signal are not waited for. Their messages are
            // not acked; they go back to the queue (or come back after the visibility timeout).
            void beat?.stop();
            const inFlight = worker.active;
            const timedOut = new Promise<null>((r) => setTimeout(() => r(null), HARD_EXIT_MS));
            void Promise.race([worker.abortAndGiveBack(), timedOut]).then((given) => {
              const back = given === null ? "none given back yet" : `${given} message(s) given back to the queue now`;
              io.err(
                `Stopped at once: ${inFlight} task(s) cut short, not acknowledged; they will run again (${back}; the rest return after the visibility timeout)\n`,
              );
              done(130);
              io.exitNow(130);
            });
          }
        });
        try {
          // A remote `shutdown` stops the worker alone: beat stops with it.
          const running = Promise.all([worker.start().finally(() => beat?.stop()), beat?.start()]);
          if (index !== undefined) sendReady();
          await running;
        } finally {
          off();
        }
      } finally {
        await metricsServer?.close();
        await app.close();
      }
      done(0);
    });
}
