#!/usr/bin/env python3
"""A real Celery 5.x client that applies a canvas (chain, group, chord) for Ebb's interop tests.

  canvas_client.py SPEC [--timeout S]

SPEC is JSON, one of
  {"task": NAME, "args": [...], "kwargs": {...}, "queue": Q, "immutable": true, "link_error": SPEC}
  {"chain": [SPEC, ...]}
  {"group": [SPEC, ...]}
  {"chord": [SPEC, ...], "body": SPEC}
built with app.signature() by task name (no task code needed), applied with apply_async(), then
waited on with get(timeout=S, propagate=False). Prints one JSON object:
  {"id", "state", "result", "exception": {"class","module","args"}|null, "timed_out",
   "lineage": [...]}  the ids from the first step to this result, following result.parent
                      (a group's ids as a list)
Broker and backend URLs come from INTEROP_BROKER_URL / INTEROP_BACKEND_URL.
"""
import parent_watch  # noqa: F401  (first: exit when the test process dies, see parent_watch.py)
import argparse
import json
import sys

from celery import chain, chord, group
from celery.exceptions import TimeoutError as CeleryTimeoutError
from celery.result import GroupResult

from client import jsonable, make_app

app = make_app()


def build(spec):
    if "chain" in spec:
        return chain(*[build(s) for s in spec["chain"]])
    if "group" in spec:
        return group([build(s) for s in spec["group"]])
    if "chord" in spec:
        return chord([build(s) for s in spec["chord"]], build(spec["body"]))
    sig = app.signature(spec["task"], args=spec.get("args", []), kwargs=spec.get("kwargs", {}),
                        immutable=spec.get("immutable", False))
    if "queue" in spec:
        sig = sig.set(queue=spec["queue"])
    if "link_error" in spec:
        sig.link_error(build(spec["link_error"]))
    return sig


def lineage(result):
    out = []
    while result is not None:
        out.append([r.id for r in result.results] if isinstance(result, GroupResult) else result.id)
        result = result.parent
    return list(reversed(out))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("spec")
    parser.add_argument("--timeout", type=float, default=25)
    a = parser.parse_args()
    result = build(json.loads(a.spec)).apply_async()
    timed_out = False
    try:
        value = result.get(timeout=a.timeout, propagate=False)
    except CeleryTimeoutError:
        timed_out, value = True, None
    exc = value if isinstance(value, BaseException) else None
    print(json.dumps({
        "id": result.id,
        "state": result.state,
        "timed_out": timed_out,
        "result": None if exc else jsonable(value),
        "exception": {"class": type(exc).__name__, "module": type(exc).__module__,
                      "args": [jsonable(x) for x in exc.args]} if exc else None,
        "lineage": lineage(result),
    }))


if __name__ == "__main__":
    sys.exit(main())
