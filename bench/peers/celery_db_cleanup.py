# Celery's own cleanup on its database backend (db+sqlite), the peer of `ebb cleanup` on SQLite:
# N expired rows among N live ones, backend.cleanup() (one DELETE) while another thread stores a
# result every millisecond through Celery's backend. Prints JSON: seconds, deleted, p99 idle/busy.
import json, os, sys, tempfile, threading, time, uuid
from datetime import datetime, timedelta

from celery import Celery
from celery.backends.database.models import Task

n = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
path = os.path.join(tempfile.mkdtemp(prefix="celery-bench-"), "celery.db")
app = Celery("bench", backend=f"db+sqlite:///{path}")
app.conf.update(result_serializer="json", accept_content=["json"], result_expires=3600)
backend = app.backend

session = backend.ResultSession()
old = datetime.utcnow() - timedelta(hours=2)
new = datetime.utcnow()
rows = [{"task_id": f"bench-{i}", "status": "SUCCESS", "result": b'{"i": 1}', "date_done": old if i % 2 == 0 else new} for i in range(2 * n)]
session.bulk_insert_mappings(Task, rows)
session.commit()
session.close()


def live(latencies, stop):
    while not stop.is_set():
        t = time.perf_counter()
        backend.store_result(str(uuid.uuid4()), 1, "SUCCESS")
        latencies.append((time.perf_counter() - t) * 1000)
        time.sleep(0.001)


def p99(xs):
    s = sorted(xs)
    return s[int(len(s) * 0.99)] if s else 0


idle, stop = [], threading.Event()
th = threading.Thread(target=live, args=(idle, stop)); th.start(); time.sleep(2); stop.set(); th.join()
busy, stop = [], threading.Event()
th = threading.Thread(target=live, args=(busy, stop)); th.start()
t = time.perf_counter()
backend.cleanup()
seconds = time.perf_counter() - t
stop.set(); th.join()
session = backend.ResultSession()
left = session.query(Task).count()
session.close()
print(json.dumps({"seconds": seconds, "deleted": 2 * n + len(idle) + len(busy) - left, "p99_idle_ms": p99(idle), "p99_busy_ms": p99(busy)}))
