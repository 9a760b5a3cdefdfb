"""Progress bars that suit where the output goes.

On a terminal: a normal tqdm bar. Redirected to a file or a CI log: tqdm's carriage-return updates
would become thousands of lines, so the bar prints one plain line every ``LOG_STEP`` of the work
(and at the end) instead.
"""
from __future__ import annotations

import sys
from typing import Any, Iterable

from tqdm.auto import tqdm

#: fraction of the work between two lines when the output is not a terminal
LOG_STEP = 0.05


class _LineWriter:
    """A file-like target that turns tqdm's ``\\r``-refreshes into one line each."""

    def __init__(self, stream) -> None:
        self.stream = stream

    def write(self, s: str) -> None:
        s = s.replace("\r", "").strip()
        if s:
            self.stream.write(s + "\n")

    def flush(self) -> None:
        self.stream.flush()


def is_terminal(stream=None) -> bool:
    stream = stream if stream is not None else sys.stderr
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def progress_bar(iterable: Iterable | None = None, enabled: bool = True, *, total: int | None = None,
                 **kwargs: Any) -> tqdm:
    """``tqdm(iterable, ...)``; disabled when ``enabled`` is False; line-per-step when not a TTY."""
    if total is None and iterable is not None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    if enabled and not is_terminal():
        initial = int(kwargs.get("initial", 0) or 0)
        step = max(1, int(LOG_STEP * max(1, (total or 0) - initial)))
        kwargs.update(file=_LineWriter(sys.stderr), miniters=step, mininterval=0, maxinterval=float("inf"),
                      dynamic_ncols=False, ncols=100, leave=True)
    return tqdm(iterable, total=total, disable=not enabled, **kwargs)
