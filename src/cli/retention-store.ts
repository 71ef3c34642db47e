import type { App } from "../app.js";
import { retentionStoreOf, type RetentionBackend } from "../backends/retention-store.js";
import { loadApp, type AppFlags } from "./load-app.js";

/**
 * Run a retention command against the app's result store and close the app afterwards. A store
 * without the retention operations is reported as unavailable (EX_UNAVAILABLE 69): the request
 * is fine, this store cannot serve it.
 */
export async function withRetentionStore<T>(
  flags: AppFlags,
  run: (store: RetentionBackend, app: App) => Promise<T>,
  opts: { check?: (app: App) => void } = {},
): Promise<T> {
  const app = await loadApp(flags);
  try {
    // Checks against the app (a --tier it does not have) run before any store is opened.
    opts.check?.(app);
    return await run(retentionStoreOf(await app.backend(), "cleanup, stats, check, hold"), app);
  } finally {
    await app.close();
  }
}
