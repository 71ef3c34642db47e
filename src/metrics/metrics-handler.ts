import { createHash, timingSafeEqual } from "node:crypto";
import type { EbbMetrics } from "./ebb-metrics.js";

export interface MetricsHandlerOptions {
  /** When set, requests must carry `Authorization: Bearer TOKEN`. */
  token?: string | null;
}

/** What a request needs to be answered: its method, path, and Authorization header. */
export interface MetricsRequest {
  method: string;
  /** The path, with or without a query string. */
  url: string;
  authorization?: string | null | undefined;
}

export interface MetricsResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * Answers `GET /metrics` (and HEAD) with the metrics in Prometheus text format; with a token,
 * only a request that sends it as a Bearer token (401 otherwise). Other paths are 404, other
 * methods 405. Framework-free: `ebb worker --metrics-port` serves it with node:http, and a
 * dashboard can route its own `/metrics` to it (or to metricsFetchHandler()).
 */
export function metricsHandler(
  metrics: EbbMetrics,
  options: MetricsHandlerOptions = {},
): (req: MetricsRequest) => Promise<MetricsResponse> {
  const expected = options.token ? digest(options.token) : null;
  return async (req) => {
    const path = req.url.split("?", 1)[0];
    if (path !== "/metrics") return plain(404, "Not found: metrics are at /metrics\n");
    if (req.method !== "GET" && req.method !== "HEAD")
      return { ...plain(405, "Method not allowed: use GET\n"), headers: { ...TEXT, allow: "GET, HEAD" } };
    if (expected && !authorized(req.authorization, expected))
      return {
        ...plain(401, "Unauthorized: send Authorization: Bearer <token>\n"),
        headers: { ...TEXT, "www-authenticate": 'Bearer realm="ebb metrics"' },
      };
    try {
      const body = await metrics.text();
      return {
        status: 200,
        headers: { "content-type": metrics.contentType, "cache-control": "no-store" },
        body: req.method === "HEAD" ? "" : body,
      };
    } catch (e) {
      return plain(500, `Could not collect metrics: ${(e as Error).message}\n`);
    }
  };
}

/** The same as a fetch-style handler, `(Request) => Promise<Response>` (Hono, Bun, Deno, Node's fetch types). */
export function metricsFetchHandler(metrics: EbbMetrics, options: MetricsHandlerOptions = {}): (req: Request) => Promise<Response> {
  const handle = metricsHandler(metrics, options);
  return async (req) => {
    const r = await handle({ method: req.method, url: new URL(req.url).pathname, authorization: req.headers.get("authorization") });
    return new Response(req.method === "HEAD" ? null : r.body, { status: r.status, headers: r.headers });
  };
}

const TEXT = { "content-type": "text/plain; charset=utf-8" };

function plain(status: number, body: string): MetricsResponse {
  return { status, headers: { ...TEXT }, body };
}

function digest(s: string): Buffer {
  return createHash("sha256").update(s).digest();
}

/** Constant-time comparison of the Bearer token with the expected one. */
function authorized(header: string | null | undefined, expected: Buffer): boolean {
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header ?? "");
  return m !== null && timingSafeEqual(digest(m[1]!), expected);
}
