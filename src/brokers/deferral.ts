import type { BrokerCapabilities } from "./broker.js";

/**
 * How a message that must not run before `at` waits, decided only from what the broker
 * declares: a broker with delayed delivery keeps it ("release" at `at`); otherwise the worker
 * keeps it in memory until `at` ("hold"), extending its lease meanwhile where the broker
 * leases (the worker's lease heartbeat does that for every message it has in flight).
 */
export type Deferral = { kind: "release"; availableAt: number } | { kind: "hold"; until: number };

export function deferral(capabilities: BrokerCapabilities, at: number): Deferral {
  if (capabilities.delayedDelivery) return { kind: "release", availableAt: at };
  return { kind: "hold", until: at };
}
