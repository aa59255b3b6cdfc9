"""Writing files so that a crash never leaves half of one, and turning values into JSON.

One home for what the model format (:mod:`trainwell.persist`), checkpoints
(:mod:`trainwell.train.checkpoint`), run folders (:mod:`trainwell.report.runfolder`), reports and
search results all need. It sits at the bottom of the package's layers and imports nothing
from trainwell, so ``train`` can write a checkpoint without depending on the model format.

Written by hand because neither the standard library nor a dependency offers it: a folder
is written under a temporary name, flushed and renamed (``os.replace`` is atomic for one
file, not for a folder of them), and the previous version is put back if a writer died
between moving it aside and renaming the new one into place.
"""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

from .exceptions import TrainwellError

__all__ = ["jsonable", "recover_folder", "write_atomic_folder", "write_file_atomic"]


def _default_fallback(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value))
    return str(value)


def jsonable(value: Any, *, nonfinite: Literal["null", "tagged"] = "null",
             fallback: Callable[[Any], Any] = _default_fallback) -> Any:
    """``value`` as plain JSON values: containers walked, numpy and 0-d tensor scalars unpacked.

    Parameters
    ----------
    value : Any
    nonfinite : {"null", "tagged"}, default="null"
        What NaN and ±inf become: ``None`` (readers need no special code), or
        ``{"__float__": "inf"}`` so :func:`from_tagged_json` can give the float back (a
        checkpoint must restore an early-stopping best of ``inf`` exactly).
    fallback : callable, default: a dataclass as a dict, anything else as ``str(value)``
        Applied to every value of no JSON type.

    Returns
    -------
    Any
        Made of dict, list, str, int, float, bool and None only.
    """
    import numpy as np  # here, not at the top: the command line's start-up does not pay for it

    def walk(v: Any) -> Any:
        if isinstance(v, Mapping):
            return {str(k): walk(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [walk(x) for x in v]
        if isinstance(v, np.ndarray):
            return walk(v.tolist())
        if isinstance(v, (bool, np.bool_)):
            return bool(v)
        if isinstance(v, (int, np.integer)):
            return int(v)
        if isinstance(v, (float, np.floating)):
            if math.isfinite(v):
                return float(v)
            return {"__float__": str(float(v))} if nonfinite == "tagged" else None
        if v is None or isinstance(v, str):
            return v
        if getattr(v, "ndim", None) == 0 and hasattr(v, "item"):  # a 0-d tensor, e.g. Adam's step count
            return walk(v.item())
        return fallback(v)

    return walk(value)


def from_tagged_json(value: Any) -> Any:
    """Undo ``jsonable(..., nonfinite="tagged")``: ``{"__float__": "inf"}`` becomes ``inf`` again."""
    if isinstance(value, dict):
        if set(value) == {"__float__"}:
            return float(value["__float__"])
        return {k: from_tagged_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_tagged_json(v) for v in value]
    return value


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_file_atomic(path: str | os.PathLike, data: bytes | str) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename (never half-written).

    Text is written as UTF-8. The file gets the permissions of a file created the usual way
    (``mkstemp`` alone would make it private; reports are for sharing).
    """
    path = Path(path)
    if isinstance(data, str):
        data = data.encode("utf-8")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_atomic_folder(path: str | os.PathLike, files: dict[str, bytes | None],
                        writers: dict[str, Callable[[Path], Any]] | None = None,
                        marker: str = "model.json", replaceable: tuple[str, ...] = ()) -> Path:
    """Write a folder of files under a temporary name, then rename it to ``path``.

    Parameters
    ----------
    path : str or path-like
        The folder to write.
    files : dict of str to bytes
        File names and their contents.
    writers : dict of str to callable, optional
        File (or sub-folder) names and callables ``f(tmp_path)`` that write them.
    marker : str, default="model.json"
        An existing ``path`` is replaced only when it holds ``marker`` (a folder of the same
        kind), holds nothing but entries named in ``replaceable`` (e.g. the checkpoint of an
        interrupted run), or is empty.
    replaceable : tuple of str, default=()

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    TrainwellError
        When ``path`` is a file or a folder of other files, or cannot be written; nothing is
        left behind then.
    """
    target = Path(path)
    recover_folder(target)
    if target.exists() and not target.is_dir():
        raise TrainwellError(f"{target} exists and is a file; choose a folder path.")
    if target.is_dir() and not (target / marker).exists():
        foreign = [p.name for p in target.iterdir() if p.name not in replaceable and not p.name.startswith(".")]
        if foreign:
            raise TrainwellError(f"{target} is a folder that holds other files; choose a new or empty folder.")
    parent = target.parent if str(target.parent) else Path(".")
    stale = list(parent.glob(f".{target.name}.tmp-*")) if parent.is_dir() else []
    if target.exists():  # the current version is in place: older copies moved aside are obsolete
        stale += list(parent.glob(f".{target.name}.old-*"))
    for leftover in stale:
        shutil.rmtree(leftover, ignore_errors=True)  # left by a writer that was killed
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=parent))
    except OSError as exc:
        raise TrainwellError(f"Cannot create {target} ({exc.strerror}); check the path and permissions.") from None
    try:
        for name, data in files.items():
            with open(tmp / name, "wb") as fh:
                fh.write(data or b"")
                fh.flush()
                os.fsync(fh.fileno())
        for name, writer in (writers or {}).items():
            writer(tmp / name)
        backup = None
        if target.exists():
            backup = parent / f".{target.name}.old-{os.getpid()}"
            os.rename(target, backup)
        os.rename(tmp, target)
        if backup is not None:
            shutil.rmtree(backup, ignore_errors=True)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        recover_folder(target)
        raise TrainwellError(
            f"Could not write {target} ({exc.strerror}); nothing was written. Free some space or pick another folder."
        ) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        recover_folder(target)
        raise
    return target


def recover_folder(target: str | os.PathLike) -> None:
    """Put back the previous version of ``target`` if a writer died between moving it
    aside and renaming the new one into place (the only moment a folder is missing)."""
    target = Path(target)
    if target.exists():
        return
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        return
    backups = sorted(parent.glob(f".{target.name}.old-*"), key=lambda p: p.stat().st_mtime)
    if backups:
        os.rename(backups[-1], target)
