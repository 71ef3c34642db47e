import { describe, expect, it } from "vitest";
import { metricsFlags } from "../../src/cli/metrics-flags.js";
import { createMetrics, isLoopback, metricsFetchHandler, metricsHandler, serveMetrics } from "../../src/metrics/index.js";
import { freePort, releasePort } from "../support/free-port.js";
import { sample } from "./metrics-text.js";

describe("the /metrics handler", () => {
  it("answers GET /metrics in text format, 404 elsewhere, 405 for other methods", async () => {
    const metrics = createMetrics();
    metrics.tasks.sent("t.a", "celery");
    const handle = metricsHandler(metrics);
    const ok = await handle({ method: "GET", url: "/metrics?x=1" });
    expect(ok.status).toBe(200);
    expect(ok.headers["content-type"]).toBe(metrics.contentType);
    expect(sample(ok.body, "celery_task_sent_total", { name: "t.a" })).toBe(1);
    expect((await handle({ method: "HEAD", url: "/metrics" })).body).toBe("");
    expect((await handle({ method: "GET", url: "/" })).status).toBe(404);
    const post = await handle({ method: "POST", url: "/metrics" });
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe("GET, HEAD");
  });

  it("with a token, answers only a request carrying it as a Bearer token", async () => {
    const handle = metricsHandler(createMetrics(), { token: "s3cret" });
    expect((await handle({ method: "GET", url: "/metrics" })).status).toBe(401);
    expect((await handle({ method: "GET", url: "/metrics", authorization: "Bearer nope" })).status).toBe(401);
    expect((await handle({ method: "GET", url: "/metrics", authorization: "Basic s3cret" })).status).toBe(401);
    const denied = await handle({ method: "GET", url: "/metrics", authorization: "Bearer s3cret2" });
    expect(denied.headers["www-authenticate"]).toMatch(/^Bearer/);
    expect((await handle({ method: "GET", url: "/metrics", authorization: "Bearer s3cret" })).status).toBe(200);
  });

  it("has a fetch-style form for frameworks that speak Request and Response", async () => {
    const metrics = createMetrics();
    metrics.tasks.sent("t.b", "q1", 3);
    const fetchHandler = metricsFetchHandler(metrics, { token: "tok" });
    const denied = await fetchHandler(new Request("http://x/metrics"));
    expect(denied.status).toBe(401);
    const r = await fetchHandler(new Request("http://x/metrics", { headers: { authorization: "Bearer tok" } }));
    expect(r.status).toBe(200);
    expect(sample(await r.text(), "celery_task_sent_total", { name: "t.b", queue_name: "q1" })).toBe(3);
  });
});

describe("serveMetrics", () => {
  it("serves on 127.0.0.1 by default and stops on close()", async () => {
    const port = await freePort();
    try {
      const metrics = createMetrics();
      metrics.tasks.sent("t.c", "celery");
      const server = await serveMetrics(metrics, { port });
      expect(server.url).toBe(`http://127.0.0.1:${port}/metrics`);
      const r = await fetch(server.url);
      expect(r.status).toBe(200);
      expect(sample(await r.text(), "celery_task_sent_total", { name: "t.c" })).toBe(1);
      await server.close();
      await expect(fetch(server.url)).rejects.toThrow();
    } finally {
      releasePort(port);
    }
  });

  it("refuses a non-loopback host without a token, and asks for the token with one", async () => {
    const port = await freePort();
    try {
      await expect(serveMetrics(createMetrics(), { port, host: "0.0.0.0" })).rejects.toThrow(/needs token/);
      const server = await serveMetrics(createMetrics(), { port, host: "0.0.0.0", token: "tok" });
      try {
        expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(401);
        expect((await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: "Bearer tok" } })).status).toBe(200);
        // The port is taken now: a second server says so.
        await expect(serveMetrics(createMetrics(), { port })).rejects.toThrow(/already in use/);
      } finally {
        await server.close();
      }
    } finally {
      releasePort(port);
    }
  });

  it("knows loopback addresses", () => {
    for (const h of ["127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]", "::ffff:127.0.0.1"]) expect(isLoopback(h), h).toBe(true);
    for (const h of ["0.0.0.0", "::", "10.0.0.1", "example.com", "128.0.0.1"]) expect(isLoopback(h), h).toBe(false);
  });
});

describe("ebb worker's --metrics-* flags", () => {
  it("are off without --metrics-port, and check the port, the host and the token", () => {
    expect(metricsFlags({}, {})).toBeNull();
    expect(metricsFlags({ metricsPort: "9808" }, {})).toEqual({ port: 9808, host: "127.0.0.1", token: null });
    expect(() => metricsFlags({ metricsPort: "http" }, {})).toThrow(/Expected --metrics-port to be an integer 0\.\.65535, got "http"/);
    expect(() => metricsFlags({ metricsPort: "70000" }, {})).toThrow(/--metrics-port/);
    expect(() => metricsFlags({ metricsHost: "0.0.0.0" }, {})).toThrow(/need --metrics-port/);
    expect(() => metricsFlags({ metricsPort: "9808", metricsHost: "0.0.0.0" }, {})).toThrow(
      /Serving metrics on 0\.0\.0\.0 \(not a loopback address\) needs --metrics-token \(or EBB_METRICS_TOKEN\)/,
    );
    expect(() => metricsFlags({ metricsPort: "9808", metricsToken: "" }, {})).toThrow(/non-empty/);
    expect(metricsFlags({ metricsPort: "9808", metricsHost: "0.0.0.0" }, { EBB_METRICS_TOKEN: "envtok" })).toEqual({
      port: 9808,
      host: "0.0.0.0",
      token: "envtok",
    });
  });
});
