# A Python Celery app for the throughput benchmark: the same no-op task, JSON only.
import os
from celery import Celery

url = os.environ["BENCH_REDIS_URL"]
app = Celery("bench", broker=url, backend=url)
app.conf.update(task_serializer="json", result_serializer="json", accept_content=["json"], worker_hijack_root_logger=False)


@app.task(name="bench.noop")
def noop(i):
    return i
