import { stringifyCeleryJson } from "./celery-json.js";

/**
 * Celery's JSON encoding of an exception: {exc_type, exc_message, exc_module}. Python Celery
 * rebuilds the class from exc_module.exc_type; for a module it cannot import it makes a class of
 * that name, so JS error names decode fine on the Python side (reference/celery
 * interop_client_reaction_to_foreign_results.txt, case 4b).
 */
export interface ExceptionInfo {
  exc_type: string;
  exc_message: unknown[];
  exc_module: string;
}

// JS error names that are also Python builtins keep "builtins", so Python raises its own class.
const PYTHON_BUILTINS = new Set([
  "TypeError",
  "ValueError",
  "KeyError",
  "RuntimeError",
  "Exception",
  "NotImplementedError",
  "AssertionError",
  "IndexError",
  "ZeroDivisionError",
  "TimeoutError",
]);

// Celery's own exceptions keep their module, so Python raises the real class.
const CELERY_EXCEPTIONS = new Set(["MaxRetriesExceededError", "TaskRevokedError", "NotRegistered", "Retry", "Reject", "Ignore"]);

// Raised by billiard, Celery's pool; Celery stores them with that module.
const BILLIARD_EXCEPTIONS = new Set(["TimeLimitExceeded", "SoftTimeLimitExceeded"]);

/** Module name Ebb uses for JS-only error classes. */
export const JS_EXC_MODULE = "ebb.js";

export function encodeException(error: unknown): ExceptionInfo {
  if (error instanceof Error) {
    // A subclass that does not set `name` inherits "Error"; its class name is what the user wrote.
    const ctorName = (error.constructor as { name?: string } | undefined)?.name;
    const type = error.name && error.name !== "Error" ? error.name : ctorName || "Error";
    const data = (error as { excMessage?: unknown }).excMessage;
    return {
      exc_type: type,
      exc_message: Array.isArray(data) ? data : [error.message],
      exc_module: moduleOf(type),
    };
  }
  return { exc_type: "Error", exc_message: [typeof error === "string" ? error : safeJson(error)], exc_module: JS_EXC_MODULE };
}

function moduleOf(type: string): string {
  if (PYTHON_BUILTINS.has(type)) return "builtins";
  if (CELERY_EXCEPTIONS.has(type)) return "celery.exceptions";
  return BILLIARD_EXCEPTIONS.has(type) ? "billiard.exceptions" : JS_EXC_MODULE;
}

export function isExceptionInfo(value: unknown): value is { exc_type: string; exc_message: unknown; exc_module?: string } {
  return typeof value === "object" && value !== null && typeof (value as { exc_type?: unknown }).exc_type === "string";
}

export function formatTraceback(error: unknown): string | null {
  return error instanceof Error && error.stack ? error.stack : null;
}

function safeJson(value: unknown): string {
  try {
    return value === undefined ? "undefined" : stringifyCeleryJson(value);
  } catch {
    return String(value);
  }
}
