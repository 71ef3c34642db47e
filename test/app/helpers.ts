/**
 * Shared helpers for the in-process app and worker tests (test/app, test/worker).
 * Every helper gives each test its own memory:// URL so no two tests share queues or results.
 */
import { randomUUID } from "node:crypto";
import { expect, onTestFinished } from "vitest";
import { createApp, type App } from "../../src/app.js";
import type { MemoryBackend } from "../../src/backends/memory/memory-backend.js";
import type { MemoryBroker } from "../../src/brokers/memory/memory-broker.js";
import { manualClock } from "../../src/clock.js";
import type { AppConfig } from "../../src/config.js";
import { silentLogger, type Logger } from "../../src/logger.js";
import type { ResultInfo } from "../../src/result.js";
import type { Worker, WorkerOptions } from "../../src/worker/worker.js";
import { waitFor } from "../support/wait.js";

export const memUrl = (): string => `memory://t-${randomUUID()}`;

/** An app on a fresh memory:// URL (broker and backend), closed when the test ends. */
export function newApp(config: AppConfig = {}, log: Logger = silentLogger): App {
  const url = memUrl();
  const app = createApp({ broker: url, backend: url, ...config }, { log });
  onTestFinished(() => app.close());
  return app;
}

export type ManualClock = ReturnType<typeof manualClock>;

/**
 * An app whose own clock and whose memory stores share one manual clock: createApp({ clock })
 * hands an injected clock to the memory:// stores it opens (asserted here, and in clock.test.ts).
 */
export async function clockedApp(
  config: AppConfig = {},
  log: Logger = silentLogger,
): Promise<{ app: App; clock: ManualClock; broker: MemoryBroker; backend: MemoryBackend }> {
  const clock = manualClock();
  const app = newApp({ clock, ...config }, log);
  const broker = (await app.broker()) as MemoryBroker;
  const backend = (await app.backend()) as MemoryBackend;
  // The premise of every clocked test: the stores read the manual clock, not the system's.
  expect(await backend.now()).toBe(clock());
  return { app, clock, broker, backend };
}

/** Start a worker for `app`; it is stopped (and awaited) when the test ends. */
export async function startWorker(app: App, options: WorkerOptions = {}): Promise<{ worker: Worker; running: Promise<void> }> {
  // A short fetch wait and ETA check so a worker notices a manual clock advance quickly (nothing is woken by the clock).
  const worker = await app.worker({ fetchWaitMs: 20, etaCheckMs: 20, ...options });
  const running = worker.start();
  onTestFinished(async () => {
    await worker.stop();
    await running;
  });
  return { worker, running };
}

export interface LogLine {
  level: "info" | "warn" | "error";
  message: string;
}

export function collectingLogger(): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  return {
    lines,
    log: {
      info: (message) => void lines.push({ level: "info", message }),
      warn: (message) => void lines.push({ level: "warn", message }),
      error: (message) => void lines.push({ level: "error", message }),
    },
  };
}

export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * Let the event loop run for a while, to give a misbehaving worker the chance to do what it
 * must not (start a 4th task, resolve stop() early). Never used as the proof that something happened.
 */
export async function letItRun(ms = 50): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
  await new Promise<void>((r) => setTimeout(r, ms));
}

/** Poll `condition` until it holds; fails the test (naming `what`) after timeoutMs. Never a fixed sleep. */
export async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  await waitFor(what, condition, timeoutMs, 5);
}

/** expiresAt - dateDone in ms, as `ebb result --json` would show it. */
export function lifetimeOf(info: ResultInfo): number | null {
  expect(info.dateDone).not.toBeNull();
  if (info.expiresAt === null) return null;
  return Date.parse(info.expiresAt) - Date.parse(info.dateDone!);
}

export const SECOND = 1_000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;
