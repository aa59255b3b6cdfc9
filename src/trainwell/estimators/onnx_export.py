"""ONNX export of a fitted estimator: one graph from the raw features to labels and probabilities.

The network is exported by ``torch.onnx.export`` (its ``torch.export``-based exporter, which
needs ``onnxscript``) together with what is numeric around it: the feature scaling before it
(the training statistics, folded into the graph) and, after it, the class probabilities (as
``predict_proba`` computes them) or the target scaling undone (a regressor's predictions in the
units of ``y``). What torch cannot express, because it has no string tensors, is added around
that graph with ``onnx``'s helper API: the one-hot encoding of categorical columns (the
``ai.onnx.ml`` ``OneHotEncoder``, which, as trainwell, encodes an unseen category as all zeros)
and the class labels (a ``Gather`` from the classes, so string labels stay strings).

The graph's inputs, all with a dynamic batch dimension:

- ``X``: float32, the numeric features as ``predict`` takes them, ``(batch, *sample_shape)``
  (an image array keeps its image shape); for a DataFrame, its numeric columns in training
  order (absent when every column is categorical);
- one string tensor ``(batch,)`` per categorical column, named by the column: each value as
  ``str(value)``, a missing value as ``"<missing>"``. :func:`onnx_inputs` builds them all.

Its outputs: ``label`` ``(batch,)`` and ``probabilities`` ``(batch, n_classes)`` (float32, columns
in the order of ``classes_``) for a classifier; ``predictions`` (float32, ``(batch,)`` or
``(batch, n_targets)``) for a regressor.

``onnx``, ``onnxscript`` and ``onnxruntime`` are the ``onnx`` extra: imported here, inside the
functions, never at ``import trainwell``.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from .._files import write_file_atomic
from .._version import __version__
from ..data.features import as_float_array
from ..data.piecewise import encode_torch
from ..exceptions import ConfigError, DataError

if TYPE_CHECKING:
    import onnx

__all__ = ["ML_OPSET", "OPSET", "export_onnx", "onnx_inputs", "onnx_model"]

#: The ONNX operator set of the exported graph (``ai.onnx``): ONNX Runtime 1.14 and later run it.
OPSET = 18
#: The ``ai.onnx.ml`` operator set (for the one-hot encoding of categorical columns).
ML_OPSET = 3
#: The numeric input's name.
NUMERIC_INPUT = "X"
_ENCODED = "tw_encoded"  # the network's input inside the graph, after the one-hot encoding
_LABEL_INDEX = "tw_label_index"


class _ScaledNetwork(nn.Module):
    """The network between the feature scaling and the probabilities (or the unscaled targets).

    The preparation is trainwell's (:meth:`FeatureTransform.transform`), from the encoded columns
    (numbers and one-hot, before any gap is filled): gaps filled with the training medians and
    the missing indicators appended (``missing="auto"``), the piecewise-linear bins appended
    (``numeric_encoding``), then ``(x - mean) / scale`` in float32 with the statistics broadcast
    over the sample shape (smoothly clipped for ``scaling="robust"``), then the network's input
    shape.
    """

    def __init__(self, est: Any) -> None:
        super().__init__()
        transform = est.transform_
        ndim = 1 + len(transform.sample_shape)
        if transform.per_channel:
            shape = (1, -1) + (1,) * (ndim - 2) if transform.mean.size > 1 else (1,) * ndim
        else:
            shape = (1, -1)
        self.register_buffer("mean", torch.from_numpy(transform.mean.reshape(shape).copy()))
        self.register_buffer("scale", torch.from_numpy(transform.scale.reshape(shape).copy()))
        self.fills = transform.fill is not None and ndim == 2
        if self.fills:
            self.register_buffer("fill", torch.from_numpy(np.asarray(transform.fill, np.float32).copy()))
        self.indicate = list(transform.indicate)
        self.bins = dict(transform.bins)
        self.register_buffer("clip", torch.from_numpy(~transform._binary_mask())
                             if transform.scaling == "robust" and ndim == 2 else None)
        self.input_shape = tuple(est.spec_.input_shape)
        self.net = copy.deepcopy(est.network_).float().cpu().eval()  # batch norm's running statistics, no dropout
        self.classification = bool(est._classification)
        self.log_proba = getattr(est.loss_, "name", "") == "hierarchical_softmax"  # its head gives log-probabilities
        if not self.classification:
            self.register_buffer("y_scale", torch.from_numpy(np.asarray(est.target_scaler_.scale, np.float32).copy()))
            self.register_buffer("y_offset", torch.from_numpy(np.asarray(est.target_scaler_.offset, np.float32).copy()))
            self.flat = est.y_ndim_ == 1

    def forward(self, x: torch.Tensor) -> Any:
        if self.fills:
            gaps = torch.isnan(x)
            missing = gaps[:, self.indicate].to(x.dtype)
            x = torch.where(gaps, self.fill, x)
            if self.indicate:
                x = torch.cat([x, missing], dim=1)
        if self.bins:
            x = torch.cat([x, encode_torch(x, self.bins)], dim=1)
        z = (x - self.mean) / self.scale
        if self.clip is not None:  # data/statistics.py's smooth_clip on the numeric columns
            z = torch.where(self.clip, z / torch.sqrt(1 + (z / 3) ** 2), z)
        scores = self.net(z.reshape(z.shape[0], *self.input_shape))
        if not self.classification:
            y = scores * self.y_scale + self.y_offset
            return y[:, 0] if self.flat else y
        # as predict_proba (loss.scores_to_proba, then rows summing to one) and predict (argmax of the scores)
        proba = scores.exp() if self.log_proba else torch.softmax(scores, dim=1)
        return scores.argmax(dim=1), proba / proba.sum(dim=1, keepdim=True)


def _check_can_export(est: Any) -> None:
    """Fail with one sentence when the estimator or its data cannot be exported."""
    est._check_fitted()
    categories = est.transform_.categories
    if NUMERIC_INPUT in categories:
        raise ConfigError(
            f"The categorical column {NUMERIC_INPUT!r} has the name of the graph's numeric input; rename the column "
            "and fit again to export to ONNX."
        )
    classes = getattr(est, "classes_", None)
    if classes is not None and classes.dtype.kind not in "iubfUS" and not all(isinstance(c, str) for c in classes):
        raise ConfigError("The class labels mix types; ONNX needs labels of one type (numbers, booleans or strings).")


def _import_onnx() -> Any:
    try:
        import onnx
        import onnxscript  # noqa: F401  (torch.onnx.export's exporter needs it)
    except ImportError as exc:
        raise ConfigError(
            f"Exporting to ONNX needs the packages onnx and onnxscript ({exc.name} is missing); "
            "install them with pip install 'trainwell[onnx]'."
        ) from None
    return onnx


def _export_network(est: Any) -> onnx.ModelProto:
    """The network with its scaling and probabilities (or unscaling), as exported by torch."""
    module = _ScaledNetwork(est)
    transform = est.transform_
    width = transform.sample_shape[0] - len(transform.indicate) - transform.n_bin_columns  # before fill and bins
    example = torch.zeros((2, width, *transform.sample_shape[1:]), dtype=torch.float32)
    categorical = bool(est.transform_.categories)
    outputs = [_LABEL_INDEX, "probabilities"] if module.classification else ["predictions"]
    batch = torch.export.Dim("batch")
    # The exporter reports its steps on stdout and logs and warns about its own internals (e.g.
    # that torchvision's operators are not registered): the command line's stdout holds results
    # only, so the steps go to stderr and the rest away.
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    with warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr):
        warnings.simplefilter("ignore")
        logger.setLevel(logging.ERROR)
        try:
            program = torch.onnx.export(
                module, (example,), dynamo=True, input_names=[_ENCODED if categorical else NUMERIC_INPUT],
                output_names=outputs, dynamic_shapes=({0: batch},), opset_version=OPSET, verbose=False,
            )
        finally:
            logger.setLevel(level)
    return program.model_proto


def _one_hot_nodes(est: Any) -> tuple[list[Any], list[Any], list[Any]]:
    """Nodes, inputs and constants that turn the numeric input and one string input per
    categorical column into the network's encoded input (columns in training order)."""
    from onnx import TensorProto, helper, numpy_helper

    categories = est.transform_.categories
    columns = est.transform_.columns
    n_numeric = sum(c not in categories for c in columns)
    inputs = []
    if n_numeric:
        inputs.append(helper.make_tensor_value_info(NUMERIC_INPUT, TensorProto.FLOAT, ["batch", n_numeric]))
    nodes, constants, parts = [], [], []
    j = 0  # the next numeric column of X
    for i, col in enumerate(columns):
        if col in categories:
            inputs.append(helper.make_tensor_value_info(col, TensorProto.STRING, ["batch"]))
            nodes.append(helper.make_node("OneHotEncoder", [col], [f"tw_onehot_{i}"], domain="ai.onnx.ml",
                                          cats_strings=list(categories[col]), zeros=1))
            parts.append(f"tw_onehot_{i}")
        elif parts and parts[-1].startswith("tw_numeric_"):  # the next numeric column joins the slice before
            constants[-2] = numpy_helper.from_array(np.array([j + 1], np.int64), constants[-2].name)
            j += 1
        else:
            starts = numpy_helper.from_array(np.array([j], np.int64), f"tw_start_{i}")
            ends = numpy_helper.from_array(np.array([j + 1], np.int64), f"tw_end_{i}")
            axes = numpy_helper.from_array(np.array([1], np.int64), f"tw_axes_{i}")
            constants += [starts, ends, axes]
            nodes.append(helper.make_node("Slice", [NUMERIC_INPUT, starts.name, ends.name, axes.name],
                                          [f"tw_numeric_{i}"]))
            parts.append(f"tw_numeric_{i}")
            j += 1
    # OneHotEncoder gives float32 (its output type): the concatenation is the encoded float matrix
    nodes.append(helper.make_node("Concat", parts, [_ENCODED], axis=1))
    return nodes, inputs, constants


def _label_node(est: Any) -> tuple[Any, Any, Any]:
    """The ``label`` output: the class at the network's argmax, as the classes' own type."""
    from onnx import TensorProto, helper, numpy_helper

    classes = est.classes_
    kind = classes.dtype.kind
    if kind in "iu":
        values, elem = classes.astype(np.int64), TensorProto.INT64
    elif kind == "b":
        values, elem = classes.astype(bool), TensorProto.BOOL
    elif kind == "f":
        values, elem = classes.astype(np.float64), TensorProto.DOUBLE
    else:
        values, elem = np.array([str(c) for c in classes], dtype=object), TensorProto.STRING
    table = numpy_helper.from_array(values, "tw_classes")
    node = helper.make_node("Gather", [table.name, _LABEL_INDEX], ["label"], axis=0)
    return node, table, helper.make_tensor_value_info("label", elem, ["batch"])


def onnx_model(est: Any) -> onnx.ModelProto:
    """The fitted estimator as an ONNX model (in memory); see the module's docstring for its inputs.

    Parameters
    ----------
    est : fitted NeuralNetClassifier or NeuralNetRegressor

    Returns
    -------
    onnx.ModelProto
        Checked by ``onnx.checker`` (with shape inference).
    """
    _check_can_export(est)
    onnx = _import_onnx()
    from onnx import helper

    model = _export_network(est)
    graph = model.graph
    if est.transform_.categories:
        nodes, inputs, constants = _one_hot_nodes(est)
        kept = [i for i in graph.input if i.name != _ENCODED]
        del graph.input[:]
        graph.input.extend(inputs + kept)
        old = list(graph.node)
        del graph.node[:]
        graph.node.extend(nodes + old)  # topological order: the encoding first
        graph.initializer.extend(constants)
        model.opset_import.append(helper.make_opsetid("ai.onnx.ml", ML_OPSET))
    if est._classification:
        node, table, info = _label_node(est)
        graph.node.append(node)
        graph.initializer.append(table)
        outputs = [o for o in graph.output if o.name != _LABEL_INDEX]
        del graph.output[:]
        graph.output.extend([info, *outputs])
    _describe(model, est)
    onnx.checker.check_model(model, full_check=True)
    return model


def _describe(model: Any, est: Any) -> None:
    """Name the graph and record what a deployment needs to feed it, as model metadata."""
    import json

    from onnx import helper

    transform = est.transform_
    model.producer_name, model.producer_version = "trainwell", __version__
    model.graph.name = type(est).__name__
    model.doc_string = (f"{type(est).__name__} exported by trainwell {__version__}: raw features in "
                        "(scaling and one-hot encoding included), "
                        + ("label and probabilities out." if est._classification else "predictions out, in the units of y."))
    meta = {
        "trainwell_version": __version__,
        "estimator": type(est).__name__,
        "columns": json.dumps(transform.columns),
        "categorical_columns": json.dumps(sorted(transform.categories)),
        "sample_shape": json.dumps(list(transform.sample_shape)),
    }
    if est._classification:
        meta["classes"] = json.dumps([c.item() if isinstance(c, np.generic) else c for c in est.classes_])
    helper.set_model_props(model, meta)


def export_onnx(est: Any, path: str | os.PathLike) -> Path:
    """Write the fitted estimator as an ONNX file at ``path`` (atomically: never half-written).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    NotFitted
        When the estimator is not fitted.
    ConfigError
        When ``path`` is a folder or its folder does not exist, or ``onnx`` is not installed.
    """
    target = Path(path)
    if target.is_dir():
        raise ConfigError(f"{target} is a folder; give the path of the .onnx file to write, e.g. {target / 'model.onnx'}.")
    if not target.parent.is_dir():
        raise ConfigError(f"The folder {target.parent} does not exist; create it or choose another path for the ONNX file.")
    blob = onnx_model(est).SerializeToString()  # everything is built before anything is written
    try:
        return write_file_atomic(target, blob)
    except OSError as exc:
        raise ConfigError(f"Cannot write {target} ({exc.strerror}); check the path and its permissions.") from None


def onnx_inputs(est: Any, X: Any) -> dict[str, np.ndarray]:
    """The exported graph's inputs for ``X``, as ``onnxruntime``'s ``InferenceSession.run`` takes them.

    Parameters
    ----------
    est : fitted NeuralNetClassifier or NeuralNetRegressor
    X : array-like or DataFrame
        What ``predict`` would take.

    Returns
    -------
    dict of str to ndarray
        ``{"X": float32 array}`` (the numeric features), and for a DataFrame with categorical
        columns one array of strings per such column, missing values as ``"<missing>"``.
    """
    est._check_fitted()
    transform = est.transform_
    if transform.columns is None:
        return {NUMERIC_INPUT: as_float_array(X.to_numpy() if isinstance(X, pd.DataFrame) else X)}
    if not isinstance(X, pd.DataFrame):
        X = pd.DataFrame(np.asarray(X, dtype=object), columns=transform.columns)
    X = X.rename(columns=str)
    missing = [c for c in transform.columns if c not in X.columns]
    if missing:
        raise DataError(f"X lacks the column(s) {missing[:5]} seen in fit; pass the same columns as in training.")
    feeds: dict[str, np.ndarray] = {}
    numeric = [c for c in transform.columns if c not in transform.categories]
    if numeric:
        feeds[NUMERIC_INPUT] = X[numeric].apply(pd.to_numeric).to_numpy(dtype=np.float32)
    for col in transform.categories:
        series = X[col]  # as FeatureTransform reads a value: missing is a category of its own
        feeds[col] = series.astype(object).where(series.notna(), "<missing>").astype(str).to_numpy(dtype=object)
    return feeds
