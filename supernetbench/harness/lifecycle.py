"""Process lifetime: worker processes never outlive the command that started them, and SIGTERM
(what ``timeout``, ``kill`` and batch schedulers send) ends a command the way Ctrl-C does.

* :func:`watch_parent` - a pool initializer: a daemon thread polls ``os.getppid()`` and ends the
  worker at once (``os._exit``) when its parent has died (SIGKILL included: no handler runs in a
  killed parent, so the worker must notice by itself). Artifacts stay whole: every write is atomic.
* :func:`sigterm_as_interrupt` - while the block runs, SIGTERM raises ``KeyboardInterrupt`` in the
  main thread, so the command's Ctrl-C path (the "interrupted" line, status 130, workers stopped) runs.
"""
from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from typing import Iterator

#: seconds between two checks of the parent process
POLL_S = 0.5


def _watch(parent: int, poll_s: float) -> None:
    while True:
        time.sleep(poll_s)
        if os.getppid() != parent:  # re-parented: the process that started us is gone
            os._exit(1)


def watch_parent(parent: int | None = None, poll_s: float = POLL_S) -> None:
    """End this process when ``parent`` (default: the current parent) dies; call it first thing in
    a worker (e.g. as a ``ProcessPoolExecutor`` initializer with ``initargs=(os.getpid(),)``)."""
    parent = os.getppid() if parent is None else int(parent)
    if os.getppid() != parent:  # it died before we started
        os._exit(1)
    threading.Thread(target=_watch, args=(parent, poll_s), name="parent-watch", daemon=True).start()


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM -> ``KeyboardInterrupt`` for the block (main thread only; elsewhere a no-op); the
    previous handler is restored afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)
