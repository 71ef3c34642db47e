import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app.js";
import { crontab, every } from "../../src/beat/schedules.js";
import { ConfigError } from "../../src/errors.js";

// createApp checks every beat entry when the app is made, and names the entry in the error.
const make =
  (beatSchedule: unknown, extra: Record<string, unknown> = {}) =>
  () =>
    createApp({ broker: "memory://entry", beatSchedule: beatSchedule as never, ...extra });

describe("beatSchedule entries are checked when the app is created", () => {
  it.each([
    ["no task", { e: { schedule: every("1m") } }, /beatSchedule\["e"\]: it has no task/],
    ["no schedule", { e: { task: "t" } }, /beatSchedule\["e"\]: it has no schedule/],
    [
      "a schedule that is not one",
      { e: { task: "t", schedule: "*/5 * * * *" } },
      /beatSchedule\["e"\]: option schedule: a schedule made with crontab/,
    ],
    ["an unknown option", { e: { task: "t", schedule: every("1m"), every: "1m" } }, /beatSchedule\["e"\]: unknown option "every"/],
    [
      "a call option beat cannot use",
      { e: { task: "t", schedule: every("1m"), options: { eta: "2030-01-01T00:00:00Z" } } },
      /beatSchedule\["e"\]: unknown option "eta" in options/,
    ],
    [
      "a bad message expiry",
      { e: { task: "t", schedule: every("1m"), options: { expires: "soon" } } },
      /beatSchedule\["e"\]: Expected options.expires to be a duration/,
    ],
    ["kwargs that are not an object", { e: { task: "t", schedule: every("1m"), kwargs: [1] } }, /beatSchedule\["e"\]: option kwargs/],
    [
      "a catch-up max of 0",
      { e: { task: "t", schedule: every("1m"), catchUp: { all: true, max: 0 } } },
      /beatSchedule\["e"\]: option catchUp.max: expected a whole number >= 1, got 0/,
    ],
    [
      "a catch-up window that is not a duration",
      { e: { task: "t", schedule: every("1m"), catchUp: { all: true, within: "two days" } } },
      /beatSchedule\["e"\]: option catchUp.within to be a duration/,
    ],
    [
      "all without true",
      { e: { task: "t", schedule: every("1m"), catchUp: { all: false } } },
      /option catchUp: expected "latest", "skip" or \{ all: true/,
    ],
    [
      "a crontab that never matches",
      { e: { task: "t", schedule: crontab({ monthOfYear: 2, dayOfMonth: 30 }) } },
      /beatSchedule\["e"\]: crontab\(day_of_month="30", month_of_year="2"\) never matches a date/,
    ],
    ["an entry that is not an object", { e: 42 }, /beatSchedule\["e"\]: expected an entry such as/],
  ])("%s", (_what, schedule, message) => {
    expect(make(schedule)).toThrow(ConfigError);
    expect(make(schedule)).toThrow(message);
  });

  it("rejects a schedule that is not an object of entries, and an unknown app time zone", () => {
    expect(make([])).toThrow(/option beatSchedule: expected an object of named entries/);
    expect(make({}, { timezone: "Nowhere/City" })).toThrow(/option timezone: Unknown time zone "Nowhere\/City"/);
  });

  it("resolves an entry with its defaults: the app's zone, no args, the latest catch-up", () => {
    const app = createApp({
      broker: "memory://entry",
      timezone: "Asia/Tokyo",
      beatSchedule: { "celery.backend_cleanup": null, e: { task: "t", schedule: crontab({ hour: 9 }) } },
    });
    expect(app.config.beatSchedule).toMatchObject([
      { name: "e", task: "t", timezone: "Asia/Tokyo", args: [], kwargs: {}, options: {}, catchUp: { kind: "latest" } },
    ]);
    const all = createApp({ broker: "memory://entry", beatSchedule: { e: { task: "t", schedule: every("1m"), catchUp: { all: true } } } });
    expect(all.config.beatSchedule.find((x) => x.name === "e")?.catchUp).toEqual({ kind: "all", withinMs: null, max: 100 });
  });
});
