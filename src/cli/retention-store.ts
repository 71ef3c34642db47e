import type { App } from "../app.js";
import type { ResultBackend } from "../backends/result-backend.js";
import { isRetentionStore, type RetentionStore } from "../backends/retention-store.js";
import { StoreUnavailableError } from "../errors.js";
import { loadApp, type AppFlags } from "./load-app.js";

/**
 * Run a retention command against the app's result store and close the app afterwards. A store
 * without the retention operations is reported as unavailable (EX_UNAVAILABLE 69): the request
 * is fine, this store cannot serve it.
 */
export async function withRetentionStore<T>(flags: AppFlags, run: (store: RetentionStore & ResultBackend, app: App) => Promise<T>, opts: { check?: (app: App) => void } = {}): Promise<T> {
  const app = await loadApp(flags);
  try {
    // Checks against the app (a --tier it does not have) run before any store is opened.
    opts.check?.(app);
    const backend = await app.backend();
    if (!isRetentionStore(backend)) {
      throw new StoreUnavailableError(`The result store ${backend.url} does not support retention operations (cleanup, stats, check, hold) yet`);
    }
    return await run(backend as RetentionStore & ResultBackend, app);
  } finally {
    await app.close();
  }
}
