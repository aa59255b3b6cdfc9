"""The run folder ``trainwell fit --out`` names: whether this fit may write, replace or continue it."""

from __future__ import annotations

from pathlib import Path

from ..exceptions import DataError

__all__ = ["CHECKPOINT", "check_out_dir"]

#: The sub-folder of ``--out`` that holds an unfinished run's checkpoint (``--resume`` reads it).
CHECKPOINT = "checkpoint"


def check_out_dir(out: str, resume: bool = False, overwrite: bool = False) -> Path:
    """The run folder ``--out`` names, refused unless this fit may write it.

    Parameters
    ----------
    out : str
        The ``--out`` path.
    resume : bool, default=False
        Continue the interrupted run whose checkpoint ``out`` holds.
    overwrite : bool, default=False
        Replace the finished (or interrupted) run ``out`` holds.

    Returns
    -------
    Path
        ``out``: new, empty, or a run folder this fit may replace or continue.

    Raises
    ------
    DataError
        ``out`` is a file or a folder of other files; holds a finished run and ``overwrite``
        is not set; holds an interrupted run and neither ``resume`` nor ``overwrite`` is set;
        or ``resume`` is set and ``out`` holds no interrupted run.
    """
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise DataError(f"--out {out} is a file; give a folder path for the run.")
    entries = {p.name for p in path.iterdir() if not p.name.startswith(".")} if path.is_dir() else set()
    finished = (path / "config.json").exists()
    interrupted = CHECKPOINT in entries
    if entries and not finished and entries != {CHECKPOINT}:
        raise DataError(f"--out {out} is a folder that holds other files; give a new folder (or an earlier run folder "
                        "to replace, with --overwrite).")
    if resume:
        if interrupted:
            return path
        if finished:
            raise DataError(f"{out} holds a finished run; there is nothing to resume (drop --resume, and pass "
                            "--overwrite to train it again).")
        raise DataError(f"--resume was given but {out} holds no interrupted run; drop --resume to start one.")
    if overwrite or not entries:
        return path
    if finished and interrupted:  # an --overwrite of this run that was interrupted
        raise DataError(f"{out} already holds a run and an interrupted one that was replacing it; add --resume to "
                        "continue that, pass --overwrite to start it over, or choose another --out.")
    if finished:
        raise DataError(f"{out} already holds a run; pass --overwrite to replace it or choose another --out.")
    raise DataError(f"{out} holds an interrupted run; add --resume to continue it, or pass --overwrite to start over.")
