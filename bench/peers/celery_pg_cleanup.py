# Celery's own cleanup on its PostgreSQL database backend, the peer of Ebb's partition drops:
# N results in celery_taskmeta (made by Celery's own models, in schema SCHEMA), EXPIRED of them
# done more than result_expires ago; then backend.cleanup() (Celery's one DELETE ... WHERE
# date_done < cutoff) while another thread stores a result every millisecond through Celery's
# backend. Prints one JSON line: seconds, deleted, p99 idle/busy (ms), WAL bytes of the cleanup
# window and of the idle window (the writer's own share), and both windows' lengths.
#   celery_pg_cleanup.py URL SCHEMA N EXPIRED        (URL: postgresql://user@host:port/db)
import json, sys, threading, time, uuid

from celery import Celery
from sqlalchemy import text

url, schema, n, expired = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
app = Celery("bench", backend=f"db+{url}")
app.conf.update(
    result_serializer="json",
    accept_content=["json"],
    result_expires=86400,
    database_table_schemas={"task": schema, "group": schema},
)
backend = app.backend

session = backend.ResultSession()  # creates Celery's tables, as a first worker would
t = f"{schema}.celery_taskmeta"
# Expired: done 1 to 2 days ago; the rest within the last 23 hours. Ids and payloads as a worker writes them.
session.execute(text(
    f"INSERT INTO {t} (id, task_id, status, result, date_done, traceback) "
    f"SELECT nextval('{schema}.task_id_sequence'), gen_random_uuid()::text, 'SUCCESS', convert_to('{{\"i\": ' || g || '}}', 'UTF8'), "
    f"(now() AT TIME ZONE 'utc') - CASE WHEN g <= :expired THEN interval '1 day' + g * interval '1 hour' / :expired "
    f"ELSE (g - :expired) * interval '23 hours' / (:n - :expired) END, NULL FROM generate_series(1, :n) g"
), {"n": n, "expired": expired})
session.commit()
session.close()
import psycopg2

raw = psycopg2.connect(url)
raw.autocommit = True
cur = raw.cursor()
cur.execute(f"VACUUM ANALYZE {t}")
cur.execute("CHECKPOINT")


def lsn():
    cur.execute("SELECT pg_current_wal_lsn()::text")
    return cur.fetchone()[0]


def wal(a, b):
    cur.execute("SELECT pg_wal_lsn_diff(%s, %s)::bigint", (b, a))
    return int(cur.fetchone()[0])


def live(latencies, stop):
    while not stop.is_set():
        s = time.perf_counter()
        backend.store_result(str(uuid.uuid4()), {"i": 1}, "SUCCESS")
        latencies.append((s, (time.perf_counter() - s) * 1000))
        time.sleep(0.001)


def expired_rows():
    cur.execute(f"SELECT count(*) FROM {t} WHERE date_done < (now() AT TIME ZONE 'utc') - interval '1 day'")
    return int(cur.fetchone()[0])


def p99(samples, start=0, end=float("inf")):
    # Every store whose time overlaps the window, including one that started just before and waited.
    s = sorted(ms for at, ms in samples if at <= end and at + ms / 1000 >= start)
    return s[int(len(s) * 0.99)] if s else 0


idle, stop = [], threading.Event()
a = lsn()
s = time.perf_counter()
th = threading.Thread(target=live, args=(idle, stop)); th.start(); time.sleep(2); stop.set(); th.join()
idle_seconds = time.perf_counter() - s
idle_wal = wal(a, lsn())

busy, stop = [], threading.Event()
th = threading.Thread(target=live, args=(busy, stop)); th.start()
time.sleep(0.2)
before = expired_rows()
a = lsn()
s = time.perf_counter()
backend.cleanup()
seconds = time.perf_counter() - s
b = lsn()
stop.set(); th.join()
print(json.dumps({
    "seconds": seconds, "deleted": before - expired_rows(), "p99_idle_ms": p99(idle), "p99_busy_ms": p99(busy, s, s + seconds),
    "busy_samples": len([1 for at, ms in busy if at <= s + seconds and at + ms / 1000 >= s]),
    "wal_bytes": wal(a, b), "idle_wal_bytes": idle_wal, "idle_seconds": idle_seconds,
}))
