"""Progress output: a tqdm bar on a terminal, a line per few percent in logs (not \\r-updates)."""
from __future__ import annotations

from supernetbench.harness import progress
from supernetbench.harness.progress import progress_bar


def test_non_terminal_output_is_a_line_per_step(capsys):
    for _ in progress_bar(range(1000), True, desc="work"):
        pass
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert "\r" not in err
    steps = round(1 / progress.LOG_STEP)
    assert steps <= len(lines) <= steps + 3, lines
    assert lines[-1].startswith("work: 100%") and "1000/1000" in lines[-1]


def test_disabled_prints_nothing(capsys):
    assert list(progress_bar(range(5), False)) == list(range(5))
    assert capsys.readouterr().err == ""


def test_resumed_work_counts_the_remaining_part(capsys):
    for _ in progress_bar(range(100), True, desc="rest", initial=900, total=1000):
        pass
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) <= round(1 / progress.LOG_STEP) + 3 and "1000/1000" in lines[-1]
