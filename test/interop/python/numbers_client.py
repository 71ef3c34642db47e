#!/usr/bin/env python3
"""A real Celery client for Ebb's interop tests of exact numbers, compression and kwargs.

  numbers_client.py call TASK [--args JSON] [--kwargs JSON] [--compression METHOD] [--timeout S]
      -> send_task (compressed by kombu when --compression is given), then get(propagate=False):
         one JSON object as client.py's `call` prints it, written by Python's json.dumps, so a
         big int stays exact and NaN/Infinity are written as Python writes them.

--args/--kwargs are read by Python's json.loads: 123456789012345678, NaN and Infinity are read as
Python reads them. Broker/backend from INTEROP_BROKER_URL / INTEROP_BACKEND_URL, as client.py.
"""
import parent_watch  # noqa: F401  (first: exit when the test process dies, see parent_watch.py)
import argparse
import json
import sys

from client import describe, make_app, wait


def main():
    p = argparse.ArgumentParser()
    p.add_argument("cmd", choices=["call"])
    p.add_argument("task")
    p.add_argument("--args", default="[]")
    p.add_argument("--kwargs", default="{}")
    p.add_argument("--compression", default=None)
    p.add_argument("--timeout", type=float, default=25)
    a = p.parse_args()
    app = make_app()
    opts = {"compression": a.compression} if a.compression else {}
    res = app.send_task(a.task, args=json.loads(a.args), kwargs=json.loads(a.kwargs), **opts)
    print(json.dumps(wait(app, res.id, a.timeout)))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
