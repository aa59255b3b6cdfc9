"""Predict with a saved MLP using NumPy alone: ``trainwell predict`` without PyTorch.

A command that predicts 100 rows spent most of its time importing PyTorch (about 1 s) and
scikit-learn (0.6 s) before doing 0.2 s of work (bench/startup.md). Inference of a trained
MLP is a few matrix products, batch norm with its running statistics, and an element-wise
activation: NumPy does it in float64, the precision the estimators predict in on the CPU,
so the labels and probabilities are those of ``load(path).predict`` (tests/test_predictor.py
compares them on every activation, with and without batch norm, for both estimators).

Written by hand because no installed library runs a PyTorch ``state_dict`` without PyTorch
(ONNX Runtime would, but it is an optional extra and needs an exported graph). Anything the
NumPy forward does not cover (CNNs, the hierarchical softmax head) returns ``None`` from
:meth:`NumpyPredictor.from_folder`, and the caller loads the estimator instead.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd

from .data import FeatureTransform, TargetScaler, classes_from_json
from .data.columns import align_columns
from .exceptions import DataError, ModelFileError
from .model_folder import WEIGHTS, find_model_folder, read_description

__all__ = ["NumpyPredictor"]

#: Activations the NumPy forward knows (every one trainwell builds).
_ACTIVATIONS = ("relu", "tanh", "sigmoid", "leaky_relu", "prelu")
#: Batch norm's epsilon, as ``torch.nn.BatchNorm1d`` builds it.
_BN_EPS = 1e-5
#: Rows per forward pass, as the estimators batch inference.
_BATCH = 4096


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # no overflow warning for large negative x


def _activate(x: np.ndarray, name: str, param: float | None, prelu: np.ndarray | None) -> np.ndarray:
    if name == "relu":
        return np.maximum(x, 0.0)
    if name == "tanh":
        return np.tanh(x)
    if name == "sigmoid":
        return _sigmoid(x)
    slope = prelu if name == "prelu" else param
    return np.where(x >= 0.0, x, x * slope)


class _Weights:
    """The state dict, read in the order the network was built; it checks every tensor was used."""

    def __init__(self, tensors: dict[str, np.ndarray]) -> None:
        self.tensors = {k: v.astype(np.float64) for k, v in tensors.items() if not k.endswith("num_batches_tracked")}
        self.used: set[str] = set()

    def get(self, name: str, required: bool = True) -> np.ndarray | None:
        if name not in self.tensors:
            if required:
                raise KeyError(name)
            return None
        self.used.add(name)
        return self.tensors[name]


class _Mlp:
    """The forward pass of :func:`trainwell.nn.build_network`'s MLP, block by block in its order:
    linear -> [batch norm] -> activation -> [dropout, a no-op at inference]; then the linear head."""

    def __init__(self, spec: dict[str, Any], weights: _Weights) -> None:
        self.activation = spec["activation"]
        self.param = spec.get("activation_param")
        self.output_activation = spec.get("output_activation")
        self.blocks: list[tuple[np.ndarray, np.ndarray | None, tuple[np.ndarray, ...] | None, np.ndarray | None]] = []
        index = 0
        for _size in spec["hidden"]:
            linear = (weights.get(f"features.{index}.weight"), weights.get(f"features.{index}.bias", required=False))
            index += 1
            norm = None
            if spec["batchnorm"]:
                norm = tuple(weights.get(f"features.{index}.{part}")
                             for part in ("weight", "bias", "running_mean", "running_var"))
                index += 1
            prelu = weights.get(f"features.{index}.weight") if self.activation == "prelu" else None
            index += 1 + (spec["dropout"] > 0)
            self.blocks.append((linear[0], linear[1], norm, prelu))
        self.head = (weights.get("head.weight"), weights.get("head.bias"))
        if weights.used != set(weights.tensors):
            raise KeyError(sorted(set(weights.tensors) - weights.used)[0])

    def __call__(self, x: np.ndarray) -> np.ndarray:
        for weight, bias, norm, prelu in self.blocks:
            x = x @ weight.T
            if bias is not None:
                x = x + bias
            if norm is not None:
                gamma, beta, mean, var = norm
                x = (x - mean) / np.sqrt(var + _BN_EPS) * gamma + beta
            x = _activate(x, self.activation, self.param, prelu)
        x = x @ self.head[0].T + self.head[1]
        if self.output_activation == "sigmoid":
            return _sigmoid(x)
        if self.output_activation == "tanh":
            return np.tanh(x)
        return x


class NumpyPredictor:
    """A saved MLP classifier or regressor that predicts with NumPy, without PyTorch.

    It has the prediction side of a fitted estimator: ``predict``, ``predict_proba`` (for a
    classifier), ``classes_``, ``transform_``, ``n_features_in_`` and ``feature_names_in_``.
    Build it with :meth:`from_folder`.
    """

    def __init__(self, desc: dict[str, Any], net: _Mlp) -> None:
        self.estimator = desc["estimator"]
        self.transform_ = FeatureTransform.from_dict(desc["features"])
        self.n_features_in_ = int(desc["n_features_in"])
        if desc.get("feature_names_in") is not None:
            self.feature_names_in_ = np.asarray(desc["feature_names_in"], dtype=object)
        if "classes" in desc:
            self.classes_ = classes_from_json(desc["classes"])
        else:
            self.target_scaler_ = TargetScaler.from_dict(desc["target_scaler"])
            self.y_ndim_ = int(desc["y_ndim"])
        self._net = net

    @classmethod
    def from_folder(cls, path: str | os.PathLike) -> NumpyPredictor | None:
        """The predictor of a model (or run) folder, or ``None`` when its network needs PyTorch.

        Raises
        ------
        ModelFileError
            When the folder is missing, incomplete or damaged (as :func:`trainwell.load` says).
        """
        folder = find_model_folder(path)
        desc = read_description(folder)
        spec = desc.get("spec") or {}
        if (spec.get("kind") != "mlp" or spec.get("head") != "linear" or spec.get("activation") not in _ACTIVATIONS
                or desc.get("loss") == "hierarchical_softmax"):
            return None
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        try:
            tensors = load_file(str(folder / WEIGHTS))
        except (SafetensorError, OSError, ValueError) as exc:
            raise ModelFileError(
                f"{folder / WEIGHTS} is not a valid safetensors file ({str(exc).splitlines()[0]}); "
                "it is truncated or damaged."
            ) from None
        try:
            return cls(desc, _Mlp(spec, _Weights(tensors)))
        except (KeyError, TypeError, ValueError):
            return None  # not the layout this forward knows: let PyTorch load it, with its own checks

    def _scores(self, X: Any) -> np.ndarray:
        if not isinstance(X, (pd.DataFrame, np.ndarray)):
            X = np.asarray(X)
        names = getattr(self, "feature_names_in_", None)
        if names is not None and isinstance(X, pd.DataFrame):
            X = align_columns(X, names)
        elif isinstance(X, np.ndarray) and X.ndim == 2 and X.shape[1] != self.n_features_in_:
            raise DataError(f"X has {X.shape[1]} features, but {self.estimator} is expecting "
                            f"{self.n_features_in_} features as input.")
        Xt = self.transform_.transform(X)
        return np.concatenate([self._net(Xt[s:s + _BATCH].astype(np.float64)) for s in range(0, len(Xt), _BATCH)])

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, columns in the order of ``classes_`` (softmax of the scores)."""
        scores = self._scores(X)
        scores = np.exp(scores - scores.max(axis=1, keepdims=True))
        return scores / scores.sum(axis=1, keepdims=True)

    def predict(self, X: Any) -> np.ndarray:
        """Labels (classifier) or targets in the units of the training ``y`` (regressor)."""
        scores = self._scores(X)
        if hasattr(self, "classes_"):
            return self.classes_[scores.argmax(axis=1)]
        y = self.target_scaler_.inverse_transform(scores).astype(np.float64)
        return y.ravel() if self.y_ndim_ == 1 else y
