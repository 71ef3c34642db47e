"""A Python Celery app for Ebb's interop tests: the Python side of a shared Redis.

  cd test/interop/python && /usr/bin/python3 -m celery -A interop_tasks worker --pool=solo ...

Config from the environment: INTEROP_BROKER_URL, INTEROP_BACKEND_URL (default: the broker),
INTEROP_RESULT_EXTENDED=1 for result_extended, INTEROP_RESULT_EXPIRES (seconds, default Celery's
86400), INTEROP_PREFETCH (worker_prefetch_multiplier, default 4; with 1 the solo worker of
Celery 5.2.6 on Redis picks up each next message only every few seconds). JSON only, UTC.
"""
import parent_watch  # noqa: F401  (first: exit when the test process dies, see parent_watch.py)
import os
import time

import redis
from celery import Celery

BROKER = os.environ["INTEROP_BROKER_URL"]

app = Celery("interop_tasks", broker=BROKER, backend=os.environ.get("INTEROP_BACKEND_URL", BROKER))
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    result_accept_content=["json"],
    task_protocol=2,
    enable_utc=True,
    timezone="UTC",
    result_extended=os.environ.get("INTEROP_RESULT_EXTENDED") == "1",
    result_expires=int(os.environ.get("INTEROP_RESULT_EXPIRES", "86400")),
    worker_prefetch_multiplier=int(os.environ.get("INTEROP_PREFETCH", "4")),
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=True,
)

_records = None


class InteropError(Exception):
    """A user-defined exception: Celery stores it with exc_module "interop_tasks"."""


@app.task(name="interop.add")
def add(a, b):
    return a + b


@app.task(name="interop.echo")
def echo(*args, **kwargs):
    return {"args": list(args), "kwargs": kwargs}


@app.task(name="interop.fail")
def fail(kind="value", message="boom"):
    if kind == "custom":
        raise InteropError(message)
    raise ValueError(message)


@app.task(name="interop.sleep")
def sleep(seconds):
    time.sleep(seconds)
    return seconds


@app.task(name="interop.hold")
def hold(gate, timeout=60):
    """Keep the (solo) worker busy until the test pushes to the Redis list `gate`; return what it pushed.

    Holds a slot for as long as a test needs, instead of for a fixed time that a slow machine
    (a Python client taking seconds to start) can outlast. Gives up after `timeout` seconds.
    """
    popped = _redis().blpop([gate], timeout=timeout)
    if popped is None:
        raise TimeoutError(f"nobody pushed to {gate} within {timeout} s")
    return popped[1].decode()


def _redis():
    global _records
    if _records is None:
        _records = redis.Redis.from_url(BROKER)
    return _records


@app.task(name="interop.record", bind=True)
def record(self, list_key="interop:records"):
    """Append this task's id to a Redis list (in the broker's db) and return it."""
    _redis().rpush(list_key, "python:" + self.request.id)
    return self.request.id


# --- Canvas: chain, chord, link_error (test/interop/canvas-*.test.ts) ---

@app.task(name="interop.mul")
def mul(a, b):
    return a * b


@app.task(name="interop.tsum")
def tsum(values):
    return sum(values)


@app.task(name="interop.on_error")
def on_error(failed_id):
    """An old-style errback (one argument: the failed task's id), so any worker can run it as a task."""
    _redis().rpush("interop:errbacks", "python:" + failed_id)
    return failed_id
