"""Read a run folder into one :class:`RunRecord`: everything a report draws, nothing live.

A run folder (``trainwell fit``, or :func:`trainwell.report.save_run`) holds ``model/``
(``model.json``: spec, params, feature layout, classes, history rows of scalars;
``weights.safetensors``), ``config.json``, ``metrics.json``, ``history.csv`` and, when the
fit saved them, ``diagnostics.json`` and ``evaluation.json`` (:mod:`.inputs`). Every file
but the model description is optional: the report says what is missing.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..exceptions import DataError
from .inputs import DIAGNOSTICS, EVALUATION


@dataclass
class RunRecord:
    """The contents of one run folder.

    Attributes
    ----------
    path : Path
    config, metrics, model, diagnostics, evaluation : dict
        The JSON files (``{}`` where a file is absent).
    history : list of dict
        One row of scalars per epoch.
    first_layer : ndarray or None
        The first weight layer's final weights: ``(units, features)`` or
        ``(filters, channels, *kernel)``.
    """

    path: Path
    config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)
    diagnostics: dict[str, Any] = field(default_factory=dict)
    evaluation: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    first_layer: np.ndarray | None = None

    # -------------------------------------------------------------- derived facts
    @property
    def classification(self) -> bool:
        task = self.config.get("task")
        if task:
            return task == "classification"
        return "classes" in self.model

    @property
    def metric(self) -> str:
        return "accuracy" if self.classification else "r2"

    @property
    def spec(self) -> dict[str, Any]:
        return self.model.get("spec") or self.config.get("spec") or {}

    @property
    def training(self) -> dict[str, Any]:
        return self.model.get("training", {})

    @property
    def best_epoch(self) -> int | None:
        best = self.metrics.get("best_epoch", self.training.get("best_epoch"))
        return int(best) if best is not None else None

    @property
    def layers(self) -> dict[str, Any]:
        return self.diagnostics.get("layers", {}) or {}

    @property
    def findings(self) -> list[dict[str, Any]]:
        return self.diagnostics.get("findings", []) or []

    @property
    def class_names(self) -> list[str]:
        """Class labels as text (empty for a regressor)."""
        classes = self.model.get("classes")
        if isinstance(classes, dict):
            return [str(v) for v in classes.get("values", [])]
        return [str(v) for v in self.diagnostics.get("data", {}).get("classes") or []]

    @property
    def test_metrics(self) -> dict[str, Any]:
        return self.metrics or self.evaluation.get("metrics", {})

    @property
    def resolved(self) -> dict[str, Any]:
        """What each ``"auto"`` parameter became in this fit, by parameter name.

        ``config.json``'s ``resolved`` block where the fit wrote one; otherwise (older run
        folders) what the network spec, the feature layout and the diagnostics tell.
        """
        spec, run = self.spec, self.diagnostics.get("run", {})
        n_train, n_val = self.config.get("n_train"), self.config.get("n_val")
        conv = spec.get("conv")
        out: dict[str, Any] = {
            "kind": spec.get("kind"), "hidden": spec.get("hidden"), "dropout": spec.get("dropout"),
            "init": spec.get("init"),
            "conv": [b.get("channels") if isinstance(b, dict) else b for b in conv] if isinstance(conv, list) else None,
            "loss": run.get("loss") or self.model.get("loss"),
            "batch_size": (run.get("step_time") or {}).get("batch_size"),
            "device": self.diagnostics.get("environment", {}).get("device"),
            "scaling": self.model.get("features", {}).get("scaling"),
            "augment": self.config.get("augmentation"),
            "validation_fraction": round(n_val / (n_train + n_val), 4)
            if isinstance(n_train, int) and isinstance(n_val, int) and n_train + n_val else None,
        }
        out.update(self.config.get("resolved") or {})
        return {k: v for k, v in out.items() if v is not None}

    def column(self, key: str) -> list[float]:
        """One history column, ``nan`` where an epoch lacks it."""
        return [_number(row.get(key)) for row in self.history]

    def has(self, key: str) -> bool:
        return any(math.isfinite(v) for v in self.column(key))

    @property
    def epochs(self) -> list[int]:
        return [int(row.get("epoch", i + 1)) for i, row in enumerate(self.history)]

    def encoded_feature_names(self) -> list[str]:
        """Names of the network's input columns (one-hot columns as ``column=value``)."""
        features = self.model.get("features", {})
        columns, categories = features.get("columns"), features.get("categories", {}) or {}
        if columns:
            names: list[str] = []
            for col in columns:
                names += [f"{col}={c}" for c in categories[col]] if col in categories else [col]
            return names
        width = int(np.prod(features.get("sample_shape") or [self.model.get("n_features_in", 0)]))
        return [f"x{i}" for i in range(width)]


def _number(value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return math.nan


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path} is not valid JSON ({exc}); the run folder is damaged, rerun the fit.") from None
    if not isinstance(data, dict):
        raise DataError(f"{path} does not hold a JSON object; the run folder is damaged, rerun the fit.")
    return data


def _history_from_csv(path: Path) -> list[dict[str, Any]]:
    import pandas as pd

    frame = pd.read_csv(path)
    return [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
            for row in frame.to_dict(orient="records")]


def _first_weight_key(shapes: dict[str, list[int]]) -> str | None:
    """The state-dict key of the first weight matrix or kernel, in forward order."""
    def order(key: str) -> tuple[int, int]:
        m = re.match(r"features\.(\d+)\.", key)
        return (0, int(m.group(1))) if m else (1, 0)

    candidates = [k for k, s in shapes.items() if k.endswith("weight") and len(s) >= 2]
    return min(candidates, key=order) if candidates else None


def read_first_layer(model_dir: Path) -> np.ndarray | None:
    """The first weight layer's weights from ``weights.safetensors`` (only that tensor is read)."""
    from safetensors import SafetensorError, safe_open

    path = model_dir / "weights.safetensors"
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="numpy") as fh:
            shapes = {k: list(fh.get_slice(k).get_shape()) for k in fh.keys()}  # noqa: SIM118 (not a dict)
            key = _first_weight_key(shapes)
            return None if key is None else np.asarray(fh.get_tensor(key), dtype=np.float32)
    except (SafetensorError, OSError, ValueError, TypeError) as exc:
        raise DataError(f"{path} cannot be read ({str(exc).splitlines()[0]}); the model file is damaged.") from None


def load_run(run_dir: str | Path) -> RunRecord:
    """Read a run folder.

    Parameters
    ----------
    run_dir : str or Path
        A folder written by ``trainwell fit`` or :func:`trainwell.report.save_run`.

    Returns
    -------
    RunRecord

    Raises
    ------
    DataError
        When the folder does not exist or is not a run folder.
    """
    path = Path(run_dir)
    if not path.is_dir():
        raise DataError(f"{path} is not a folder; give a run folder written by 'trainwell fit'.")
    model_dir = path / "model"
    if not (model_dir / "model.json").is_file():
        raise DataError(f"{path} has no model/model.json; give a run folder written by 'trainwell fit'.")
    record = RunRecord(
        path=path,
        config=_read_json(path / "config.json"),
        metrics=_read_json(path / "metrics.json"),
        model=_read_json(model_dir / "model.json"),
        diagnostics=_read_json(path / DIAGNOSTICS),
        evaluation=_read_json(path / EVALUATION),
    )
    history = record.model.get("history")
    if not history and (path / "history.csv").is_file():
        history = _history_from_csv(path / "history.csv")
    record.history = list(history or [])
    record.first_layer = read_first_layer(model_dir)
    return record
