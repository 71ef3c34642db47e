export * from "./task-message.js";
export * from "./result-meta.js";
export * from "./exception-info.js";
export * from "./timestamps.js";
export * from "./celery-json.js";
export * from "./transport-message.js";
