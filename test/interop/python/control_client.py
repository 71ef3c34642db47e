#!/usr/bin/env python3
"""Celery's remote control client (app.control, JSON only) for Ebb's interop tests.

  control_client.py inspect METHOD [ARG ...] [--destination NODE,...] [--timeout S]
      -> JSON of app.control.inspect(...).METHOD(*ARGS) (None when no node replied)
  control_client.py revoke ID [ID ...] [--terminate] [--signal NAME]
      -> app.control.revoke(ids, terminate=..., signal=...) (a cast: no reply), prints "sent"
  control_client.py result-revoke ID [--terminate]
      -> AsyncResult(ID).revoke(terminate=...), prints "sent"

Broker URL from INTEROP_BROKER_URL. Exits when the test process dies (parent_watch.py).
"""
import parent_watch  # noqa: F401  (first: exit when the test process dies)
import argparse
import json

from client import make_app


def main():
    p = argparse.ArgumentParser()
    p.add_argument("command", choices=["inspect", "revoke", "result-revoke"])
    p.add_argument("rest", nargs="+")
    p.add_argument("--destination")
    p.add_argument("--timeout", type=float, default=2.0)
    p.add_argument("--terminate", action="store_true")
    p.add_argument("--signal", default="SIGTERM")
    a = p.parse_args()
    app = make_app()
    if a.command == "inspect":
        dest = a.destination.split(",") if a.destination else None
        inspect = app.control.inspect(destination=dest, timeout=a.timeout)
        print(json.dumps(getattr(inspect, a.rest[0])(*a.rest[1:])))
    elif a.command == "revoke":
        app.control.revoke(a.rest if len(a.rest) > 1 else a.rest[0], terminate=a.terminate, signal=a.signal)
        print("sent")
    else:
        app.AsyncResult(a.rest[0]).revoke(terminate=a.terminate, signal=a.signal)
        print("sent")


if __name__ == "__main__":
    main()
