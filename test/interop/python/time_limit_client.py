#!/usr/bin/env python3
"""A real Celery client for Ebb's time-limit and STARTED interop tests (JSON only, protocol v2).

  time_limit_client.py send TASK [--args JSON] [--queue Q] [--time-limit S] [--soft-time-limit S]
      -> the task id: app.send_task(..., time_limit=S, soft_time_limit=S), Celery's own options,
         which travel in the message's `timelimit` header
  time_limit_client.py wait-state ID STATE [--timeout S]
      -> polls AsyncResult(ID).state every 50 ms until it is STATE (or the timeout passes) and
         prints {"state", "info"}: what a Python client polling a running task sees

Broker and backend from INTEROP_BROKER_URL / INTEROP_BACKEND_URL, as client.py. It exits when the
test process that started it dies (parent_watch.py). Exit 0 whatever the state, 3 usage.
"""
import parent_watch  # noqa: F401  (first: exit when the test process dies)
import argparse
import json
import sys
import time

from celery.result import AsyncResult

from client import jsonable, make_app


def seconds(text):
    """1 stays 1 (as a Celery user writes time_limit=1), 1.5 stays 1.5."""
    f = float(text)
    return int(f) if f.is_integer() else f


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("send")
    s.add_argument("task")
    s.add_argument("--args", default="[]")
    s.add_argument("--queue")
    s.add_argument("--time-limit", type=seconds)
    s.add_argument("--soft-time-limit", type=seconds)
    w = sub.add_parser("wait-state")
    w.add_argument("id")
    w.add_argument("state")
    w.add_argument("--timeout", type=float, default=20.0)
    try:
        a = p.parse_args(argv)
    except SystemExit as e:
        return 3 if e.code else 0

    app = make_app()
    if a.cmd == "send":
        opts = {}
        if a.queue:
            opts["queue"] = a.queue
        if a.time_limit is not None:
            opts["time_limit"] = a.time_limit
        if a.soft_time_limit is not None:
            opts["soft_time_limit"] = a.soft_time_limit
        print(app.send_task(a.task, args=json.loads(a.args), **opts).id, flush=True)
    else:
        res = AsyncResult(a.id, app=app)
        deadline = time.monotonic() + a.timeout
        state = res.state
        while state != a.state and time.monotonic() < deadline:
            time.sleep(0.05)
            state = res.state
        print(json.dumps({"state": state, "info": jsonable(res.info)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
