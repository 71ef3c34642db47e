# Python Celery's app for the Redis benchmark: the same no-op task, JSON only, run as
#   celery -A celery_worker worker --pool threads --concurrency 50 -l warning ...
# with BENCH_REDIS_URL and BENCH_N set. It prints "ready" (worker_ready) and, after N tasks, the
# same bench-done line as the Node workers (bench/peers/done-report.ts): the first task call, and
# the N-th task_success, which Celery sends after the backend has stored the result (the message
# was acked before the task ran: Celery's default, acks_late off). CPU is utime+stime of this one
# process from /proc/self/stat, which covers every thread of the threads pool.
import itertools, json, os, sys, threading, time
from celery import Celery
from celery.signals import task_success, worker_ready

url = os.environ["BENCH_REDIS_URL"]
N = int(os.environ.get("BENCH_N", "0"))
app = Celery("bench", broker=url, backend=url)
app.conf.update(task_serializer="json", result_serializer="json", accept_content=["json"], worker_hijack_root_logger=False)


def cpu_ticks():
    with open("/proc/self/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def memory_kb():
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmHWM:", "VmRSS:")):
                out["hwmKB" if line.startswith("VmHWM") else "rssKB"] = int(line.split()[1])
    return out


def _say(line):
    # The worker redirects sys.stdout into its log (worker_redirect_stdouts): write past it.
    sys.__stdout__.write(line + "\n")
    sys.__stdout__.flush()


_first = None
_first_lock = threading.Lock()
_done = itertools.count(1)


@app.task(name="bench.noop")
def noop(i):
    global _first
    if _first is None:
        with _first_lock:
            if _first is None:
                _first = (time.time() * 1000, cpu_ticks())
    return i


@task_success.connect
def _finished(sender=None, **kwargs):
    if next(_done) == N:
        first_at, cpu_first = _first
        line = {"firstAt": first_at, "doneAt": time.time() * 1000, "cpuFirst": cpu_first, "cpuDone": cpu_ticks(), **memory_kb()}
        _say("bench-done " + json.dumps(line))


@worker_ready.connect
def _ready(**kwargs):
    _say("ready")
