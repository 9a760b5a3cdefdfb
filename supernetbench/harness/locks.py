"""Cross-process claims on artifacts: the first process computes, the others wait, then reuse.

Stage-1 runs and score caches are content-addressed, so two processes asking for the same artifact
(``pytest suites -n 2``, two ``supernetbench train`` of one spec into a shared runs root, a study
on a cluster) want the same bytes. :func:`claim` holds an OS file lock (``filelock``; released by
the OS if the holder dies, so a killed process never leaves a stale claim) around the
check-compute-write of one artifact; the writes themselves stay atomic.
"""
from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Iterator

from filelock import FileLock, Timeout


@contextlib.contextmanager
def claim(lock_path: str | os.PathLike, what: str, *, announce: bool = True, required: bool = True) -> Iterator[None]:
    """Hold the lock at ``lock_path`` for the block; say so once if another process holds it.

    ``required=False``: where the lock file cannot be created (a read-only cache), say so in one
    ``warning:`` line and run the block without it - for work that is only cached, where a duplicate
    computation is the worst outcome."""
    lock_path = Path(lock_path)
    lock: FileLock | None = None
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(lock_path))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            if announce:
                print(f"waiting for another process that is computing {what} (lock {lock_path})",
                      file=sys.stderr, flush=True)
            lock.acquire()
    except OSError as e:
        if required:
            raise
        from .store import warn

        warn(f"cannot create lock file {lock_path} ({e.strerror or e}); computing {what} without it "
             "(another process may do the same work)")
        lock = None  # the block runs unlocked, outside this handler (its errors chain to nothing)
    try:
        yield
    finally:
        if lock is not None:
            lock.release()
