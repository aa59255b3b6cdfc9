"""Where a model folder's files are and what its ``model.json`` says, without PyTorch.

Reading the description is shared by :mod:`trainwell.persist` (which rebuilds a PyTorch
network and an estimator) and :mod:`trainwell.predictor` (which predicts with NumPy alone, so
that ``trainwell predict`` does not pay for importing PyTorch and scikit-learn). Neither
imports anything heavier than :mod:`json` from here.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ._files import recover_folder
from ._version import __version__
from .exceptions import ModelFileError

FORMAT = "trainwell-model"
FORMAT_VERSION = 1
MODEL_JSON = "model.json"
WEIGHTS = "weights.safetensors"

__all__ = ["FORMAT", "FORMAT_VERSION", "MODEL_JSON", "WEIGHTS", "find_model_folder", "read_description"]


def find_model_folder(path: str | os.PathLike) -> Path:
    """The model folder at ``path``: the folder itself, or the ``model/`` inside a run folder.

    An interrupted save (a folder left under its temporary name) is recovered first.
    """
    folder = Path(path)
    recover_folder(folder)
    if (folder / "model" / MODEL_JSON).is_file() and not (folder / MODEL_JSON).exists():
        folder = folder / "model"
    return folder


def read_description(folder: Path) -> dict[str, Any]:
    """The checked ``model.json`` of a model folder.

    Raises
    ------
    ModelFileError
        When the folder or one of its files is missing, the JSON is damaged, or it was
        written in another format version.
    """
    if not folder.exists():
        raise ModelFileError(f"Model folder {folder} does not exist; give the folder that save() or 'trainwell fit' wrote.")
    if not folder.is_dir():
        raise ModelFileError(f"{folder} is a file, not a model folder; give the folder that holds {MODEL_JSON}.")
    for name in (MODEL_JSON, WEIGHTS):
        if not (folder / name).is_file():
            raise ModelFileError(f"{folder} has no {name}; it is not a complete trainwell model folder.")
    try:
        desc = json.loads((folder / MODEL_JSON).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{folder / MODEL_JSON} is not valid JSON ({exc}); the file is damaged.") from None
    if not isinstance(desc, dict) or desc.get("format") != FORMAT:
        raise ModelFileError(f"{folder / MODEL_JSON} is not a trainwell model description.")
    version = desc.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFileError(
            f"{folder} uses model format version {version!r}; this trainwell ({__version__}) reads version "
            f"{FORMAT_VERSION}. Install the trainwell version that wrote it."
        )
    return desc
