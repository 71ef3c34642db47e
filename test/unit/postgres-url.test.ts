import { describe, expect, it } from "vitest";
import { ConfigError } from "../../src/errors.js";
import { parsePostgresUrl, quoteIdent } from "../../src/postgres/pg-url.js";

describe("postgresql:// URLs", () => {
  it("takes Ebb's ?schema= and ?partition= off the URL and passes the rest to pg", () => {
    expect(parsePostgresUrl("postgres://u:pw@h:5433/db?schema=jobs&partition=day&sslmode=require")).toEqual({
      connectionString: "postgresql://u:pw@h:5433/db?sslmode=require",
      schema: "jobs",
      partition: "day",
      display: "postgres://u:***@h:5433/db?schema=jobs&partition=day&sslmode=require",
    });
    expect(parsePostgresUrl("postgresql://h/db")).toMatchObject({ schema: "ebb", partition: null, connectionString: "postgresql://h/db" });
  });

  it("refuses a bad schema, a bad partition width and a URL that is not PostgreSQL's, naming the option and never the password", () => {
    const cases: Array<[string, RegExp]> = [
      ["postgresql://u:s3cret@h/db?schema=", /\?schema= .* 1 to 40 characters/],
      [`postgresql://u:s3cret@h/db?schema=${"x".repeat(41)}`, /\?schema= .* 1 to 40 characters/],
      ["postgresql://u:s3cret@h/db?partition=week", /\?partition= .* "hour" or "day", got "week"/],
      ["mysql://u:s3cret@h/db", /Expected a PostgreSQL URL/],
    ];
    for (const [url, message] of cases) {
      const error = (() => {
        try {
          parsePostgresUrl(url);
        } catch (e) {
          return e;
        }
        return null;
      })();
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toMatch(message);
      expect((error as Error).message).not.toContain("s3cret");
    }
  });

  it("quotes identifiers, doubling quotes inside them", () => {
    expect(quoteIdent('we"ird')).toBe('"we""ird"');
  });
});
