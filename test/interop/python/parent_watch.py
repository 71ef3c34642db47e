"""Die with the test process that started this one: never outlive the test run.

Imported first by client.py and interop_tasks.py (so a `celery worker -A interop_tasks` has it
too). When the test process (vitest's worker) is killed, even by SIGKILL, no afterAll runs; this
makes the Python process exit by itself instead of staying behind as an orphan:

- on Linux, prctl(PR_SET_PDEATHSIG, SIGKILL): the kernel kills it the moment its parent dies;
- everywhere, a daemon thread that checks os.getppid() every 0.5 s and exits once the parent
  is gone (it has been reparented), and a check at start, for a parent that died before prctl.

The parent's pid comes from EBB_TEST_PARENT_PID (set by test/interop/harness.ts); without it,
the parent at import time is taken.
"""
import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1
POLL_S = 0.5


def _parent_gone(parent):
    sys.stderr.write(f"parent_watch: the test process {parent} is gone; exiting\n")
    sys.stderr.flush()
    os._exit(70)


def die_with_parent():
    parent = int(os.environ.get("EBB_TEST_PARENT_PID") or os.getppid())
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # the watchdog below still ends it
    if os.getppid() != parent:
        _parent_gone(parent)

    def watch():
        while os.getppid() == parent:
            time.sleep(POLL_S)
        _parent_gone(parent)

    threading.Thread(target=watch, name="ebb-parent-watch", daemon=True).start()


die_with_parent()
