import { Socket } from "node:net";
import { describe } from "vitest";

/**
 * Suites that need a real service run when it answers. Without it they are skipped with a line
 * saying so, except under CI=true, where a missing service fails the run: CI never counts a
 * skipped suite as passing.
 */
export const SERVICES = {
  redis: { host: "127.0.0.1", port: 6379 },
  postgres: { host: "127.0.0.1", port: 5432 },
  rabbitmq: { host: "127.0.0.1", port: 5672 },
} as const;

export type ServiceName = keyof typeof SERVICES;

const probes = new Map<ServiceName, Promise<boolean>>();

export function serviceAnswers(name: ServiceName): Promise<boolean> {
  let p = probes.get(name);
  if (!p) {
    const { host, port } = SERVICES[name];
    p = new Promise<boolean>((resolve) => {
      const s = new Socket();
      const done = (ok: boolean) => {
        s.destroy();
        resolve(ok);
      };
      s.setTimeout(1_000, () => done(false));
      s.once("error", () => done(false));
      s.connect(port, host, () => done(true));
    });
    probes.set(name, p);
  }
  return p;
}

/** describe() that runs only when the service answers (and fails under CI when it does not). */
export async function describeWithService(name: ServiceName, title: string, body: () => void): Promise<void> {
  const up = await serviceAnswers(name);
  if (!up && process.env.CI)
    throw new Error(`${name} does not answer at ${SERVICES[name].host}:${SERVICES[name].port} and CI=true: start it (see .ci/run)`);
  if (!up) {
    process.stderr.write(`[ebb tests] SKIPPED "${title}": ${name} does not answer at ${SERVICES[name].host}:${SERVICES[name].port}\n`);
    describe.skip(`${title} (skipped: ${name} not running)`, body);
    return;
  }
  describe(title, body);
}
