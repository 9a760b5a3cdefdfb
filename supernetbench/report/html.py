"""The index page as a list of blocks, rendered twice: ``index.md`` (figures linked) and one
self-contained ``index.html`` (figures embedded as base64 PNG data URIs, tables as HTML tables).

Blocks are tuples: ``("h1" | "h2" | "p" | "warning", text)``, ``("list", [text, ...])``,
``("table", Table)`` and ``("figure", png_path, caption)``.
"""
from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any, Sequence

from .tables import Table

__all__ = ["Block", "md_escape", "render_html", "render_markdown"]

Block = tuple[Any, ...]

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1150px; margin: 2em auto;
       padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 1.8em; }
table { border-collapse: collapse; margin: 1em 0; font-size: .92em; min-width: 60%; }
caption { text-align: left; font-weight: 600; padding-bottom: .3em; }
th, td { border: 1px solid #bbb; padding: .25em .6em; text-align: right; }
th[scope=row], thead th:first-child { text-align: left; } thead th { background: #f0f0f0; }
td.best { background: #e6f4e6; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: .9em; color: #444; }
.warning { background: #fff3cd; border: 1px solid #e0c060; padding: .5em .8em; border-radius: 4px; }
code { background: #f4f4f4; padding: 0 .2em; }
"""


_MD_SPECIAL = "\\`*_{}[]<>()#|!~"


def md_escape(text: Any) -> str:
    """``text`` as literal Markdown: special characters backslash-escaped, line breaks as spaces, so
    a copied path (``/data/my_runs*[old]``) renders as itself and cannot start a list, link or heading."""
    s = " ".join(str(text).splitlines())
    return "".join(f"\\{c}" if c in _MD_SPECIAL else c for c in s)


def render_markdown(blocks: Sequence[Block], root: Path) -> str:
    """Markdown; figure paths relative to ``root`` (the directory of ``index.md``). Every text block is
    escaped (:func:`md_escape`): paths and names copied into the report render literally."""
    m = md_escape
    out: list[str] = []
    for block in blocks:
        kind = block[0]
        if kind == "h1":
            out += [f"# {m(block[1])}", ""]
        elif kind == "h2":
            out += [f"## {m(block[1])}", ""]
        elif kind == "p":
            out += [m(block[1]), ""]
        elif kind == "warning":
            out += [f"> **Warning:** {m(block[1])}", ""]
        elif kind == "list":
            out += [f"- {m(item)}" for item in block[1]] + [""]
        elif kind == "table":
            t: Table = block[1]
            out += [f"**{m(t.title)}**", "", t.to_markdown()]
            if t.note:
                out += [f"*{m(t.note)}*", ""]
        elif kind == "figure":
            rel = Path(block[1]).relative_to(root).as_posix()
            out += [f"![{m(Path(block[1]).stem)}]({rel})", "", f"*{m(block[2])}*", ""]
        else:
            raise ValueError(f"unknown block kind {kind!r}")
    return "\n".join(out)


def _data_uri(png: Path) -> str:
    data = Path(png).read_bytes()
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise ValueError(f"{png} is not a PNG file; the HTML index embeds PNGs only")
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def render_html(blocks: Sequence[Block], title: str) -> str:
    """One self-contained HTML5 page (no external files or links needed)."""
    e = html.escape
    body: list[str] = []
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2"):
            body.append(f"<{kind}>{e(block[1])}</{kind}>")
        elif kind == "p":
            body.append(f"<p>{e(block[1])}</p>")
        elif kind == "warning":
            body.append(f"<p class=\"warning\"><strong>Warning:</strong> {e(block[1])}</p>")
        elif kind == "list":
            body.append("<ul>\n" + "\n".join(f"<li>{e(item)}</li>" for item in block[1]) + "\n</ul>")
        elif kind == "table":
            t: Table = block[1]
            body.append(t.to_html() + (f"<p><em>{e(t.note)}</em></p>" if t.note else ""))
        elif kind == "figure":
            body.append(f"<figure><img src=\"{_data_uri(block[1])}\" alt=\"{e(Path(block[1]).stem)}\">"
                        f"<figcaption>{e(block[2])}</figcaption></figure>")
        else:
            raise ValueError(f"unknown block kind {kind!r}")
    return (f"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{e(title)}</title>\n"
            f"<style>{_CSS}</style>\n</head>\n<body>\n" + "\n".join(body) + "\n</body>\n</html>\n")
