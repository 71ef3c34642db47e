export { createMetrics, EbbMetrics, type MetricsOptions } from "./ebb-metrics.js";
export { attachApp, attachWorker, type WorkerSource } from "./attach.js";
export {
  metricsFetchHandler,
  metricsHandler,
  type MetricsHandlerOptions,
  type MetricsRequest,
  type MetricsResponse,
} from "./metrics-handler.js";
export { isLoopback, serveMetrics, type MetricsServer, type MetricsServerOptions } from "./metrics-server.js";
export { exceptionName, RUNTIME_BUCKETS } from "./task-metrics.js";
