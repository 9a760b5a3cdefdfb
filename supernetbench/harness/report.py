"""Figures and Markdown tables for supernet evaluations.

matplotlib is imported inside the plotting function (Agg canvas, no pyplot state), so
importing this module stays light. Files are rendered in memory and written atomically.
"""
from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from supernetbench.harness.metrics import mean_std
from supernetbench.harness.store import atomic_write_bytes

__all__ = ["format_mean_std", "markdown_table", "plot_curves"]

CURVE_PANELS = (
    ("a1", "Top arch ID rate"),
    ("a2", "Sampling probability mass"),
)
"""(key in each curve dict, y label) for the left and right panel."""


def _curve_rows(values: ArrayLike, name: str, key: str, n_levels: int) -> np.ndarray:
    """Curve values as ``(seeds, levels)``, checked against the number of levels."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != n_levels:
        raise ValueError(
            f"curves[{name!r}][{key!r}] must have shape (levels,) or (seeds, levels) with "
            f"levels = len(thresholds) + 1 = {n_levels}, got {np.shape(values)}"
        )
    return arr


def plot_curves(
    curves: Mapping[str, Mapping[str, ArrayLike]],
    thresholds: ArrayLike,
    baseline: ArrayLike,
    path: str | os.PathLike,
    title: str = "",
) -> list[Path]:
    """Plot a1 (left) and a2 (right) against the test-error threshold, as in P000 Fig. 3.

    Level ``j`` is drawn at ``x = t_{j+1}`` (log scale); the last level (always 1) has no
    threshold and is dropped, as in the reference. With several seeds the line is the mean
    and the band is mean ± population std (``np.std``, ``ddof=0``).

    Args:
        curves: ``{method: {"a1": values, "a2": values}}``; values have shape ``(G,)`` or
            ``(seeds, G)``. A method without an architecture distribution may omit ``"a2"``.
        thresholds: the ``G - 1`` thresholds from
            :func:`supernetbench.harness.metrics.threshold_values`.
        baseline: random baseline of shape ``(G,)`` (from ``random_baseline``) or ``(G - 1,)``.
        path: output file; ``.png`` writes a PNG, ``.pdf`` writes the PDF and a PNG beside it.
        title: figure title.

    Returns:
        The written paths (PNG first).

    Example:
        >>> plot_curves({"darts": {"a1": [0.5, 1.0], "a2": [0.2, 1.0]}}, [8.0], [0.5, 1.0],
        ...             "/tmp/curves.png", "demo")  # doctest: +SKIP
        [PosixPath('/tmp/curves.png')]
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    x = np.asarray(thresholds, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"thresholds must be a non-empty 1-D array (G - 1 values), got shape {x.shape}")
    if (x <= 0).any():
        raise ValueError("thresholds must be positive test errors for the log-scale x axis")
    n_levels = x.size + 1
    base = np.asarray(baseline, dtype=np.float64)
    if base.shape == (n_levels,):
        base = base[:-1]
    if base.shape != x.shape:
        raise ValueError(
            f"baseline must have {n_levels} (or {x.size}) values to match thresholds, got shape {base.shape}"
        )
    if not curves:
        raise ValueError("curves is empty; pass at least one method")

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".png", ".pdf"):
        raise ValueError(f"path must end in .png or .pdf, got {path.name!r}")

    fig = Figure(figsize=(9, 3.2))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2)
    colors = [c["color"] for c in _prop_cycle()]
    for panel, (key, ylabel) in zip(axes, CURVE_PANELS):
        for k, (name, curve) in enumerate(curves.items()):
            if key not in curve:
                continue
            rows = _curve_rows(curve[key], name, key, n_levels)[:, :-1]
            mean, std = rows.mean(axis=0), rows.std(axis=0)
            color = colors[k % len(colors)]
            panel.plot(x, mean, "-", color=color, label=name)
            if rows.shape[0] > 1:
                panel.fill_between(x, mean - std, mean + std, color=color, alpha=0.2, linewidth=0)
        panel.plot(x, base, ":", color="black", label="random baseline")
        panel.set_xscale("log")
        panel.set_xlabel("Test error threshold (%)")
        panel.set_ylabel(ylabel)
        panel.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    fig.tight_layout()

    targets = [path.with_suffix(".png")] + ([path] if suffix == ".pdf" else [])
    for target in targets:
        buf = io.BytesIO()
        fig.savefig(buf, format=target.suffix[1:])
        atomic_write_bytes(target, buf.getvalue())
    return targets


def _prop_cycle() -> list[dict[str, Any]]:
    from matplotlib import rcParams

    return list(rcParams["axes.prop_cycle"])


def format_mean_std(values: ArrayLike, decimals: int = 2) -> str:
    """Format per-seed values as ``"mean ± std"`` (population std, ``ddof=0``).

    Args:
        values: one finite value per seed.
        decimals: digits after the decimal point.

    Returns:
        e.g. ``"93.12 ± 0.34"``.

    Example:
        >>> format_mean_std([92.78, 93.46])
        '93.12 ± 0.34'
    """
    m = mean_std(values)
    return f"{m.mean:.{decimals}f} ± {m.std:.{decimals}f}"


def _cell(value: Any, float_format: str, missing: str) -> str:
    if value is None:
        return missing
    if isinstance(value, (float, np.floating)):
        text = float_format.format(value)
    else:
        text = str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    *,
    float_format: str = "{:.2f}",
    missing: str = "—",
) -> str:
    """Render ``rows`` as a GitHub-flavoured Markdown table with the given column order.

    Args:
        rows: one mapping per table row; keys not in ``columns`` are ignored.
        columns: column names, in order (also the header).
        float_format: format for float cells; strings (e.g. from :func:`format_mean_std`)
            are used as they are.
        missing: text for a column absent from a row (or ``None``), e.g. an incompatible
            algorithm/selector pair.

    Returns:
        The table, one line per row plus header and separator, ending in a newline.

    Example:
        >>> print(markdown_table([{"algo": "darts", "valid": 93.456}], ["algo", "valid"]), end="")
        | algo | valid |
        | --- | --- |
        | darts | 93.46 |
    """
    if not columns:
        raise ValueError("columns is empty; name at least one column")
    lines = [
        "| " + " | ".join(_cell(c, float_format, missing) for c in columns) + " |",
        "| " + " | ".join("---" for _ in columns) + " |",
    ]
    for row in rows:
        cells = (_cell(row.get(c), float_format, missing) for c in columns)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
