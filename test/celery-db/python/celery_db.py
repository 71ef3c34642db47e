"""
A real Celery 5.2.6 (Debian's python3-celery) writing and reading its database result backend,
for Ebb's tests of CeleryDbBackend. Run with /usr/bin/python3 only.

  celery_db.py store URL SCHEMA SPEC_JSON    store results, print {"stored": n}
  celery_db.py read URL SCHEMA ID [ID...]    print one JSON line per id: what AsyncResult reads

URL is a Celery result-backend URL (db+sqlite:////abs/path.db, db+postgresql://...). SCHEMA is
the PostgreSQL schema for Celery's tables ("" for none), set through database_table_schemas.
SPEC_JSON is a JSON array of results:
  {"id", "state": "SUCCESS"|"FAILURE"|"STARTED"|"RETRY"|..., "result": <JSON>,
   "error": "message" (FAILURE/RETRY: a ValueError), "extended": {"name", "args", "kwargs",
   "worker", "retries", "queue"} (stored with result_extended=True), "age_seconds": N (date_done
   moved N seconds into the past, as if stored then)}
The results this script stores are the test's own, so reading them back (which unpickles) is safe.
"""
import json
import sys
from datetime import datetime, timedelta

from celery import Celery
from celery.app.task import Context
from celery.result import AsyncResult


def make_app(url, schema, extended):
    app = Celery("ebb_celery_db_test", backend=url, broker="memory://")
    app.conf.update(
        result_serializer="json", accept_content=["json"], result_extended=extended,
        timezone="UTC", enable_utc=True,
        database_table_schemas={"task": schema, "group": schema} if schema else {},
    )
    return app


def store(url, schema, spec):
    # One app per mode: result_extended decides which columns Celery writes.
    plain, extended = make_app(url, schema, False), make_app(url, schema, True)
    for item in spec:
        app = extended if "extended" in item else plain
        backend = app.backend
        request = None
        if "extended" in item:
            e = item["extended"]
            request = Context(task=e.get("name"), args=e.get("args"), kwargs=e.get("kwargs"), hostname=e.get("worker"),
                              retries=e.get("retries"), delivery_info={"routing_key": e.get("queue")}, children=[])
        state = item["state"]
        if state == "SUCCESS":
            backend.mark_as_done(item["id"], item.get("result"), request=request)
        elif state == "FAILURE":
            backend.mark_as_failure(item["id"], ValueError(item.get("error", "boom")), traceback="Traceback (test)\nValueError: boom\n", request=request)
        elif state == "RETRY":
            backend.mark_as_retry(item["id"], RuntimeError(item.get("error", "again")), traceback="Traceback (test)\n", request=request)
        else:
            backend.store_result(item["id"], item.get("result"), state, request=request)
        if "age_seconds" in item:
            session = backend.ResultSession()
            try:
                session.query(backend.task_cls).filter(backend.task_cls.task_id == item["id"]).update(
                    {"date_done": datetime.utcnow() - timedelta(seconds=item["age_seconds"])})
                session.commit()
            finally:
                session.close()
    print(json.dumps({"stored": len(spec)}))


def read(url, schema, ids):
    app = make_app(url, schema, True)
    for task_id in ids:
        r = AsyncResult(task_id, app=app)
        meta = app.backend.get_task_meta(task_id)
        result = r.result
        if isinstance(result, BaseException):
            result = {"exc_type": type(result).__name__, "exc_message": list(result.args)}
        done = meta.get("date_done")
        print(json.dumps({"id": task_id, "state": r.state, "result": result, "date_done": done.isoformat() if done else None,
                          "name": meta.get("name"), "args": meta.get("args"), "kwargs": meta.get("kwargs"),
                          "worker": meta.get("worker"), "retries": meta.get("retries"), "queue": meta.get("queue")}))


if __name__ == "__main__":
    command, url, schema = sys.argv[1], sys.argv[2], sys.argv[3]
    if command == "store":
        store(url, schema, json.loads(sys.argv[4]))
    elif command == "read":
        read(url, schema, sys.argv[4:])
    else:
        sys.exit(f"unknown command {command!r}")
