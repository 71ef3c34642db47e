import { metricsServerProblem } from "../metrics/metrics-server.js";
import { UsageError } from "./exit-codes.js";
import { intFlag } from "./flags.js";

export interface MetricsFlags {
  metricsPort?: string;
  metricsHost?: string;
  metricsToken?: string;
}

/**
 * `--metrics-port PORT [--metrics-host HOST] [--metrics-token TOKEN]` checked: null when metrics
 * are off. A host or token without a port, a bad port, an empty token, or a host off loopback
 * without a token (flag or EBB_METRICS_TOKEN) is a usage error naming the flag.
 */
export function metricsFlags(flags: MetricsFlags, env: NodeJS.ProcessEnv): { port: number; host: string; token: string | null } | null {
  if (flags.metricsPort === undefined) {
    if (flags.metricsHost !== undefined || flags.metricsToken !== undefined)
      throw new UsageError("--metrics-host and --metrics-token need --metrics-port: the port to serve /metrics on");
    return null;
  }
  const port = intFlag("--metrics-port", flags.metricsPort, 0, 65_535);
  const host = flags.metricsHost ?? "127.0.0.1";
  if (host.trim() === "") throw new UsageError("Expected --metrics-host to be an address such as 127.0.0.1 or 0.0.0.0, got an empty one");
  const token = flags.metricsToken ?? (env.EBB_METRICS_TOKEN === "" ? undefined : env.EBB_METRICS_TOKEN) ?? null;
  const problem = metricsServerProblem({ host, token }, { host: "--metrics-host", token: "--metrics-token (or EBB_METRICS_TOKEN)" });
  if (problem) throw new UsageError(problem);
  return { port, host, token };
}
