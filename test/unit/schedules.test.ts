import { describe, expect, it } from "vitest";
import { planEntry, type CatchUpPolicy, type PlanState } from "../../src/beat/plan.js";
import { crontab, every, type Schedule } from "../../src/beat/schedules.js";
import { ConfigError } from "../../src/errors.js";

/**
 * The DST matrix and Celery's own examples, driven through the pure planner with an injected
 * "now": a beat that looks at each moment it would wake (the plan's next tick) from `from` to
 * `to`. Every tick it fires is returned, as the instant (UTC) and the wall clock in the zone.
 */
function run(
  schedule: Schedule,
  timeZone: string,
  from: string,
  to: string,
  catchUp: CatchUpPolicy = { kind: "latest" },
): Array<{ utc: string; local: string }> {
  const entry = { name: "e", ticks: schedule.bind(timeZone), catchUp };
  const end = Date.parse(to);
  let now = Date.parse(from);
  let state: PlanState | null = null;
  const fired: number[] = [];
  for (let guard = 0; now <= end && guard < 100_000; guard++) {
    const plan = planEntry(entry, state, now);
    if (plan) {
      fired.push(...plan.fires.map((f) => f.tick));
      state = { lastTick: plan.lastTick, schedule: plan.schedule };
    }
    const next = entry.ticks.next(state!.lastTick);
    if (next === null) break;
    now = next;
  }
  return fired.map((t) => ({ utc: new Date(t).toISOString(), local: wall(t, timeZone) }));
}

function wall(t: number, timeZone: string): string {
  const parts = new Intl.DateTimeFormat("en-CA", {
    timeZone,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
    timeZoneName: "shortOffset",
  }).formatToParts(new Date(t));
  const get = (type: string) => parts.find((p) => p.type === type)!.value;
  return `${get("year")}-${get("month")}-${get("day")} ${get("hour")}:${get("minute")} ${get("timeZoneName")}`;
}

const utc = (xs: Array<{ utc: string }>) => xs.map((x) => x.utc);
const local = (xs: Array<{ local: string }>) => xs.map((x) => x.local);

describe("DST: a fixed-time tick in a spring-forward gap runs once, at the first valid instant after it", () => {
  it("America/New_York, 02:30 on 2026-03-08 (02:00 → 03:00)", () => {
    const fired = run(crontab({ hour: 2, minute: 30 }), "America/New_York", "2026-03-07T00:00:00Z", "2026-03-10T00:00:00Z");
    expect(local(fired)).toEqual(["2026-03-07 02:30 GMT-5", "2026-03-08 03:00 GMT-4", "2026-03-09 02:30 GMT-4"]);
  });

  it("Europe/Berlin, 02:30 on 2026-03-29 (02:00 → 03:00)", () => {
    const fired = run(crontab({ hour: 2, minute: 30 }), "Europe/Berlin", "2026-03-28T00:00:00Z", "2026-03-31T00:00:00Z");
    expect(local(fired)).toEqual(["2026-03-28 02:30 GMT+1", "2026-03-29 03:00 GMT+2", "2026-03-30 02:30 GMT+2"]);
  });

  it("Australia/Lord_Howe, a 30-minute shift: 02:00 and 02:15 on 2026-10-04 (02:00 → 02:30)", () => {
    expect(local(run(crontab({ hour: 2, minute: 15 }), "Australia/Lord_Howe", "2026-10-02T12:00:00Z", "2026-10-05T12:00:00Z"))).toEqual([
      "2026-10-03 02:15 GMT+10:30",
      "2026-10-04 02:30 GMT+11",
      "2026-10-05 02:15 GMT+11",
    ]);
    expect(utc(run(crontab({ hour: 2, minute: 0 }), "Australia/Lord_Howe", "2026-10-03T12:00:00Z", "2026-10-04T12:00:00Z"))).toEqual([
      "2026-10-03T15:30:00.000Z",
    ]);
  });

  it("Pacific/Chatham, 03:00 on 2026-09-27 (02:45 → 03:45)", () => {
    const fired = run(crontab({ hour: 3, minute: 0 }), "Pacific/Chatham", "2026-09-25T00:00:00Z", "2026-09-28T00:00:00Z");
    expect(local(fired)).toEqual(["2026-09-26 03:00 GMT+12:45", "2026-09-27 03:45 GMT+13:45", "2026-09-28 03:00 GMT+13:45"]);
  });

  it("a list of hours is fixed-time too: hour '2,14' still runs at 03:00 on the New York spring-forward day", () => {
    const fired = run(crontab({ hour: "2,14", minute: 30 }), "America/New_York", "2026-03-08T00:00:00Z", "2026-03-09T00:00:00Z");
    expect(local(fired)).toEqual(["2026-03-08 03:00 GMT-4", "2026-03-08 14:30 GMT-4"]);
  });

  it("an interval-style crontab skips the wall-clock times that do not exist, and never runs one instant twice", () => {
    const fired = run(crontab({ minute: "*/30" }), "America/New_York", "2026-03-08T06:00:00Z", "2026-03-08T08:00:00Z");
    expect(local(fired)).toEqual(["2026-03-08 01:30 GMT-5", "2026-03-08 03:00 GMT-4", "2026-03-08 03:30 GMT-4", "2026-03-08 04:00 GMT-4"]);
    expect(new Set(utc(fired)).size).toBe(fired.length);
  });
});

describe("DST: a fixed-time tick in a fall-back overlap runs once", () => {
  it("America/New_York, 01:30 on 2026-11-01 (02:00 → 01:00): only the first pass", () => {
    const fired = run(crontab({ hour: 1, minute: 30 }), "America/New_York", "2026-10-31T00:00:00Z", "2026-11-03T00:00:00Z");
    expect(local(fired)).toEqual(["2026-10-31 01:30 GMT-4", "2026-11-01 01:30 GMT-4", "2026-11-02 01:30 GMT-5"]);
  });

  it("Europe/Berlin, 02:30 on 2026-10-25 (03:00 → 02:00)", () => {
    const fired = run(crontab({ hour: 2, minute: 30 }), "Europe/Berlin", "2026-10-25T00:00:00Z", "2026-10-26T00:00:00Z");
    expect(local(fired)).toEqual(["2026-10-25 02:30 GMT+2"]);
  });

  it("Australia/Lord_Howe, 01:45 on 2026-04-05 (02:00 → 01:30, a 30-minute overlap)", () => {
    const fired = run(crontab({ hour: 1, minute: 45 }), "Australia/Lord_Howe", "2026-04-04T00:00:00Z", "2026-04-06T00:00:00Z");
    expect(local(fired)).toEqual(["2026-04-05 01:45 GMT+11", "2026-04-06 01:45 GMT+10:30"]);
  });

  it("Pacific/Chatham, 03:00 on 2026-04-05 (03:45 → 02:45)", () => {
    const fired = run(crontab({ hour: 3, minute: 0 }), "Pacific/Chatham", "2026-04-04T00:00:00Z", "2026-04-06T00:00:00Z");
    expect(local(fired)).toEqual(["2026-04-05 03:00 GMT+13:45", "2026-04-06 03:00 GMT+12:45"]);
  });

  it("an interval-style crontab keeps its real-time rhythm through the repeated hour: every 30 minutes of real time, each instant once", () => {
    const fired = run(crontab({ minute: "*/30" }), "America/New_York", "2026-11-01T04:45:00Z", "2026-11-01T07:15:00Z");
    expect(local(fired)).toEqual([
      "2026-11-01 01:00 GMT-4",
      "2026-11-01 01:30 GMT-4",
      "2026-11-01 01:00 GMT-5",
      "2026-11-01 01:30 GMT-5",
      "2026-11-01 02:00 GMT-5",
    ]);
    const gaps = fired.slice(1).map((f, i) => Date.parse(f.utc) - Date.parse(fired[i]!.utc));
    expect(gaps.every((g) => g === 30 * 60_000)).toBe(true);
  });
});

describe("month ends and leap days", () => {
  it("dayOfMonth 31 runs only in the months that have a 31st", () => {
    const fired = run(crontab({ dayOfMonth: 31, hour: 0, minute: 0 }), "UTC", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z");
    expect(utc(fired).map((d) => d.slice(0, 10))).toEqual([
      "2026-01-31",
      "2026-03-31",
      "2026-05-31",
      "2026-07-31",
      "2026-08-31",
      "2026-10-31",
      "2026-12-31",
    ]);
  });

  it("29 February runs in leap years only", () => {
    const fired = run(
      crontab({ monthOfYear: 2, dayOfMonth: 29, hour: 12, minute: 0 }),
      "UTC",
      "2026-01-01T00:00:00Z",
      "2033-01-01T00:00:00Z",
    );
    expect(utc(fired)).toEqual(["2028-02-29T12:00:00.000Z", "2032-02-29T12:00:00.000Z"]);
  });

  it("the last day of February and of the year, in a zone east of UTC", () => {
    const fired = run(
      crontab({ dayOfMonth: "28-29", monthOfYear: 2, hour: 23, minute: 59 }),
      "Asia/Tokyo",
      "2027-01-01T00:00:00Z",
      "2029-01-01T00:00:00Z",
    );
    expect(local(fired)).toEqual(["2027-02-28 23:59 GMT+9", "2028-02-28 23:59 GMT+9", "2028-02-29 23:59 GMT+9"]);
  });
});

describe("Celery's own crontab examples", () => {
  it('crontab(minute="*/15"): every quarter hour', () => {
    const fired = run(crontab({ minute: "*/15" }), "UTC", "2026-05-05T10:00:00Z", "2026-05-05T11:00:00Z");
    expect(utc(fired)).toEqual([
      "2026-05-05T10:15:00.000Z",
      "2026-05-05T10:30:00.000Z",
      "2026-05-05T10:45:00.000Z",
      "2026-05-05T11:00:00.000Z",
    ]);
  });

  it("crontab(hour=4, minute=0, day_of_week=0): Sundays at 04:00 (Sunday is 0, as in Celery)", () => {
    const fired = run(crontab({ hour: 4, minute: 0, dayOfWeek: 0 }), "UTC", "2026-06-01T00:00:00Z", "2026-07-01T00:00:00Z");
    expect(utc(fired)).toEqual([
      "2026-06-07T04:00:00.000Z",
      "2026-06-14T04:00:00.000Z",
      "2026-06-21T04:00:00.000Z",
      "2026-06-28T04:00:00.000Z",
    ]);
    expect(fired.every((f) => new Date(f.utc).getUTCDay() === 0)).toBe(true);
  });

  it("crontab(hour=4, minute=0, day_of_month=1): the first of each month", () => {
    const fired = run(crontab({ hour: 4, minute: 0, dayOfMonth: 1 }), "UTC", "2026-01-15T00:00:00Z", "2026-05-15T00:00:00Z");
    expect(utc(fired)).toEqual([
      "2026-02-01T04:00:00.000Z",
      "2026-03-01T04:00:00.000Z",
      "2026-04-01T04:00:00.000Z",
      "2026-05-01T04:00:00.000Z",
    ]);
  });

  it("crontab(day_of_month=1) alone is every minute of the 1st, as in Celery (unset fields are *)", () => {
    const fired = run(crontab({ dayOfMonth: 1 }), "UTC", "2026-02-28T23:00:00Z", "2026-03-02T01:00:00Z");
    expect(fired).toHaveLength(24 * 60);
    expect(fired[0]!.utc).toBe("2026-03-01T00:00:00.000Z");
  });

  it('names and ranges: "mon-fri", "1-5" and a list; day of month AND day of week must both match, as Celery requires', () => {
    const weekdays = run(crontab({ dayOfWeek: "mon-fri", hour: 9, minute: 0 }), "UTC", "2026-06-01T00:00:00Z", "2026-06-08T00:00:00Z");
    expect(weekdays.map((f) => new Date(f.utc).getUTCDay())).toEqual([1, 2, 3, 4, 5]);
    expect(utc(run(crontab({ dayOfWeek: "1-5", hour: 9, minute: 0 }), "UTC", "2026-06-01T00:00:00Z", "2026-06-08T00:00:00Z"))).toEqual(
      utc(weekdays),
    );
    const firstMonday = run(
      crontab({ dayOfWeek: "mon", dayOfMonth: "1-7", hour: 8, minute: 0 }),
      "UTC",
      "2026-01-01T00:00:00Z",
      "2026-04-01T00:00:00Z",
    );
    expect(utc(firstMonday)).toEqual(["2026-01-05T08:00:00.000Z", "2026-02-02T08:00:00.000Z", "2026-03-02T08:00:00.000Z"]);
    expect(run(crontab({ minute: [0, 20, 40], hour: 1 }), "UTC", "2026-01-01T00:00:00Z", "2026-01-01T02:00:00Z")).toHaveLength(3);
  });
});

describe("every()", () => {
  it("ticks on multiples of the interval since the epoch, so every process agrees", () => {
    const fired = run(every("10s"), "UTC", "2026-01-01T00:00:03Z", "2026-01-01T00:00:40Z");
    expect(utc(fired)).toEqual([
      "2026-01-01T00:00:10.000Z",
      "2026-01-01T00:00:20.000Z",
      "2026-01-01T00:00:30.000Z",
      "2026-01-01T00:00:40.000Z",
    ]);
  });

  it("ignores time zones: an interval is real time", () => {
    expect(utc(run(every("1h"), "America/New_York", "2026-11-01T04:30:00Z", "2026-11-01T07:00:00Z"))).toEqual([
      "2026-11-01T05:00:00.000Z",
      "2026-11-01T06:00:00.000Z",
      "2026-11-01T07:00:00.000Z",
    ]);
  });
});

describe("schedules that cannot work keep their problem until the app names the entry", () => {
  it.each([
    [crontab({ minute: 61 }), /crontab minute "61": Invalid value for minute: 61/],
    [crontab({ hour: "*/0" }), /crontab hour "\*\/0"/],
    [crontab({ dayOfWeek: "fri-mon" }), /crontab dayOfWeek "fri-mon".*ranges go upward/],
    [crontab({ dayOfMonth: 0 }), /crontab dayOfMonth "0"/],
    [crontab({ monthOfYear: 13 }), /crontab monthOfYear "13"/],
    [crontab({ minute: 1.5 }), /minute must be a whole number/],
    [crontab({ hour: "" }), /hour "" is not a crontab field/],
    [crontab({ hours: 4 } as never), /unknown field "hours"/],
    [every("0s"), /more than 0/],
    [every("-5s"), /cannot be negative/],
    [every(10 as never), /a bare number has no unit/],
    [every("500ms"), /at least 1s/],
    [every("soon"), /Expected the interval to be a duration/],
  ])("%s", (schedule, why) => {
    expect(schedule.problem).toMatch(why);
    expect(() => schedule.bind("UTC")).toThrow(ConfigError);
  });

  it("binding to an unknown time zone says which zones look like", () => {
    expect(() => crontab({ hour: 4 }).bind("Mars/Olympus")).toThrow(/Unknown time zone "Mars\/Olympus"; give an IANA name/);
  });

  it("prints as it was written", () => {
    expect(String(crontab({ hour: 4, minute: 0, dayOfWeek: "mon-fri" }))).toBe('crontab(minute="0", hour="4", day_of_week="mon-fri")');
    expect(String(every("90s"))).toBe('every("1m30s")');
  });
});
