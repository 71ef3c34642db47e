/**
 * Every Redis key beat's schedule store touches (redis-schedule-store.ts), under the URL's
 * optional `prefix`, beside the results. Celery never reads them.
 *
 *   <prefix>ebb:beat:entry:<name>         HASH, one entry's state: schedule, last_tick, next_tick
 *                                         ("" for none), fired, missed, catch_ups, last_fire (the
 *                                         newest fire's JSON record, without its message). Kept for
 *                                         as long as the store: it is the schedule's memory.
 *   <prefix>ebb:beat:fires:<name>         ZSET fire JSON → tick: the entry's history, at most
 *                                         historyLimit fires (the lowest ticks are dropped first).
 *                                         An unsent fire's JSON carries its message (the outbox);
 *                                         markSent() replaces it with the record alone.
 *   <prefix>ebb:beat:claim:<name>:<tick>  STRING (the fire's task id), SET NX PX claimTtlMs: the
 *                                         (entry, tick) unique key. It outlives a trimmed history
 *                                         for claimTtlMs, then Redis drops it.
 *   <prefix>ebb:beat:unsent               ZSET unsent fire JSON (the same bytes as its member in
 *                                         fires) → claimedAt. unsent() is one ZRANGEBYSCORE; a fire
 *                                         leaves it when sent or trimmed, so it stays small.
 *   <prefix>ebb:beat:runs                 LIST of cleanup run JSON, newest first, LTRIMmed to RUNS_KEPT.
 *   <prefix>ebb:beat:history              ZSET slot (floor(at / slotMs)) → at: the storage history's
 *                                         index, read by range of at, trimmed with the hash below.
 *   <prefix>ebb:beat:history:samples      HASH slot → sample JSON (HSETNX: one sample per slot).
 *
 * The fire JSON starts with its tick, so fires claimed in the same millisecond come out of unsent
 * in tick order. Entries are read by name, never looked for: nothing here needs KEYS or SCAN.
 */
export interface ScheduleKeys {
  entry(name: string): string;
  fires(name: string): string;
  claim(name: string, tick: number): string;
  readonly unsent: string;
  readonly runs: string;
  readonly history: string;
  readonly historySamples: string;
}

export function scheduleKeys(prefix: string): ScheduleKeys {
  const base = `${prefix}ebb:beat:`;
  return {
    entry: (name) => `${base}entry:${name}`,
    fires: (name) => `${base}fires:${name}`,
    // The tick comes last and has no colon, so a name with colons cannot collide with another's key.
    claim: (name, tick) => `${base}claim:${name}:${tick}`,
    unsent: `${base}unsent`,
    runs: `${base}runs`,
    history: `${base}history`,
    historySamples: `${base}history:samples`,
  };
}
