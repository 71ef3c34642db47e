# Enqueue N bench.noop tasks with Python Celery's real client, one send_task after another on one
# producer (its client is synchronous: one publish in flight). The connection is made before the
# clock starts. Prints the enqueue time in seconds.
import os, sys, time
from celery import Celery

url = os.environ["BENCH_REDIS_URL"]
n = int(sys.argv[1])
app = Celery("bench", broker=url, backend=url)
app.conf.update(task_serializer="json", result_serializer="json", accept_content=["json"])
with app.producer_or_acquire() as producer:
    producer.connection.ensure_connection()
    start = time.perf_counter()
    for i in range(n):
        app.send_task("bench.noop", args=[i], producer=producer)
    print(time.perf_counter() - start)
