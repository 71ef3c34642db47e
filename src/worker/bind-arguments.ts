import type { TaskDefinition } from "../task.js";

/**
 * The handler's arguments for a message's positional args and keyword args, as the task
 * declared it takes keyword arguments:
 *
 *   params: ["a", "b"]   as Python binds them: positional args first, then each kwarg fills the
 *                        parameter of its name. A kwarg the task does not name, one that repeats
 *                        a positional argument, or more positional args than parameters throw
 *                        TypeError with Python's wording, so the result is FAILURE TypeError
 *                        (module builtins), as a Python worker stores it. Unfilled parameters
 *                        are undefined (the handler's default values apply).
 *   kwargs: "last", or   non-empty kwargs are one object after the positional args (Ebb 0.3's
 *   neither              behaviour, kept for tasks that declare nothing).
 */
export function bindArguments(
  def: Pick<TaskDefinition, "name" | "params"> & { handler?: { name: string } },
  args: unknown[],
  kwargs: Record<string, unknown>,
): unknown[] {
  const names = Object.keys(kwargs);
  if (def.params === undefined) return names.length > 0 ? [...args, kwargs] : args;
  const params = def.params;
  // Python names the function (add()); a named handler gives the same message, an anonymous one the task's name.
  const fn = `${def.handler?.name || def.name}()`;
  if (args.length > params.length) {
    throw new TypeError(`${fn} takes ${params.length} positional argument${params.length === 1 ? "" : "s"} but ${args.length} were given`);
  }
  const unknown = names.filter((n) => !params.includes(n));
  if (unknown.length > 0) {
    const list = unknown.map((n) => `'${n}'`).join(", ");
    throw new TypeError(`${fn} got ${unknown.length === 1 ? "an unexpected keyword argument" : "unexpected keyword arguments"} ${list}`);
  }
  const out = [...args];
  for (const n of names) {
    const at = params.indexOf(n);
    if (at < args.length) throw new TypeError(`${fn} got multiple values for argument '${n}'`);
    while (out.length < at) out.push(undefined);
    out[at] = kwargs[n];
  }
  return out;
}
