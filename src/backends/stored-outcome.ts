import type { StoreOutcome, StoredResult } from "./result-backend.js";

/**
 * The outcome of a store that wrote its result, whose `result` is read back from what was written
 * only when someone asks (the worker does not): parsing the JSON anew gives the caller its own
 * copy, as a lookup would, and costs nothing when nobody looks.
 */
export function storedOutcome(read: () => StoredResult): StoreOutcome {
  let result: StoredResult | undefined;
  return {
    stored: true,
    get result(): StoredResult {
      result ??= read();
      return result;
    },
    set result(value: StoredResult) {
      result = value;
    },
  };
}
