"""Writing outputs without losing anything, once for every command that writes.

* ``atomic_write`` / ``atomic_writer``: a file appears complete or not at all (temporary file beside
  it, then ``os.replace``); the temporary file is removed on every exit path that Python sees.
* ``output_dir``: a command builds its output folder as ``.NAME.partial-PID`` beside it and swaps it
  into place only when complete, with a marker file naming the command. ``--overwrite`` replaces
  only a folder that carries that command's marker (never a folder it did not write, never one that
  holds one of its inputs); partial folders left by a killed run (their PID is gone) are removed by
  the next run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

MARKER = ".evodrive-output.json"


class OutputRefused(ValueError):
    """Writing there would overwrite an input or something this command did not create."""


@contextlib.contextmanager
def atomic_writer(path: str | Path) -> Iterator[IO[bytes]]:
    """A binary file handle whose content replaces ``path`` only when the block ends without error."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write(path: str | Path, data: bytes | str) -> None:
    with atomic_writer(path) as handle:
        handle.write(data.encode() if isinstance(data, str) else data)


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def finite_json(obj: Any) -> Any:
    """``obj`` with every non-finite float (NaN, ±inf) replaced by None: JSON has no NaN, and a
    reader of a metrics file must see "no value", not a number that is not one."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {key: finite_json(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_json(value) for value in obj]
    return obj


def write_json(path: str | Path, obj: Any, indent: int = 1) -> None:
    """``obj`` as strict JSON (non-finite numbers as null), written atomically."""
    atomic_write(path, json.dumps(finite_json(obj), indent=indent, allow_nan=False) + "\n")


def mark_output_dir(folder: str | Path, tool: str) -> None:
    """Mark ``folder`` as ``tool``'s output (``output_dir`` does this itself; for tools whose writer
    must create the folder, such as a bag writer)."""
    atomic_write(Path(folder) / MARKER, json.dumps({"tool": tool}) + "\n")


def _marker_tool(folder: Path) -> str | None:
    try:
        return json.loads((folder / MARKER).read_text()).get("tool")
    except (OSError, ValueError, AttributeError):
        return None


def _overlaps(a: Path, b: Path) -> bool:
    return a == b or a in b.parents or b in a.parents


def check_output_file(out: str | Path, tool: str, inputs: Sequence[str | Path] = ()) -> None:
    """Raise ``OutputRefused`` when ``out`` is one of ``inputs`` or an existing file that is not a
    JSON report of ``tool`` (its ``"tool"`` key): a report never replaces data or someone's file."""
    out = Path(out)
    target = out.resolve()
    for source in inputs:
        if target == Path(source).resolve():
            raise OutputRefused(f"{out} would overwrite the input {source}")
    if target.exists():
        try:
            previous = json.loads(target.read_text())
        except (OSError, ValueError):
            previous = None
        if not isinstance(previous, dict) or previous.get("tool") != tool:
            raise OutputRefused(f"{out} exists and is not an earlier {tool} report; choose another path")


def check_output_dir(out: str | Path, tool: str, inputs: Sequence[str | Path] = (), overwrite: bool = False) -> None:
    """Raise ``OutputRefused`` unless ``out`` may be (re)written by ``tool``."""
    out = Path(out)
    target = out.resolve()
    for source in inputs:
        if _overlaps(target, Path(source).resolve()):
            raise OutputRefused(f"{out}: output folder overlaps the input {source}; choose another output")
    if out.exists():
        if not overwrite:
            raise OutputRefused(f"{out} exists; pass --overwrite to replace it")
        if _marker_tool(out) != tool:
            raise OutputRefused(f"{out} exists and was not written by {tool}; refusing to replace it (remove it yourself)")


def _remove_stale_partials(out: Path) -> None:
    for stale in out.parent.glob(f".{out.name}.partial-*"):
        pid = stale.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def output_dir(out: str | Path, tool: str, inputs: Sequence[str | Path] = (), overwrite: bool = False) -> Iterator[Path]:
    """Yield an empty folder to build ``out`` in; on success it replaces ``out`` (checked with
    ``check_output_dir``), on any error it is removed and ``out`` is left as it was."""
    out = Path(out)
    check_output_dir(out, tool, inputs, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_partials(out)
    partial = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    try:
        yield partial
        mark_output_dir(partial, tool)
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        if out.exists():
            out.rename(old)
        partial.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
