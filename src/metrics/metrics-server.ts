import { createServer, type Server } from "node:http";
import { isIP } from "node:net";
import { ConfigError } from "../errors.js";
import type { EbbMetrics } from "./ebb-metrics.js";
import { metricsHandler } from "./metrics-handler.js";

export interface MetricsServerOptions {
  port: number;
  /** Default 127.0.0.1. Any other than a loopback address needs a token. */
  host?: string;
  /** Required off loopback: requests must send `Authorization: Bearer TOKEN`. */
  token?: string | null;
}

export interface MetricsServer {
  /** http://HOST:PORT/metrics */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Whether `host` only accepts connections from this machine. */
export function isLoopback(host: string): boolean {
  const h = host
    .trim()
    .toLowerCase()
    .replace(/^\[(.*)\]$/, "$1");
  if (h === "localhost" || h === "::1") return true;
  const v4 = h.startsWith("::ffff:") ? h.slice(7) : h;
  return isIP(v4) === 4 && v4.startsWith("127.");
}

/**
 * Why these server options are refused, or null: a host off loopback without a token (metrics
 * name tasks and queues, so they are not served to the network unauthenticated).
 */
export function metricsServerProblem(
  options: Pick<MetricsServerOptions, "host" | "token">,
  flags = { host: "host", token: "token" },
): string | null {
  const host = options.host ?? "127.0.0.1";
  if (options.token === "") return `Expected ${flags.token} to be a non-empty token`;
  if (!isLoopback(host) && !options.token)
    return `Serving metrics on ${host} (not a loopback address) needs ${flags.token}: Prometheus must then send it as Authorization: Bearer <token>`;
  return null;
}

/** Serve GET /metrics with node:http until close(). Rejects when the address cannot be bound. */
export async function serveMetrics(metrics: EbbMetrics, options: MetricsServerOptions): Promise<MetricsServer> {
  const problem = metricsServerProblem(options);
  if (problem) throw new ConfigError(problem);
  const host = options.host ?? "127.0.0.1";
  const handle = metricsHandler(metrics, { token: options.token ?? null });
  const server: Server = createServer((req, res) => {
    void handle({ method: req.method ?? "GET", url: req.url ?? "/", authorization: req.headers.authorization }).then(
      (r) => {
        res.writeHead(r.status, r.headers);
        res.end(r.body);
      },
      () => {
        res.writeHead(500);
        res.end();
      },
    );
  });
  // A scraper's kept-alive connection must not hold the worker's exit.
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) =>
      reject(
        new ConfigError(
          e.code === "EADDRINUSE"
            ? `Cannot serve metrics on ${host}:${options.port}: the port is already in use; choose another`
            : `Cannot serve metrics on ${host}:${options.port}: ${e.message}`,
        ),
      ),
    );
    server.listen(options.port, host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : options.port;
  const shown = host.includes(":") ? `[${host}]` : host;
  return {
    url: `http://${shown}:${port}/metrics`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
