import { spawn } from "node:child_process";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { parseCeleryJson } from "../../src/protocol/celery-json.js";
import { currentTask } from "../../src/task-context.js";
import {
  describeInterop,
  ebbCli,
  ebbSide,
  eventually,
  PY,
  PY_DIR,
  pyEnv,
  startPythonWorker,
  type EbbSide,
  type PyResult,
} from "./harness.js";

/**
 * Exact numbers, kombu compression and keyword arguments between a real Celery 5.2.6 and Ebb:
 * a Python client (python/numbers_client.py) sends to an Ebb worker, then the same calls go to a
 * Python worker, and each Ebb answer must be what Python's own worker answered. Python's output is
 * read with Ebb's codec, so 123456789012345678 and NaN arrive as Python wrote them.
 */

/** numbers_client.py call ...: Celery's view of the result, parsed losslessly. */
function pyNumbersCall(url: string, task: string, flags: string[], timeoutMs = 40_000): Promise<PyResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(PY, ["numbers_client.py", "call", task, ...flags], {
      cwd: PY_DIR,
      env: pyEnv(url),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(parseCeleryJson(stdout) as PyResult);
      else reject(new Error(`numbers_client.py call ${task} ${flags.join(" ")} exited ${code}\n${stderr}`));
    });
  });
}

const NUMBERS_ARGS = '[123456789012345678, -123456789012345678, 9007199254740993, NaN, Infinity, -Infinity, "NaN", 1.5, 0.1]';
const CALLS: { name: string; task: string; flags: string[] }[] = [
  { name: "numbers", task: "interop.echo", flags: ["--args", NUMBERS_ARGS, "--kwargs", '{"big": 123456789012345678, "nan": NaN}'] },
  { name: "kwargs", task: "interop.add", flags: ["--kwargs", '{"a": 2, "b": 3}'] },
  { name: "kwargs mixed", task: "interop.add", flags: ["--args", "[2]", "--kwargs", '{"b": 40}'] },
  { name: "unknown kwarg", task: "interop.add", flags: ["--args", "[1]", "--kwargs", '{"b": 2, "c": 3}'] },
  { name: "repeated kwarg", task: "interop.add", flags: ["--args", "[1, 2]", "--kwargs", '{"a": 5}'] },
  ...["zlib", "gzip", "bzip2"].map((c) => ({
    name: `compression ${c}`,
    task: "interop.add",
    flags: ["--args", "[20, 22]", "--compression", c],
  })),
];

/** What the Ebb worker answered, per call name. */
const onEbb = new Map<string, PyResult>();
let ebb: EbbSide;

/** What a result says, without its id and date. */
const outcome = (r: PyResult) => ({ state: r.state, result: r.result, exception: r.exception });

await describeInterop("exact numbers, compression and kwargs: Python ↔ Ebb (a redis-server of its own)", (redis) => {
  beforeAll(() => {
    ebb = ebbSide(redis.url, (app) => {
      app.task("interop.echo", async (...all: unknown[]) => {
        const kwargs = currentTask().kwargs;
        return { args: Object.keys(kwargs).length > 0 ? all.slice(0, -1) : all, kwargs };
      });
      // Named like Python's function, so the TypeError reads the same: "add() got ...".
      app.task(
        "interop.add",
        async function add(a: number, b: number) {
          return a + b;
        },
        { params: ["a", "b"] },
      );
    });
  });
  afterEach(() => ebb.stopWorkers());
  afterAll(() => ebb?.close());

  it("a Python client's big ints, NaN/Infinity, kwargs and compressed messages run on an Ebb worker", async () => {
    await ebb.startWorker(4);
    for (const c of CALLS) onEbb.set(c.name, await pyNumbersCall(redis.url, c.task, c.flags));

    expect(outcome(onEbb.get("numbers")!)).toEqual({
      state: "SUCCESS",
      result: {
        args: [123456789012345678n, -123456789012345678n, 9007199254740993n, Number.NaN, Infinity, -Infinity, "NaN", 1.5, 0.1],
        kwargs: { big: 123456789012345678n, nan: Number.NaN },
      },
      exception: null,
    });
    expect(outcome(onEbb.get("kwargs")!)).toEqual({ state: "SUCCESS", result: 5, exception: null });
    expect(outcome(onEbb.get("kwargs mixed")!)).toEqual({ state: "SUCCESS", result: 42, exception: null });
    expect(outcome(onEbb.get("unknown kwarg")!)).toEqual({
      state: "FAILURE",
      result: null,
      exception: { class: "TypeError", module: "builtins", args: ["add() got an unexpected keyword argument 'c'"] },
    });
    for (const c of ["zlib", "gzip", "bzip2"])
      expect(outcome(onEbb.get(`compression ${c}`)!), c).toEqual({ state: "SUCCESS", result: 42, exception: null });
  });

  it("a method Ebb cannot read (lzma) is dead-lettered with a reason naming it, its bytes kept", async () => {
    await ebb.startWorker(1);
    const sent = await pyNumbersCall(redis.url, "interop.add", ["--args", "[1, 2]", "--compression", "lzma", "--timeout", "0.5"]);
    expect(sent.state).toBe("PENDING");
    const broker = await ebb.app.broker();
    const dead = await eventually(
      async () => (await broker.deadLetters()).items.find((d) => d.message?.headers.id === sent.id),
      20_000,
      "the lzma message in the dead letters",
    );
    expect(dead.reason).toContain('compressed with "application/x-lzma", which Ebb cannot decompress');
    expect(dead.message?.headers.compression).toBe("application/x-lzma");
  });

  it("a Python worker answers the same calls exactly as the Ebb worker did, and runs Ebb's compressed messages and big ints", async () => {
    expect(onEbb.size, "the Ebb worker's answers (previous test)").toBe(CALLS.length);
    const py = await startPythonWorker(redis.url);
    try {
      for (const c of CALLS) expect(outcome(await pyNumbersCall(redis.url, c.task, c.flags)), c.name).toEqual(outcome(onEbb.get(c.name)!));

      // Ebb's client → the Python worker: a compressed message, and big ints / NaN both ways.
      for (const compression of ["zlib", "gzip"] as const) {
        const res = await ebb.app.sendTask("interop.add", [20, 22], { compression });
        expect(await res.get({ timeoutMs: 25_000 }), compression).toBe(42);
      }
      const echo = await ebb.app.sendTask("interop.echo", [123456789012345678n, Number.NaN, -Infinity], { kwargs: { x: 2n ** 64n } });
      expect(await echo.get({ timeoutMs: 25_000 })).toEqual({
        args: [123456789012345678n, Number.NaN, -Infinity],
        kwargs: { x: 2n ** 64n },
      });
      // ebb call --compression: the CLI's message runs on the Python worker too.
      const call = await ebbCli(redis.url, ["call", "interop.add", "--args", "[123456789012345678, 1]", "--compression", "zlib"]);
      expect(call.code, call.stderr).toBe(0);
      expect(await ebb.app.asyncResult(String(call.json?.id)).get({ timeoutMs: 25_000 })).toBe(123456789012345679n);
      const raw = await redis.client.get(`celery-task-meta-${echo.id}`);
      expect(raw).toContain('"result": {"args": [123456789012345678, NaN, -Infinity], "kwargs": {"x": 18446744073709551616}}');
    } finally {
      await py.stop();
    }
  });
});
