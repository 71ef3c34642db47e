import { expect, it } from "vitest";
import { ebb } from "../e2e/cli-harness.js";
import { describeWithService, SERVICES } from "../support/services.js";

/**
 * The real binary against PostgreSQL URLs that cannot work: a role that does not exist, a
 * database that does not exist, a port nothing listens on. Each is one line on stderr, exit 69
 * (EX_UNAVAILABLE), with the password masked and no stack trace, for every command that opens
 * the store.
 */
await describeWithService("postgres", "ebb with a PostgreSQL store it cannot open", () => {
  const { host, port } = SERVICES.postgres;
  const cases: Array<[string, string, string]> = [
    ["a wrong user", `postgresql://no_such_role:s3cret@${host}:${port}/test`, "check the user and password in the URL"],
    ["a missing database", `postgresql://postgres:s3cret@${host}:${port}/no_such_db_ebb`, "check the database name in the URL"],
    ["an unreachable host", `postgres://postgres:s3cret@${host}:1/test`, "check that the server is running"],
  ];
  for (const [what, url, hint] of cases) {
    it(`${what}: one line, exit 69, no password`, async () => {
      for (const argv of [
        ["stats", "--backend", url],
        ["result", "some-id", "--backend", url],
      ]) {
        const r = await ebb(argv);
        expect(r.code, `${argv.join(" ")}: ${r.stderr}`).toBe(69);
        expect(r.stderr).not.toContain("s3cret");
        expect(r.stderr).not.toMatch(/\n\s+at /);
        const lines = r.stderr.trim().split("\n");
        expect(lines).toHaveLength(1);
        expect(lines[0]).toContain(hint);
        expect(lines[0]).toContain(":***@");
      }
    });
  }
});
