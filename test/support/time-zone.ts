/** Run fn with the process time zone set to `tz`, so "naive means UTC" is tested on a machine that is not UTC. */
export function inTimeZone<T>(tz: string, fn: () => T): T {
  const before = process.env.TZ;
  process.env.TZ = tz;
  try {
    return fn();
  } finally {
    if (before === undefined) delete process.env.TZ;
    else process.env.TZ = before;
  }
}
