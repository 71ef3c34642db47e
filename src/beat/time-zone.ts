import { ConfigError, describe } from "../errors.js";

/** Throws ConfigError unless `zone` is an IANA time zone this Node.js knows ("UTC", "Europe/Berlin"). */
export function checkTimeZone(zone: unknown): string {
  if (typeof zone !== "string" || zone.length === 0)
    throw new ConfigError(`Expected a time zone such as "UTC" or "Europe/Berlin", got ${describe(zone)}`);
  try {
    // Intl knows the IANA database Node.js ships with; it throws RangeError for a zone it does not know.
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
  } catch {
    throw new ConfigError(
      `Unknown time zone ${JSON.stringify(zone)}; give an IANA name such as "UTC", "America/New_York" or "Europe/Berlin"`,
    );
  }
  return zone;
}
