"""Model folders: ``weights.safetensors`` (tensors only) + ``model.json`` (everything else).

Loading never unpickles: safetensors holds raw tensors with a JSON header, and
``model.json`` is plain JSON. Every file is checked against the others (version, tensor
names and shapes against the architecture the spec describes) and a mismatch fails with
one sentence. A folder is written under a temporary name, flushed and renamed, so a
crash never leaves a half-written model behind.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ._files import jsonable, write_atomic_folder
from ._version import __version__
from .data import FeatureTransform, TargetScaler, classes_from_json, classes_to_json
from .exceptions import ModelFileError, TrainwellError
from .fitted import FittedEstimator
from .model_folder import (
    FORMAT,
    FORMAT_VERSION,
    MODEL_JSON,
    WEIGHTS,
    find_model_folder,
    read_description,
)
from .nn import ConvBlock, NetworkSpec, build_network
from .train import History


def _param_json(value: Any) -> Any:
    """A constructor parameter as JSON: conv blocks as lists; callbacks, RandomState objects
    and other live objects are not part of a saved model (``None``)."""
    def fallback(v: Any) -> Any:
        return [v.channels, v.kernel, v.pool] if isinstance(v, ConvBlock) else None

    return jsonable(value, fallback=fallback)


def _params_from_json(params: dict[str, Any]) -> dict[str, Any]:
    out = dict(params)
    for key in ("hidden", "activation", "init"):
        if isinstance(out.get(key), list):
            out[key] = tuple(out[key])
    if isinstance(out.get("conv"), list):
        out["conv"] = tuple(tuple(b) for b in out["conv"])
    return out


def model_description(est: FittedEstimator) -> dict[str, Any]:
    """The ``model.json`` content of a fitted estimator."""
    weights = {k: list(v.shape) for k, v in est.network_.state_dict().items()}
    desc: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "trainwell_version": __version__,
        "estimator": type(est).__name__,
        "params": {k: _param_json(v) for k, v in est.get_params(deep=False).items()},
        "spec": est.spec_.to_dict(),
        "features": est.transform_.to_dict(),
        "n_features_in": int(est.n_features_in_),
        "feature_names_in": [str(c) for c in est.feature_names_in_] if hasattr(est, "feature_names_in_") else None,
        "loss": est.loss_.name,
        "tensors": weights,
        "training": {"n_iter": est.n_iter_, "best_epoch": est.best_epoch_, "stop_reason": est.stop_reason_,
                     "n_train": est.n_train_, "n_val": est.n_val_,
                     # whether (and which) sample weights were given: null for an unweighted fit
                     "sample_weight": getattr(est, "sample_weight_", None)},
        # a diverged run has a NaN loss in its history: stored as null so the model can still be saved
        "history": [{k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                     for k, v in row.items() if isinstance(v, (int, float, str)) or v is None}
                    for row in est.history_],
    }
    if hasattr(est, "classes_"):
        desc["classes"] = classes_to_json(est.classes_)
        counts = getattr(est, "class_counts_", None)
        desc["class_counts"] = None if counts is None else [int(c) for c in counts]
    if hasattr(est, "target_scaler_"):
        desc["target_scaler"] = est.target_scaler_.to_dict()
        desc["y_ndim"] = est.y_ndim_
    return desc


def save_model(est: FittedEstimator, path: str | os.PathLike) -> Path:
    """Save a fitted estimator as a model folder (see module docstring).

    Under torchrun only rank 0 writes (every rank holds the same model); the other ranks
    return the path without waiting for it.
    """
    from .train.distributed import is_main_process

    if not is_main_process():
        return Path(path)
    desc = model_description(est)
    state = {k: v.detach().cpu().contiguous() for k, v in est.network_.state_dict().items()}
    blob = json.dumps(desc, indent=1, allow_nan=False).encode()
    return write_atomic_folder(path, {MODEL_JSON: blob}, {WEIGHTS: lambda p: save_file(state, str(p))})


def _read_weights(folder: Path) -> dict[str, torch.Tensor]:
    path = folder / WEIGHTS
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ModelFileError(
            f"{path} is not a valid safetensors file ({str(exc).splitlines()[0]}); it is truncated or damaged."
        ) from None


@dataclass
class SavedModel:
    """A model folder read and checked: everything an estimator needs to be rebuilt.

    Attributes
    ----------
    estimator : str
        The estimator's class name (``"NeuralNetClassifier"``, ``"NeuralNetRegressor"``).
    params : dict
        Its constructor parameters.
    fitted : dict
        Its fitted attributes by name (``spec_``, ``transform_``, ``classes_`` or
        ``target_scaler_`` and ``y_ndim_``, ``history_``, ``n_iter_``...).
    loss : str
        The training loss's name.
    network : torch.nn.Module
        The network with its weights loaded, on the CPU.
    """

    estimator: str
    params: dict[str, Any]
    fitted: dict[str, Any]
    loss: str
    network: torch.nn.Module


def read_model(path: str | os.PathLike, estimators: Mapping[str, type]) -> SavedModel:
    """Read and check a model folder written by :func:`save_model`.

    Parameters
    ----------
    path : str or path-like
        The model folder, or a run folder holding one as ``model/``.
    estimators : mapping of str to class
        The estimator classes a model may name (given by :mod:`trainwell.estimators`, which
        this module, below it in the package's layers, does not import); a class with a true
        ``_classification`` reads class labels, otherwise a target scaling.

    Raises
    ------
    ModelFileError
        When a file is missing, damaged, from another format version, or disagrees with
        another.
    """
    folder = find_model_folder(path)
    desc = read_description(folder)
    try:
        cls = estimators[desc["estimator"]]
        spec = NetworkSpec.from_dict(desc["spec"])
        training = desc["training"]
        fitted: dict[str, Any] = {
            "spec_": spec,
            "transform_": FeatureTransform.from_dict(desc["features"]),
            "n_features_in_": int(desc["n_features_in"]),
            "history_": History(desc.get("history", [])),
            "n_iter_": training["n_iter"],
            "best_epoch_": training["best_epoch"],
            "stop_reason_": training["stop_reason"],
            "n_train_": training["n_train"],
            "n_val_": training["n_val"],
            "sample_weight_": training.get("sample_weight"),  # absent from folders written before weights
        }
        if desc.get("feature_names_in") is not None:
            fitted["feature_names_in_"] = np.asarray(desc["feature_names_in"], dtype=object)
        if cls._classification:
            fitted["classes_"] = classes_from_json(desc["classes"])
            counts = desc.get("class_counts")  # absent from models saved before it was kept
            fitted["class_counts_"] = None if counts is None else np.asarray(counts, dtype=np.int64)
        else:
            fitted["target_scaler_"] = TargetScaler.from_dict(desc["target_scaler"])
            fitted["y_ndim_"] = int(desc["y_ndim"])
        expected_shapes = {k: tuple(v) for k, v in desc["tensors"].items()}
        saved = SavedModel(desc["estimator"], _params_from_json(desc["params"]), fitted, desc["loss"],
                           build_network(spec))
    except ModelFileError:
        raise
    except (KeyError, TypeError, ValueError, TrainwellError) as exc:
        raise ModelFileError(f"{folder / MODEL_JSON} is incomplete or malformed ({exc}); the file is damaged.") from None
    _load_weights(saved.network, expected_shapes, folder)
    return saved


def _load_weights(net: torch.nn.Module, expected_shapes: dict[str, tuple[int, ...]], folder: Path) -> None:
    """Put the folder's weights into ``net``, after checking them against its architecture."""
    weights = _read_weights(folder)
    wanted = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    if wanted != expected_shapes:
        raise ModelFileError(
            f"{folder / MODEL_JSON} lists tensors that do not match the architecture its spec describes; the file is damaged."
        )
    for name, shape in wanted.items():
        if name not in weights:
            raise ModelFileError(f"{folder / WEIGHTS} lacks the tensor {name!r}; the weights do not belong to this model.")
        if tuple(weights[name].shape) != shape:
            raise ModelFileError(
                f"{folder / WEIGHTS} holds {name!r} with shape {tuple(weights[name].shape)} but the model needs "
                f"{shape}; the weights do not belong to this model."
            )
    extra = set(weights) - set(wanted)
    if extra:
        raise ModelFileError(f"{folder / WEIGHTS} holds unexpected tensors {sorted(extra)[:3]}; the weights do not belong to this model.")
    net.load_state_dict(weights)


def __getattr__(name: str) -> Any:
    # ``trainwell.persist.load`` is the old import path of ``trainwell.load``, kept working. Loading
    # builds an estimator, which lives above this module, so it is looked up on first use (the
    # one import against the layers, allowed by name in tests/test_layers.py).
    if name == "load":
        from .estimators import load

        return load
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
