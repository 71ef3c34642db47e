"""Celery's own event receiver on a shared Redis, for Ebb's events interop test.

  INTEROP_BROKER_URL=redis://... python3 events_client.py HOSTNAME SECONDS

Captures events with app.events.Receiver (as `celery events` and Flower do), prints each as a
JSON line {"event": {...}}, and feeds them to celery.events.state.State, the model Flower keeps.
Stops after the worker-offline of HOSTNAME, or after SECONDS, then prints one line
{"summary": {...}}: whether State ever judged HOSTNAME alive on a heartbeat, whether it is
alive now, and each task's final state as State has it.
"""
import parent_watch  # noqa: F401  (first: exit when the test process dies)
import json
import os
import sys
import time

from celery import Celery
from celery.events.state import State

hostname = sys.argv[1]
deadline = time.monotonic() + float(sys.argv[2])

app = Celery("events_client", broker=os.environ["INTEROP_BROKER_URL"])
app.conf.update(accept_content=["json"], event_serializer="json", enable_utc=True)

state = State()
alive_seen = False
offline_seen = False


def on_event(event):
    global alive_seen, offline_seen
    state.event(event)
    print(json.dumps({"event": event}), flush=True)
    if event.get("hostname") != hostname:
        return
    worker = state.workers.get(hostname)
    if event["type"] == "worker-heartbeat" and worker is not None and worker.alive:
        alive_seen = True
    if event["type"] == "worker-offline":
        offline_seen = True


with app.connection() as conn:
    recv = app.events.Receiver(conn, handlers={"*": on_event})

    def on_iteration():
        if offline_seen or time.monotonic() > deadline:
            recv.should_stop = True

    recv.on_iteration = on_iteration
    # wakeup=False: no `heartbeat` broadcast to workers; the test wants what the worker sends by itself.
    recv.capture(limit=None, timeout=None, wakeup=False)

worker = state.workers.get(hostname)
summary = {
    "offline_seen": offline_seen,
    "alive_seen": alive_seen,
    "alive_now": bool(worker and worker.alive),
    "worker": None if worker is None else {
        "sw_ident": worker.sw_ident, "sw_ver": worker.sw_ver, "sw_sys": worker.sw_sys,
        "freq": worker.freq, "processed": worker.processed, "pid": worker.pid,
    },
    "tasks": {
        uuid: {"state": t.state, "name": t.name, "result": t.result, "exception": t.exception,
               "retries": t.retries, "worker": t.worker.hostname if t.worker else None}
        for uuid, t in state.tasks.items()
    },
}
print(json.dumps({"summary": summary}), flush=True)
