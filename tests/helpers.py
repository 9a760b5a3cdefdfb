"""Test helpers: the CLI run in-process (status and output, whatever the outcome), and a pickle payload
that proves whether a load ran code."""
from __future__ import annotations

import contextlib
import io

from supernetbench.cli import main


def run_cli(*argv: str) -> tuple[int, str, str]:
    """``(status, stdout, stderr)`` of ``supernetbench argv...``; argparse exits are statuses too."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(list(argv))
        except SystemExit as e:
            rc = e.code if isinstance(e.code, int) else 1
    return rc, out.getvalue(), err.getvalue()


def error_line(err: str) -> str:
    """The single ``error:`` line of a failed command (asserts there is exactly one line)."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


class CodePayload:
    """Unpickling this creates ``marker``: the proof that a load ran code from the file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))
