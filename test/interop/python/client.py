#!/usr/bin/env python3
"""A real Celery 5.x client for Ebb's interop tests (JSON only, protocol v2).

Run with Debian's python3 (/usr/bin/python3), which has python3-celery and python3-redis:

  client.py send TASK [--args JSON] [--kwargs JSON] [--countdown S] [--expires S]
                      [--priority N] [--ignore-result] [--task-id ID] [--queue Q] [--count N]
      -> one task id per line on stdout (app.send_task, no task code needed)
  client.py batch JSON
      -> send several in one process: JSON is a list of {"task", "args", "kwargs", "countdown",
         "expires", "priority", "ignore_result", "task_id", "queue"}; one id per line, in order
  client.py get ID [ID ...] [--timeout S]
      -> one JSON object per id and line (AsyncResult(ID).get(timeout=S, propagate=False)):
         {"id","state","ready","timed_out","result","exception","date_done"}
         exception = {"class","module","args"} of what Celery rebuilt from the stored
         {exc_type, exc_message, exc_module}; null unless the result is an exception
  client.py state ID
      -> the same object, read once without waiting
  client.py forget ID
      -> AsyncResult(ID).forget() (Celery deletes the key), then the state object
  client.py call TASK [send options] [--timeout S]
      -> send, then get, in one process: the get() object

Broker and backend URLs come from INTEROP_BROKER_URL / INTEROP_BACKEND_URL. It exits when the
test process that started it dies (parent_watch.py).
Exit status: 0 done (whatever the task's state), 3 usage, anything else a client crash.
"""
import parent_watch  # noqa: F401  (first: exit when the test process dies, see parent_watch.py)
import argparse
import json
import os
import sys

from celery import Celery
from celery.exceptions import TimeoutError as CeleryTimeoutError
from celery.result import AsyncResult

READY = {"SUCCESS", "FAILURE", "REVOKED"}


def make_app():
    broker = os.environ["INTEROP_BROKER_URL"]
    app = Celery("interop_client", broker=broker, backend=os.environ.get("INTEROP_BACKEND_URL", broker))
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        task_protocol=2,
        enable_utc=True,
        timezone="UTC",
    )
    return app


def jsonable(v):
    try:
        json.dumps(v)
        return v
    except (TypeError, ValueError):
        return repr(v)


def describe(res, timed_out):
    state = res.state
    value = res.result
    exc = None
    if isinstance(value, BaseException):
        exc = {"class": type(value).__name__, "module": type(value).__module__, "args": jsonable(list(value.args))}
        value = None
    date_done = res.date_done
    return {
        "id": res.id,
        "state": state,
        "ready": state in READY,
        "timed_out": timed_out,
        "result": jsonable(value),
        "exception": exc,
        "date_done": date_done.isoformat() if hasattr(date_done, "isoformat") else date_done,
    }


def wait(app, task_id, timeout):
    res = AsyncResult(task_id, app=app)
    timed_out = False
    try:
        res.get(timeout=timeout, propagate=False, disable_sync_subtasks=False)
    except CeleryTimeoutError:
        timed_out = True
    return describe(res, timed_out)


def send(app, a):
    opts = {}
    for name in ("queue", "countdown", "expires", "priority"):
        if getattr(a, name) is not None:
            opts[name] = getattr(a, name)
    if a.ignore_result:
        opts["ignore_result"] = True
    args = json.loads(a.args)
    kwargs = json.loads(a.kwargs)
    ids = []
    for i in range(a.count):
        tid = a.task_id if a.count == 1 else (f"{a.task_id}-{i}" if a.task_id else None)
        ids.append(app.send_task(a.task, args=args, kwargs=kwargs, task_id=tid, **opts).id)
    return ids


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("send", "call"):
        s = sub.add_parser(name)
        s.add_argument("task")
        s.add_argument("--args", default="[]")
        s.add_argument("--kwargs", default="{}")
        s.add_argument("--countdown", type=float)
        s.add_argument("--expires", type=float)
        s.add_argument("--priority", type=int)
        s.add_argument("--ignore-result", action="store_true")
        s.add_argument("--task-id")
        s.add_argument("--queue")
        s.add_argument("--count", type=int, default=1)
        s.add_argument("--timeout", type=float, default=20.0)
    b = sub.add_parser("batch")
    b.add_argument("plan")
    g = sub.add_parser("get")
    g.add_argument("ids", nargs="+")
    g.add_argument("--timeout", type=float, default=20.0)
    for name in ("state", "forget"):
        sub.add_parser(name).add_argument("id")
    try:
        a = p.parse_args(argv)
    except SystemExit as e:
        return 3 if e.code else 0

    app = make_app()
    if a.cmd == "send":
        for tid in send(app, a):
            print(tid, flush=True)
    elif a.cmd == "call":
        [tid] = send(app, a)
        print(json.dumps(wait(app, tid, a.timeout)), flush=True)
    elif a.cmd == "batch":
        for item in json.loads(a.plan):
            opts = {k: item[k] for k in ("countdown", "expires", "priority", "ignore_result", "queue") if k in item}
            res = app.send_task(item["task"], args=item.get("args", []), kwargs=item.get("kwargs", {}), task_id=item.get("task_id"), **opts)
            print(res.id, flush=True)
    elif a.cmd == "get":
        for tid in a.ids:
            print(json.dumps(wait(app, tid, a.timeout)), flush=True)
    else:
        if a.cmd == "forget":
            AsyncResult(a.id, app=app).forget()
        print(json.dumps(describe(AsyncResult(a.id, app=app), False)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
