"""Every ``supernetbench ...`` and ``pytest ...`` line in README.md's code blocks works as written.

Lines are taken from fenced code blocks (``\\`` continuations joined, ``# comments`` and shell
redirections dropped). ``[optional]`` groups are checked left out, and each alternative (``a|b``)
alone; placeholders ``N`` and ``...`` become ``2`` and nothing. ``supernetbench`` lines must parse
against :func:`supernetbench.cli.build_parser` (every flag exists, choices are valid) and name
registered methods, selectors, profiles, profile fields and method options; the cheap ones run.
``pytest`` lines must collect at least one test (``--collect-only``).
"""
from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
README = ROOT / "README.md"
CHEAP = ("list", "space", "data", "model-info")  # commands that run here in about a second


def _outside_quotes(text: str):
    """(index, char, quoted) for every character of a shell line."""
    quote = None
    for i, ch in enumerate(text):
        if quote is None and ch in "'\"":
            quote = ch
        elif ch == quote:
            quote = None
        yield i, ch, quote is not None


def _strip_comment(line: str) -> str:
    for i, ch, quoted in _outside_quotes(line):
        if ch == "#" and not quoted and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line.rstrip()


def code_block_commands(text: str) -> list[str]:
    """Logical command lines of the fenced code blocks of ``text``."""
    out: list[str] = []
    in_block, pending = False, ""
    for raw in text.splitlines():
        if raw.lstrip().startswith("```"):
            in_block, pending = not in_block, ""
            continue
        if not in_block:
            continue
        line = _strip_comment(raw) if not pending else _strip_comment(" " + raw.strip())
        if line.endswith("\\"):
            pending += line[:-1].rstrip() + " "
            continue
        line, pending = (pending + line.strip()).strip(), ""
        if line:
            out.append(line)
    return out


def _groups(line: str) -> list[str | list[str]]:
    """Split a line into literal text and ``[optional]`` groups (lists of alternatives, '' = left out)."""
    parts: list[str | list[str]] = []
    start, depth = 0, 0
    for i, ch, quoted in _outside_quotes(line):
        if quoted:
            continue
        if ch == "[" and (i == 0 or line[i - 1].isspace()):
            if depth == 0:
                parts.append(line[start:i])
                start = i + 1
            depth += 1
        elif ch == "]" and depth:
            depth -= 1
            if depth == 0:
                inner = line[start:i]
                parts.append([""] + _alternatives(inner))
                start = i + 1
    parts.append(line[start:])
    return parts


def _alternatives(inner: str) -> list[str]:
    """``--precision exact|bf16`` -> ['--precision exact', '--precision bf16'] (a '|' outside quotes)."""
    m = re.fullmatch(r"(.*?)(\S+)((?:\|\S+)+)(.*)", inner)
    if m and not any(q for i, ch, q in _outside_quotes(inner) if ch == "|") and "'" not in m.group(2):
        return [m.group(1) + alt + m.group(4) for alt in (m.group(2) + m.group(3)).split("|")]
    return [inner]


def variants(line: str) -> list[list[str]]:
    """argv lists for a README line: every optional group left out, then each alternative alone."""
    parts = _groups(line)
    opts = [i for i, p in enumerate(parts) if isinstance(p, list)]
    choices = [[""] * len(opts)]
    for k, i in enumerate(opts):
        for alt in parts[i][1:]:
            c = [""] * len(opts)
            c[k] = alt
            choices.append(c)
    if len(opts) > 1:
        choices.append([parts[i][1] for i in opts])  # every group, first alternative
    out = []
    for c in choices:
        it = iter(c)
        text = " ".join(p if isinstance(p, str) else next(it) for p in parts)
        argv = shlex.split(text)
        if ">" in argv:
            argv = argv[:argv.index(">")]
        argv = ["2" if a == "N" else a for a in argv if a != "..."]
        while argv and re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", argv[0]):
            argv.pop(0)  # leading environment assignments
        if argv not in out:
            out.append(argv)
    return out


def _readme_lines(program: str) -> list[str]:
    lines = [ln for ln in code_block_commands(README.read_text()) if re.match(
        rf"([A-Z_][A-Z0-9_]*=\S*\s+)*{program}\s", ln)]
    assert lines, f"README.md shows no {program} line"
    return lines


def _parse(argv: list[str]):
    from supernetbench.cli import build_parser

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            return build_parser().parse_args(argv)
        except SystemExit as e:
            pytest.fail(f"`supernetbench {shlex.join(argv)}` does not parse (exit {e.code}): {err.getvalue().strip()}")


def _check_names(args, argv: list[str]) -> None:
    """The names a line passes exist: methods, selectors, profile, profile fields, method options."""
    from supernetbench.algorithms import ALGORITHMS
    from supernetbench.harness.profiles import Profile, get_profile, parse_overrides
    from supernetbench.selectors import SELECTORS

    shown = shlex.join(argv)
    algos = ([args.algo] if getattr(args, "algo", None) else []) + list(getattr(args, "algos", None) or [])
    if "--plugin" in argv or argv[:1] == ["gate"]:  # a user's own method (a plugin), not a built-in name
        algos = []
    for a in algos:
        assert a in ALGORITHMS.names(), f"`supernetbench {shown}`: unknown method {a!r}"
    for name in ("selectors", "selector", "measure"):
        v = getattr(args, name, None)
        for s in ([v] if isinstance(v, str) else v or []):
            assert s in SELECTORS.names(), f"`supernetbench {shown}`: unknown selector {s!r}"
    if getattr(args, "profile", None) or getattr(args, "set", None):
        get_profile(getattr(args, "profile", None) or "smoke", parse_overrides(getattr(args, "set", None), Profile))
    if getattr(args, "opt", None):
        fields = {f.name for f in dataclasses.fields(ALGORITHMS.get(args.algo).Config)}
        bad = set(parse_overrides(args.opt)) - fields
        assert not bad, f"`supernetbench {shown}`: {args.algo} has no option(s) {sorted(bad)}"


@pytest.mark.parametrize("line", _readme_lines("supernetbench"))
def test_supernetbench_line_parses(line):
    for argv in variants(line):
        assert argv[0] == "supernetbench"
        _check_names(_parse(argv[1:]), argv[1:])


@pytest.mark.parametrize("line", [ln for ln in _readme_lines("supernetbench") if ln.split()[1] in CHEAP])
def test_cheap_supernetbench_line_runs(line, capsys):
    from supernetbench.cli import main

    argv = variants(line)[0]
    assert main(argv[1:]) == 0, f"`{shlex.join(argv)}` failed: {capsys.readouterr().err.strip()}"


_COLLECT = """
import json, sys, pytest
class Count:
    n = 0
    def pytest_collection_finish(self, session):
        Count.n = len(session.items)
out = []
for argv in json.loads(sys.argv[1]):
    Count.n = 0
    rc = pytest.main([*argv, "--collect-only", "-q", "-p", "no:cacheprovider", "-n", "0"], plugins=[Count()])
    out.append([int(rc), Count.n])
print("COLLECTED " + json.dumps(out))
"""


@pytest.fixture(scope="module")
def collected() -> dict[str, tuple[int, int]]:
    """(exit status, tests selected) of ``pytest --collect-only`` per README pytest line, in one process."""
    lines = _readme_lines("pytest")
    argvs = [variants(ln)[0][1:] for ln in lines]
    r = subprocess.run([sys.executable, "-c", _COLLECT, json.dumps(argvs)], cwd=ROOT, capture_output=True,
                       text=True, timeout=600)
    found = [ln for ln in r.stdout.splitlines() if ln.startswith("COLLECTED ")]
    assert found, f"collection failed: {(r.stdout + r.stderr)[-2000:]}"
    return {ln: tuple(v) for ln, v in zip(lines, json.loads(found[-1][len("COLLECTED "):]))}


@pytest.mark.parametrize("line", _readme_lines("pytest"))
def test_pytest_line_selects_tests(line, collected):
    assert variants(line)[0][0] == "pytest"
    rc, n = collected[line]
    assert rc == 0 and n >= 1, f"`{line}` selects no test or does not parse (pytest exit {rc}, {n} selected)"


def test_the_extraction_rules():
    text = ("x\n```bash\nsupernetbench a --b 'c # d' \\\n    [--e f|g] [--h N ...]   # note\n"
            "   # continued comment\nFOO=1 pytest suites -k \"[x-y]\" > out.txt\n```\nsupernetbench no\n")
    lines = code_block_commands(text)
    assert lines == ["supernetbench a --b 'c # d' [--e f|g] [--h N ...]", 'FOO=1 pytest suites -k "[x-y]" > out.txt']
    assert variants(lines[0]) == [["supernetbench", "a", "--b", "c # d"],
                                  ["supernetbench", "a", "--b", "c # d", "--e", "f"],
                                  ["supernetbench", "a", "--b", "c # d", "--e", "g"],
                                  ["supernetbench", "a", "--b", "c # d", "--h", "2"],
                                  ["supernetbench", "a", "--b", "c # d", "--e", "f", "--h", "2"]]
    assert variants(lines[1]) == [["pytest", "suites", "-k", "[x-y]"]]
    assert variants("supernetbench m --arch '|a~0|+|b~1|'") == [["supernetbench", "m", "--arch", "|a~0|+|b~1|"]]


@pytest.mark.parametrize("argv", [["score", "--algo", "darts", "--engine", "warp"], ["train", "--algo", "dartz"],
                                  ["train", "--algo", "darts", "--set", "epochz=3"], ["list", "--nosuchflag"],
                                  ["train", "--algo", "drnas", "--opt", "reg_typo=kl"]])
def test_a_wrong_line_fails_the_check(argv):
    with pytest.raises((pytest.fail.Exception, AssertionError, ValueError)):
        _check_names(_parse(argv), argv)
