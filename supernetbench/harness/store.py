"""Atomic file writes, safe reads and checksummed caches, so long work never loses finished results
and no file the harness reads can run code or be trusted when it has been altered.

* Writers (:func:`atomic_write_bytes` and friends) write a temp file beside the target and
  ``os.replace`` it; the result gets the usual mode under the user's umask (e.g. 0644), so a shared
  runs directory stays readable to colleagues. A failed write raises ``OSError`` naming the target.
* Readers (:func:`read_json`, :func:`read_npy`, :func:`load_weights`) never unpickle arbitrary
  objects (``torch.load(weights_only=True)``, ``allow_pickle=False``) and raise
  :class:`CorruptFileError` with one line naming the file.
* Cache entries (:func:`save_cached_arrays` / :func:`load_cached_arrays`, :func:`cached_npy`) carry
  a sha256 of their arrays, written with them and verified on read; a bad entry is reported in one
  line, deleted and recomputed. A cache that cannot be written is reported and skipped.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import secrets
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np


class CorruptFileError(ValueError):
    """A file exists but cannot be read as what it should be; the message names it."""


def one_line(text: str, limit: int = 200) -> str:
    """``text`` on one line (newlines joined with '; '), cut to ``limit`` characters with a marker."""
    s = "; ".join(part.strip() for part in str(text).splitlines() if part.strip())
    return s if len(s) <= limit else f"{s[:limit]}… ({len(s):,} characters)"


def warn(message: str) -> None:
    """One ``warning:`` line on stderr (for problems the harness recovers from)."""
    print(f"warning: {one_line(message, 400)}", file=sys.stderr)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temp file in the same directory and ``os.replace``.

    The file gets mode 0666 minus the umask, like ``open(path, "w")``. An ``OSError`` (disk full,
    read-only or missing directory) carries ``path`` as its filename; the old file is untouched.
    """
    path = Path(path)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    except OSError as e:
        if e.errno is not None:
            e.filename = str(path)  # the target, not the temp name (disk full: no name at all)
        raise
    return path


#: the temp files of :func:`atomic_write_bytes`: ``.<target name>.<8 hex>.tmp``
TEMP_FILE = re.compile(r"^\..+\.[0-9a-f]{8}\.tmp$")


def sweep_orphan_temps(root: str | os.PathLike, min_age_s: float = 3600.0) -> list[Path]:
    """Delete the temp files under ``root`` that a killed writer left (SIGKILL between write and
    rename), returning them. Only names of :data:`TEMP_FILE` untouched for ``min_age_s`` go: a
    write in flight (seconds; the largest is a checkpoint) is never one of them. Never read, they
    would only take disk space."""
    root, now, gone = Path(root), time.time(), []
    if not root.is_dir():
        return gone
    for f in root.rglob(".*.tmp"):
        try:
            if TEMP_FILE.match(f.name) and f.is_file() and now - f.stat().st_mtime >= min_age_s:
                f.unlink()
                gone.append(f)
        except OSError:  # gone meanwhile, or not ours to delete: leave it
            continue
    return gone


#: the store's own subdirectories (``cache_dir()`` or a study's ``--store``): the only ones swept
STORE_SUBDIRS = ("scores", "proxies", "arrays", "decoded", "nb201", "standin", "studies", "reliance", "data",
                 "oracle")
#: a Stage-1 run directory, ``<algo>-<dataset>-s<seed>-<profile>-<16 hex>`` (``engine.run_dir_for``)
RUN_DIR_NAME = re.compile(r"^[\w.+-]+-s\d+-[\w.+-]+-[0-9a-f]{16}$")


def harness_dirs(store: str | os.PathLike, runs_root: str | os.PathLike) -> list[Path]:
    """The directories the harness owns under ``store`` and ``runs_root``: the store's
    :data:`STORE_SUBDIRS` and the run directories (:data:`RUN_DIR_NAME`) directly under ``runs_root``
    - never the roots themselves, which may be a user's directory (``runs_root = "/home/me"``)."""
    store, runs_root = Path(store), Path(runs_root)
    dirs = [store / d for d in STORE_SUBDIRS if (store / d).is_dir()]
    try:
        dirs += sorted(d for d in runs_root.iterdir() if RUN_DIR_NAME.match(d.name) and d.is_dir())
    except OSError:  # absent or unreadable runs root: nothing of ours there
        pass
    return dirs


def sweep_harness_temps(store: str | os.PathLike, runs_root: str | os.PathLike,
                        min_age_s: float = 3600.0) -> list[Path]:
    """:func:`sweep_orphan_temps` over :func:`harness_dirs` only: a user's file elsewhere under the
    store or runs root that happens to look like a temp file is never touched."""
    return [f for d in harness_dirs(store, runs_root) for f in sweep_orphan_temps(d, min_age_s)]


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def atomic_save_npy(path: str | os.PathLike, arr: np.ndarray) -> Path:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return atomic_write_bytes(path, buf.getvalue())


def atomic_torch_save(path: str | os.PathLike, obj: Any) -> Path:
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    return atomic_write_bytes(path, buf.getvalue())


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def content_hash(*parts: Any) -> str:
    """sha256 (first 16 hex chars) of a canonical JSON/bytes rendering of ``parts``."""
    h = hashlib.sha256()
    for p in parts:
        if isinstance(p, (bytes, bytearray)):
            h.update(bytes(p))
        elif isinstance(p, np.ndarray):
            h.update(str(p.dtype).encode() + str(p.shape).encode())
            h.update(np.ascontiguousarray(p).tobytes())
        else:
            h.update(json.dumps(p, sort_keys=True, default=_json_default).encode())
        h.update(b"\x00")
    return h.hexdigest()[:16]


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def shared_data_dirs() -> list[Path]:
    """``shared/data`` folders above the working directory and above this package, nearest first
    (the project checkout has ``../shared`` beside it)."""
    found: list[Path] = []
    for start in (Path.cwd(), Path(__file__).resolve().parent):
        for d in (start, *start.parents):
            cand = d / "shared" / "data"
            if cand.is_dir() and cand.resolve() not in [f.resolve() for f in found]:
                found.append(cand)
    return found


def cache_dir() -> Path:
    """Root of the local cache: ``$SUPERNETBENCH_CACHE`` or ``~/.cache/supernetbench``."""
    root = os.environ.get("SUPERNETBENCH_CACHE") or Path.home() / ".cache" / "supernetbench"
    return Path(root)


# ------------------------------------------------------------------------------------ safe reads
def read_json(path: str | os.PathLike) -> Any:
    """Parse a JSON file; :class:`CorruptFileError` naming it when it is not valid JSON."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CorruptFileError(f"{path} is not valid JSON ({one_line(e, 80)})") from None


def read_npy(path: str | os.PathLike) -> np.ndarray:
    """Load one ``.npy`` array without pickles; :class:`CorruptFileError` naming the file otherwise."""
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, EOFError, OSError) as e:
        if isinstance(e, OSError) and e.errno is not None:
            raise
        raise CorruptFileError(f"{path} is not a readable .npy array ({one_line(e, 80)})") from None
    if not isinstance(arr, np.ndarray):  # an .npz archive
        arr.close()
        raise CorruptFileError(f"{path} is an .npz archive, not one .npy array")
    return arr


def load_weights(path: str | os.PathLike, required: Iterable[str] = ()) -> dict[str, Any]:
    """``torch.load(path, weights_only=True)``: tensors and plain containers only, never code.

    Raises :class:`CorruptFileError` naming the file when it is unreadable, holds anything else
    (e.g. a pickle payload) or is not a dict with the ``required`` keys.
    """
    import pickle
    import warnings

    import torch

    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols on its way to refusing
            warnings.simplefilter("ignore")
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, TypeError, AttributeError, ImportError) as e:
        m = re.search(r"(unsupported [^\n]*)", str(e), re.IGNORECASE)
        why = one_line(m.group(1).rstrip(".") if m else (str(e).split(". ")[0] or "empty or truncated"), 100)
        if isinstance(e, pickle.UnpicklingError):
            why += "; refused: a checkpoint may hold only tensors and plain containers, anything else could run code"
        raise CorruptFileError(f"{path} is not a readable checkpoint ({why})") from None
    missing = [k for k in required if not isinstance(obj, dict) or k not in obj]
    if not isinstance(obj, dict) or missing:
        what = f"lacks {', '.join(missing)}" if isinstance(obj, dict) else f"holds a {type(obj).__name__}, not a dict"
        raise CorruptFileError(f"{path} {what}")
    return obj


# ---------------------------------------------------------------------------------- checked caches
_CHECKSUM_KEY = "__sha256__"
_UNWRITABLE: set[str] = set()


def arrays_sha256(arrays: dict[str, np.ndarray]) -> str:
    """sha256 over the names, dtypes, shapes and bytes of ``arrays`` (in name order)."""
    h = hashlib.sha256()
    for k in sorted(arrays):
        a = np.ascontiguousarray(arrays[k])
        h.update(f"{k}\x00{a.dtype.str}\x00{a.shape}\x00".encode())
        h.update(a.reshape(-1).view(np.uint8))
    return h.hexdigest()


def save_cached_arrays(path: str | os.PathLike, **arrays: np.ndarray) -> bool:
    """Write a cache entry: an ``.npz`` of ``arrays`` plus the sha256 of their contents.

    Caches are an optimisation: when the entry cannot be written (read-only or full disk) this
    warns once per file and returns False instead of failing the run that computed it.
    """
    path = Path(path)
    buf = io.BytesIO()
    np.savez(buf, **arrays, **{_CHECKSUM_KEY: np.array(arrays_sha256(arrays))})
    try:
        atomic_write_bytes(path, buf.getvalue())
    except OSError as e:
        if str(path) not in _UNWRITABLE:
            _UNWRITABLE.add(str(path))
            warn(f"cannot write cache entry {path} ({e.strerror or e}); continuing without it "
                 "(point $SUPERNETBENCH_CACHE at a writable directory to keep it)")
        return False
    return True


def load_cached_arrays(path: str | os.PathLike, keys: Iterable[str] | None = None) -> dict[str, np.ndarray] | None:
    """The arrays of a cache entry whose checksum verifies, or None (absent, or bad: then it is
    reported in one line and deleted, so the caller recomputes it)."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files if k != _CHECKSUM_KEY}
            stored = str(z[_CHECKSUM_KEY]) if _CHECKSUM_KEY in z.files else None
        problem = ("it has no checksum" if stored is None
                   else "its checksum does not match its contents" if stored != arrays_sha256(arrays)
                   else f"it lacks {sorted(set(keys) - set(arrays))}" if keys and set(keys) - set(arrays)
                   else None)
    except Exception as e:  # noqa: BLE001 - truncated zip, bad header, ...: any unreadable entry is recomputed
        problem = f"it is unreadable ({one_line(e, 80)})"
    if problem is None:
        return arrays
    warn(f"cache entry {path} is invalid: {problem}; deleted, recomputing")
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass
    return None


def cached_npy(key: str, compute: Callable[[], np.ndarray], subdir: str = "arrays") -> np.ndarray:
    """Return the array cached under ``key``; compute and store it (checksummed) when absent or bad."""
    path = cache_dir() / subdir / f"{key}.npz"
    entry = load_cached_arrays(path, ["value"])
    if entry is not None:
        return entry["value"]
    arr = compute()
    save_cached_arrays(path, value=arr)
    return arr
