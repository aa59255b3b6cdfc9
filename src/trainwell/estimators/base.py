"""What the two estimators share: ``fit``, ``partial_fit``, ``prepare``, predicting, saving, pickling.

A fit reads top to bottom in :meth:`NeuralNetBase._fit`: validate, split, prepare the
features (training statistics only), build the network, train (through
:func:`trainwell.train.fit_loop`), then record what was learned and advised. Each step is
a method of a few lines; what differs between classification and regression (targets,
class weights, output scaling) is in :mod:`.classifier` and :mod:`.regressor`.

Over 400 lines on purpose: it is the one fit, from input to fitted attributes, and splitting it
further would scatter one sequence of steps over files; parameters, building, callbacks and
pickling already live beside it.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import validate_data
from torch.func import functional_call

from ..data import (
    FeatureTransform,
    check_lengths,
    check_sample_weight,
    describe_weights,
    find_non_finite,
    non_finite_message,
    split_indices,
)
from ..data.augment import parse_augment
from ..data.columns import align_columns
from ..data.mapped import CHUNK_ROWS, is_memory_mapped, mapped_tensor, statistics_rows
from ..data.on_device import DeviceScaler, keeps_raw_bytes, scaled_black
from ..data.sparse import SparseRows, as_csr, dense_chunk_rows, is_sparse
from ..diagnose.findings import Findings
from ..exceptions import ConfigError, DataError, NotFitted
from ..nn import NetworkSpec, build_network, make_loss
from ..persist import SavedModel, read_model
from ..train import TrainConfig, distributed, fit_loop
from ..train.callbacks import RunState
from ..train.threads import auto_threads, intra_op_threads, step_macs
from . import building
from .callbacks import assemble_callbacks, fine_tune_phase, loggers_of, tracked_fit
from .params import (
    COMMON_CONSTRAINTS,
    Constraint,
    auto_validation_fraction,
    is_auto,
    validate_params,
)
from .pickling import TorchStatePickling


def as_table_or_array(X: Any) -> Any:
    """DataFrames stay as they are (their column types matter), sparse matrices become CSR
    (never dense: see :mod:`trainwell.data.sparse`); anything else becomes an array."""
    if is_sparse(X):
        if X.ndim != 2:
            raise DataError(f"X is a sparse array of shape {X.shape}; pass a 2-D (n_samples, n_features) matrix.")
        return as_csr(X)
    if X is None:
        raise DataError("X is None; pass an array or DataFrame of shape (n_samples, n_features).")
    if not isinstance(X, (pd.DataFrame, np.ndarray)):
        X = np.asarray(X)
    if X.ndim == 1:
        raise DataError(
            f"X is 1-D with shape {X.shape}; Reshape your data to 2-D (n_samples, n_features): "
            "X.reshape(-1, 1) for one feature or X.reshape(1, -1) for one sample."
        )
    if X.ndim == 0:
        raise DataError("X is a scalar; pass an array of shape (n_samples, n_features).")
    return X


def _refuse_non_finite(X: Any, nan: bool = True) -> None:
    """One sentence naming the NaN and infinite values of all of ``X`` (row as the user numbers it);
    ``nan=False`` names only the infinite ones (NaN is a missing value that will be filled in)."""
    found = find_non_finite(X, nan=nan)
    if found is not None:
        raise DataError(non_finite_message(found))


@dataclass
class _Split:
    """The rows of one fit: which train, which validate, and how the features are held."""

    X: Any  # the validated input, all rows
    y_codes: np.ndarray | None  # class codes for stratifying (classifiers)
    y: np.ndarray  # prepared targets, all rows
    train_idx: np.ndarray
    val_idx: np.ndarray | None
    seed: int
    shard: Any  # torchrun's share of the data, or None
    mapped: bool  # a memory-mapped array trained in place
    w: np.ndarray | None = None  # sample weights of all rows, scaled to mean 1 (None: unweighted)

    def weights(self, idx: np.ndarray | None) -> np.ndarray | None:
        """The sample weights of rows ``idx`` (``None`` when the fit has none or ``idx`` is ``None``)."""
        return None if self.w is None or idx is None else self.w[idx]

    @property
    def rows(self) -> Any:
        return self.X.iloc if isinstance(self.X, pd.DataFrame) else self.X


@functools.cache
def _param_names(cls: type) -> tuple[str, ...]:
    return tuple(BaseEstimator._get_param_names.__func__(cls))


#: The estimator classes by name, filled in as they are defined: what a model folder may name.
ESTIMATORS: dict[str, type[NeuralNetBase]] = {}


class NeuralNetBase(TorchStatePickling, BaseEstimator):
    """Shared machinery of :class:`NeuralNetClassifier` and :class:`NeuralNetRegressor` (not public)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        ESTIMATORS.setdefault(cls.__name__, cls)

    _classification = True
    #: Valid values of the parameters (see :mod:`.params`); each estimator adds its own.
    _parameter_constraints: dict[str, Constraint] = COMMON_CONSTRAINTS

    @classmethod
    def _get_param_names(cls) -> list[str]:
        # scikit-learn's reads the __init__ signature at every get_params() (inspect.signature:
        # about 0.1 ms, several times a fit); a class's signature does not change
        return list(_param_names(cls))

    # ------------------------------------------------------------ public API
    def fit(self, X: Any, y: Any, sample_weight: Any = None, resume: bool = False) -> NeuralNetBase:
        """Train a new network on ``(X, y)``.

        A ``validation_fraction`` of the rows (stratified for classifiers) is held out
        for early stopping; features are standardised with the statistics of the
        training rows only.

        Parameters
        ----------
        X : array-like, sparse matrix or DataFrame of shape (n_samples, n_features) or (n_samples, *image_shape)
            DataFrame columns holding text, categories or booleans are one-hot encoded. A
            ``scipy.sparse`` matrix stays sparse: columns are scaled without centring
            (``StandardScaler(with_mean=False)``) and each batch is densified as it is drawn.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
        sample_weight : array-like of shape (n_samples,), default=None
            How much each row counts (non-negative, not all zero): the training loss of every
            batch is the weighted mean ``sum(w * loss) / sum(w)`` (times the class weights, if
            any), and the validation loss and metric (so early stopping's choice) and the
            scaling statistics are weighted too. An integer weight counts like that many copies
            of the row. Not supported under torchrun.
        resume : bool, default=False
            Continue from the last checkpoint in ``checkpoint_dir`` (written every epoch
            when ``checkpoint_dir`` is set) instead of starting over: weights, optimizer and
            scheduler state, random generators, early-stopping state and history are restored.

        Returns
        -------
        self
        """
        return self._fit(X, y, resume=resume, sample_weight=sample_weight)

    def partial_fit(self, X: Any, y: Any, classes: Any = None, sample_weight: Any = None) -> NeuralNetBase:
        """Train one more epoch on ``(X, y)``, keeping the weights and optimizer state.

        The first call initialises the network from ``(X, y)`` (pass every class in
        ``classes`` then); later calls continue training with no validation split.
        ``sample_weight`` weights the rows of this call, as in :meth:`fit`.
        """
        if not hasattr(self, "network_"):
            return self._fit(X, y, classes=classes, epochs=1, validate=False, sample_weight=sample_weight)
        Xt, yt = self._tensors(X, y, rows=True)
        w = check_sample_weight(sample_weight, len(yt))
        train: tuple[torch.Tensor, ...] = (Xt, yt)
        if w is not None:
            self.sample_weight_ = describe_weights(w)
            train = (Xt, yt, torch.as_tensor(w / w.mean(), dtype=torch.float32, device=self.device_))
        with torch.random.fork_rng(devices=[]), intra_op_threads(getattr(self, "threads_", None)):
            gen = torch.Generator(device=self.device_).manual_seed(len(self.history_) + 12345)
            config = dataclasses.replace(self.train_config_, prepare=None)  # Xt is scaled on the host here
            shard, _ = distributed.setup(self.device_)
            if w is not None and shard is not None:
                raise ConfigError("sample_weight is not supported under torchrun; train in one process or drop the weights.")
            run = fit_loop(self.network_, self.loss_, train, None, config, list(self.callbacks or []),
                           generator=gen, run=getattr(self, "run_", None), epochs=1, history=self.history_,
                           shard=shard)
        self._record_run(run)
        return self

    def prepare(self, X: Any, y: Any) -> NeuralNetBase:
        """Fit the data preparation on ``(X, y)`` and build the network, without training.

        Everything ``fit`` sets up (scaling, encoders, the network, the loss and the loop's
        configuration) is in place afterwards, on all the rows (no validation split), so
        the checks of :mod:`trainwell.diagnose` can measure the untrained network.

        Returns
        -------
        self
        """
        return self._fit(X, y, epochs=0, validate=False)

    def to_tensors(self, X: Any, y: Any = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``X`` as the fitted network's input, and ``y`` as its loss's target, on ``device_``.

        ``X`` is prepared as at predict time (scaled with the training statistics); ``y`` is
        encoded (class codes) or scaled (regression) as in training. A sparse ``X`` is made
        dense here (training never does: see :mod:`trainwell.data.sparse`).

        Returns
        -------
        tuple of torch.Tensor
            ``(inputs, targets)``; ``targets`` is ``None`` when ``y`` is.
        """
        return self._tensors(X, y)

    def _tensors(self, X: Any, y: Any = None, rows: bool = False) -> tuple[Any, torch.Tensor | None]:
        """:meth:`to_tensors`; with ``rows``, sparse ``X`` stays sparse (:class:`SparseRows`, for training)."""
        Xt = (self._rows_tensor if rows else self._to_tensor)(self._transform(X))
        if y is None:
            return Xt, None
        _, targets = self._prepare_targets(y, None, refit=False)
        check_lengths(Xt, targets)
        return Xt, self._target_tensor(self._scale_targets(targets))

    def training_config(self, n_train: int) -> TrainConfig:
        """The training loop's configuration for ``n_train`` rows under the current parameters."""
        return building.train_config(self.get_params(deep=False), self.spec_.kind, n_train, self.device_,
                                     self._classification)

    def show_report(self, X_test: Any = None, y_test: Any = None, height: int = 900) -> Any:
        """The run's full report, to display inline in a notebook (it is the cell's result).

        With ``report=`` set, the run folder's ``report.html`` is shown; otherwise the run
        folder is written to a temporary folder, its report read and the folder removed.
        (``report`` is already the parameter that names the run folder, hence this name.)

        Parameters
        ----------
        X_test, y_test : array-like, optional
            Held-out rows for the report's test section (confusion matrix or predicted vs true).
        height : int, default=900
            Height of the inline frame in pixels.

        Returns
        -------
        trainwell.report.notebook.ReportView
            Shows the page in an ``<iframe>`` in Jupyter; ``.html`` is the page, ``.path`` its file.
        """
        from ..report.notebook import report_view

        self._check_fitted()
        return report_view(self, X_test, y_test, height)

    def _html_repr(self) -> str:
        """What Jupyter shows (scikit-learn's ``_repr_html_`` and ``_repr_mimebundle_`` call it).

        Unfitted: scikit-learn's estimator diagram, unchanged. Fitted: the headline numbers,
        the findings, a small loss curve and where the run folder is, above that diagram.
        """
        from sklearn.utils import estimator_html_repr

        diagram = estimator_html_repr(self)
        if not hasattr(self, "network_"):
            return diagram
        from ..report.notebook import estimator_html

        return estimator_html(self, diagram)

    def save(self, path: str) -> None:
        """Write the fitted model to the folder ``path``: ``weights.safetensors`` + ``model.json``.

        The folder is written under a temporary name and renamed, so a crash never
        leaves a half-written model. See :func:`trainwell.load`.
        """
        from ..persist import save_model

        self._check_fitted()
        save_model(self, path)

    def to_onnx(self, path: str | os.PathLike) -> str:
        """Write the fitted model as one ONNX graph: raw features in, labels and probabilities
        (classifier) or predictions in the units of ``y`` (regressor) out.

        The feature scaling is folded into the graph, and categorical columns are one-hot
        encoded in it (``ai.onnx.ml``), each taken as a string input named by its column; see
        :mod:`trainwell.estimators.onnx_export`. Needs the ``onnx`` extra. The file is written
        under a temporary name and renamed, so a failure leaves nothing half-written.

        Returns
        -------
        str
            ``path``.
        """
        from .onnx_export import export_onnx

        return str(export_onnx(self, path))

    # ------------------------------------------------------------ one fit, step by step
    def _fit(self, X: Any, y: Any, classes: Any = None, epochs: int | None = None, validate: bool = True,
             resume: bool = False, sample_weight: Any = None) -> NeuralNetBase:
        validate_params(self, self._parameter_constraints)
        self._check_combinations()
        split = self._split(X, y, classes, validate, sample_weight)
        if self._classification:  # what the diagnosis judges imbalance and chance by
            self.class_counts_ = np.bincount(np.asarray(split.y)[split.train_idx].ravel().astype(np.int64),
                                             minlength=len(self.classes_))
        source = self._pretrained_source()
        Xt, raw_bytes = self._prepare_features(split, source)
        self._fit_target_scaling(split.y[split.train_idx], split.weights(split.train_idx))
        yt = self._scale_targets(split.y[split.train_idx])
        # torch.manual_seed seeds every CUDA device too: fork (and afterwards restore) theirs on a GPU fit
        cuda_devices = list(range(torch.cuda.device_count())) if self.device_.type == "cuda" else []
        with tracked_fit(self) as loggers:  # MLflow: FAILED on an exception, else findings and report logged
            with torch.random.fork_rng(devices=cuda_devices):
                torch.manual_seed(split.seed)
                self._build(split, source, yt)
                perm_gen = torch.Generator(device=self.device_).manual_seed(split.seed + 1)
                loop_args = self._loop_data(split, Xt, yt, raw_bytes)
                loop_args["generator"] = perm_gen
                fingerprint = (self._fingerprint(Xt, yt, split.weights(split.train_idx))
                               if self.checkpoint_dir is not None else None)
                callbacks = assemble_callbacks(self, validates=loop_args["val"] is not None, generator=perm_gen,
                                               fingerprint=fingerprint, resume=resume)
                loggers += loggers_of(callbacks)
                sync = bool(self.sync_batchnorm and split.shard)
                self.threads_ = self._threads()
                with distributed.synchronised_batchnorm(self.network_, sync, self.device_), \
                        intra_op_threads(self.threads_):
                    run = fit_loop(self.network_, self.loss_, loop_args["train"], loop_args["val"],
                                   self.train_config_, callbacks, generator=perm_gen, epochs=epochs,
                                   shard=split.shard, rows=loop_args["rows"])
                    if source is not None and str(self.freeze).lower() == "features" and self.fine_tune:
                        run = fine_tune_phase(self, run, callbacks, loop_args)
            self.n_train_, self.n_val_ = len(split.train_idx), 0 if split.val_idx is None else len(split.val_idx)
            self._record_run(run)
            self.best_epoch_ = run.best_epoch if run.best_epoch is not None else run.epoch
            self.stop_reason_ = run.stop_reason or f"reached max_epochs={self.train_config_.max_epochs}"
            if self.report is not None:
                from ..report import save_run

                # one writer under torchrun; the others learn the path when it is written
                path = save_run(self, self.report) if distributed.is_main_process() else None
                self.report_path_ = distributed.broadcast_object(path)
        return self

    def _split(self, X: Any, y: Any, classes: Any, validate: bool, sample_weight: Any = None) -> _Split:
        """Validate ``(X, y)`` (and the weights), choose the device and the seed, and hold out validation rows."""
        if y is None:
            raise DataError(f"{type(self).__name__} requires y to be passed, but the target y is None.")
        X = as_table_or_array(X)
        if not isinstance(y, (np.ndarray, pd.Series, pd.DataFrame)):
            y = np.asarray(y)
        validate_data(self, X, reset=True, skip_check_array=True)
        check_lengths(X, y)
        y_codes, y_all = self._prepare_targets(y, classes)
        n = len(y_all)
        if n < 2:
            raise DataError(f"Got {n} sample (n_samples = 1); training needs at least 2 samples.")
        w = check_sample_weight(sample_weight, n)
        self.sample_weight_ = describe_weights(w)
        _refuse_non_finite(X, nan=not self._imputes(X))  # all rows, before any split: the row named is the user's
        seed = int(check_random_state(self.random_state).randint(0, 2**31 - 1))
        self.device_ = building.resolve_device(self.device)
        # Under torchrun: join the process group; every rank uses rank 0's seed, so all draw
        # the same split, initial weights and permutations (train/distributed.py).
        shard, self.device_ = distributed.setup(self.device_)
        if w is not None and shard is not None:
            # DDP averages each process's weighted mean: not the weighted mean of the global batch
            raise ConfigError("sample_weight is not supported under torchrun; train in one process or drop the weights.")
        seed = distributed.broadcast_object(seed)
        self.validation_fraction_ = (
            auto_validation_fraction(n) if is_auto(self.validation_fraction) else float(self.validation_fraction)
        )
        use_val = (validate and self.early_stopping and self.validation_fraction_ > 0
                   and round(self.validation_fraction_ * n) >= 5)
        train_idx, val_idx = (split_indices(n, self.validation_fraction_, y_codes, seed) if use_val
                              else (np.arange(n), None))
        # early stopping asked for, but too few rows to hold out 5: said in the findings (too_few_rows)
        self._validation_dropped = bool(validate and self.early_stopping and self.validation_fraction_ > 0
                                        and not use_val)
        # A memory-mapped array on the CPU is trained in place (data/mapped.py): batches are
        # gathered from the mapping, and only a sample of rows is read for the statistics.
        mapped = is_memory_mapped(X) and self.device_.type == "cpu" and shard is None
        if w is not None and val_idx is not None:
            for part, idx in (("training", train_idx), ("validation", val_idx)):
                if not w[idx].any():
                    raise DataError(f"The sample weights of the {part} rows are all zero; use another random_state, "
                                    "another validation_fraction, or early_stopping=False.")
        # scaled to mean 1: the losses are ratios of weighted sums, so only the ratios matter,
        # and float32 sums then stay in range whatever the units of the weights
        return _Split(X, y_codes, y_all, train_idx, val_idx, seed, shard, mapped,
                      None if w is None else w / w.mean())

    def _prepare_features(self, split: _Split, source: NeuralNetBase | None) -> tuple[Any, bool]:
        """Fit the feature transform on the training rows; return the training features and
        whether they stay raw bytes (scaled per batch on the device)."""
        rows = split.rows
        stats_idx = statistics_rows(split.train_idx, split.seed) if split.mapped else split.train_idx
        X_train_raw = rows[stats_idx]
        if source is None:
            missing = "auto" if self._imputes(split.X) else "error"
            target = split.y_codes if self._classification else split.y
            self.transform_ = FeatureTransform().fit(
                X_train_raw, scaling=self.scaling, missing=missing, sample_weight=split.weights(stats_idx),
                numeric_encoding=self._numeric_encoding(split.X), y=None if target is None else target[stats_idx],
                classification=self._classification)
        else:  # the body was trained on inputs scaled the source's way: keep its statistics
            self.transform_ = copy.deepcopy(source.transform_)
        # 8-bit images stay 8-bit on the device and are scaled per batch there (a quarter of
        # the memory), mapped arrays stay where they are; anything else is scaled once on the host.
        raw_bytes = split.mapped or keeps_raw_bytes(split.X, self.transform_)
        if split.mapped:  # every row was checked for NaN and inf in _split
            return split.X, True
        Xt = np.ascontiguousarray(X_train_raw) if raw_bytes else self.transform_.transform(X_train_raw)
        return Xt, raw_bytes

    def _build(self, split: _Split, source: NeuralNetBase | None, yt: np.ndarray) -> None:
        """Build the network (or take a pretrained body), the loss and the loop's configuration."""
        n_outputs = len(self.classes_) if self._classification else yt.shape[1]
        loss_name = self._loss_name()
        if source is None:
            self.spec_ = self._make_spec(self.transform_.sample_shape, n_outputs, len(split.train_idx), loss_name)
        else:
            self.spec_ = dataclasses.replace(
                source.spec_, n_outputs=n_outputs, output_activation=getattr(self, "_output_activation", None),
                head="hierarchical_softmax" if loss_name == "hierarchical_softmax" else "linear",
            )
        self.network_ = build_network(self.spec_, generator=torch.Generator().manual_seed(split.seed)).to(self.device_)
        if source is not None:
            # transfer learning: the source's body, a new head for the new outputs
            self.network_.features.load_state_dict(source.network_.features.state_dict())
            if str(self.freeze).lower() == "features":
                self.network_.features.requires_grad_(False)
        self.loss_ = make_loss(loss_name, self._class_weight_tensor(yt, split.weights(split.train_idx))).to(self.device_)
        self.train_config_ = self.training_config(len(split.train_idx))
        image = building.image_shape(self.transform_.sample_shape)
        self.train_config_.augment = self.augment_ = parse_augment(
            self.augment, image, scaled_black(self.transform_, image[0]) if image else (0.0,))

    def _loop_data(self, split: _Split, Xt: Any, yt: np.ndarray, raw_bytes: bool) -> dict[str, Any]:
        """The tensors the loop trains and validates on (and, for a mapped array, its training rows)."""
        if raw_bytes:
            self.train_config_.prepare = DeviceScaler(self.transform_, self.spec_.input_shape, self.device_)
        rows = None
        train: tuple[torch.Tensor, ...]
        if split.mapped:  # every row stays in the mapping; the loop trains on train_idx of them
            rows = torch.from_numpy(split.train_idx).to(self.device_)
            train = (mapped_tensor(split.X, (len(split.y), *self.spec_.input_shape)),
                     self._target_tensor(self._scale_targets(split.y)))
            w_train = split.w  # the loop gathers weights by row of X, like the rows themselves
        else:
            train = (self._rows_tensor(Xt), self._target_tensor(yt))
            w_train = split.weights(split.train_idx)
        if w_train is not None:
            train = (*train, self._weight_tensor(w_train))
        val = None
        if split.val_idx is not None:
            raw = split.rows[split.val_idx]
            Xv = np.ascontiguousarray(raw) if raw_bytes else self.transform_.transform(raw)
            val = (self._rows_tensor(Xv), self._target_tensor(self._scale_targets(split.y[split.val_idx])))
            if split.w is not None:
                val = (*val, self._weight_tensor(split.weights(split.val_idx)))
        return {"train": train, "val": val, "rows": rows, "shard": split.shard}

    def _weight_tensor(self, w: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(w, dtype=torch.float32).to(self.device_)

    def _record_run(self, run: RunState) -> None:
        """Keep what a (partial) fit learned, and what the monitors saw, in words."""
        self.run_ = run
        self.history_ = run.history
        self.n_iter_ = run.epoch
        self.findings_ = Findings()
        if self.diagnostics:
            from ..diagnose import advise, rank
            from ..diagnose.datachecks import filled_gaps
            from ..diagnose.fitted_data import identifier_columns, numbers_as_text, too_few_rows

            data = (filled_gaps(self.transform_) + identifier_columns(self.transform_, getattr(self, "n_train_", None))
                    + numbers_as_text(self.transform_))
            if getattr(self, "_validation_dropped", False):
                data += too_few_rows(getattr(self, "n_train_", 0) or 0)
            self.findings_ = rank(data + advise(self, run))

    # ------------------------------------------------------------ helpers of a fit
    def _make_spec(self, sample_shape: tuple[int, ...], n_outputs: int, n_train: int, loss: str) -> NetworkSpec:
        return building.make_spec(self.get_params(deep=False), sample_shape, n_outputs, n_train, loss)

    def _threads(self) -> int | None:
        """Intra-op threads for this fit: ``threads`` as given, or the ``"auto"`` rule of
        :mod:`trainwell.train.threads` on the work of one MLP step (``None``: torch's default)."""
        if not (isinstance(self.threads, str) and self.threads.lower() == "auto"):
            return int(self.threads)
        if distributed.launched_by_torchrun():
            # each torchrun process is given its share of the cores by the launcher (OMP_NUM_THREADS);
            # and a forked rank that changes its thread pool was once seen to hang in a futex wait
            return None
        if self.device_.type != "cpu" or self.spec_.kind != "mlp":
            return None  # a GPU step does not run on CPU threads; convolutions split well
        sizes = (self.spec_.input_shape[0], *self.spec_.hidden, self.spec_.n_outputs)
        return auto_threads(step_macs(sizes, self.train_config_.batch_size))

    def _imputes(self, X: Any) -> bool:
        """Whether NaN in ``X`` is a missing value to fill (``missing="auto"``) rather than an error.

        Only in a 2-D table for an MLP held in memory: NaN in images and signals, in the input
        of a CNN, and in a memory-mapped array (trained in place, scaled per batch on the
        device, never filled) stays an error.
        """
        return (is_auto(self.missing) and getattr(X, "ndim", 2) == 2 and str(self.kind).lower() != "cnn"
                and not is_memory_mapped(X))

    def _numeric_encoding(self, X: Any) -> str:
        """``numeric_encoding`` for this fit: ``"none"`` where the features are not a table held in
        memory for an MLP (a CNN's input, a memory-mapped or uint8 array, both scaled per batch
        on the device, where only the mean and scale are applied)."""
        if (str(self.kind).lower() == "cnn" or is_memory_mapped(X)
                or (isinstance(X, np.ndarray) and X.dtype == np.uint8)):
            return "none"
        return str(self.numeric_encoding)

    def _pretrained_source(self) -> NeuralNetBase | None:
        """The fitted model to transfer from, or ``None``."""
        if self.pretrained is None:
            return None
        if isinstance(self.pretrained, NeuralNetBase):
            self.pretrained._check_fitted()
            return self.pretrained
        return restore(read_model(self.pretrained, ESTIMATORS), device="cpu")

    def _fingerprint(self, Xt: np.ndarray, yt: np.ndarray, w: np.ndarray | None = None) -> dict[str, Any]:
        """What a checkpoint must agree with to be resumed: the settings and the data (and its weights)."""
        ignored = {"callbacks", "verbose", "checkpoint_dir", "device", "cuda_graphs", "threads"}
        params = {k: repr(v) for k, v in self.get_params(deep=False).items() if k not in ignored}
        step = max(1, Xt.shape[0] // 512)
        part = Xt[::step]
        data = (part.data.tobytes() + part.indices.tobytes() + part.indptr.tobytes() if is_sparse(part)
                else np.ascontiguousarray(part).tobytes())
        digest = hashlib.sha256(data + np.ascontiguousarray(yt[::step]).tobytes())
        if w is not None:
            digest.update(np.ascontiguousarray(w).tobytes())
        return {**params, "data_shape": list(Xt.shape), "data_sha256": digest.hexdigest()}

    def _rows_tensor(self, Xf: Any) -> Any:
        """Prepared training or validation rows for the loop: a device tensor, or for sparse rows
        a :class:`~trainwell.data.sparse.SparseRows` that densifies one batch at a time."""
        return SparseRows(Xf, self.device_) if is_sparse(Xf) else self._to_tensor(Xf)

    def _loss_name(self) -> str:
        return building.loss_name(self.loss, self._classification)

    # what differs between classification and regression: overridden in classifier.py / regressor.py
    def _check_combinations(self) -> None:
        """Rules that tie parameters together (the table in params.py checks them one by one)."""

    def _prepare_targets(self, y: Any, classes: Any = None, refit: bool = True) -> tuple[np.ndarray | None, np.ndarray]:
        raise NotImplementedError

    def _class_weight_tensor(self, codes: np.ndarray | None, sample_weight: np.ndarray | None = None) -> torch.Tensor | None:
        return None

    def _fit_target_scaling(self, y: np.ndarray, sample_weight: np.ndarray | None = None) -> None:
        pass

    def _scale_targets(self, y: np.ndarray) -> np.ndarray:
        return y

    def _target_tensor(self, y: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(y)).to(self.device_)

    # ------------------------------------------------------------ predicting
    def _check_fitted(self) -> None:
        if not hasattr(self, "network_"):
            raise NotFitted(
                f"This {type(self).__name__} instance is not fitted yet; call 'fit' with appropriate arguments first."
            )

    def _to_tensor(self, Xf: np.ndarray) -> torch.Tensor:
        if is_sparse(Xf):  # prediction chunks and to_tensors: dense from here on
            Xf = Xf.toarray()
        shape = (Xf.shape[0], *self.spec_.input_shape)
        return torch.from_numpy(np.ascontiguousarray(Xf)).reshape(shape).to(self.device_)

    def _transform(self, X: Any) -> np.ndarray:
        self._check_fitted()
        X = as_table_or_array(X)
        names = getattr(self, "feature_names_in_", None)
        if names is not None and isinstance(X, pd.DataFrame):
            X = align_columns(X, names)
        try:
            validate_data(self, X, reset=False, skip_check_array=True)
        except ValueError as exc:
            raise DataError(" ".join(str(exc).split())) from None
        return self.transform_.transform(X)

    @torch.no_grad()
    def _scores(self, X: Any) -> torch.Tensor:
        if is_memory_mapped(X) and X.shape[0] > CHUNK_ROWS:  # predicted chunk by chunk, never loaded whole
            # first, so a bad row is named as in the file, not within its chunk
            _refuse_non_finite(X, nan=self.transform_.fill is None)
            return torch.cat([self._scores(X[start:start + CHUNK_ROWS]) for start in range(0, X.shape[0], CHUNK_ROWS)])
        chunk = dense_chunk_rows(X.shape[1], 4096) if is_sparse(X) else 0
        if chunk and X.shape[0] > chunk:  # sparse rows are densified a chunk at a time, never all at once
            X = as_csr(X)
            return torch.cat([self._scores(X[start:start + chunk]) for start in range(0, X.shape[0], chunk)])
        Xt = self._transform(X)
        net = self.network_
        if self.device_.type != "cpu":
            net.eval()
            return torch.cat([net(self._to_tensor(Xt[start:start + 4096])) for start in range(0, Xt.shape[0], 4096)])
        # float32 products on CPU round differently with the batch's shape, so the same row could
        # get a (last-bit) different prediction in another batch; float64 inference makes predictions
        # independent of how rows are batched. The network runs on float64 copies of its parameters
        # and buffers (torch.func.functional_call): what a float64 deep copy of it computes, without
        # copying the modules (a deep copy was most of a small table's predict, ~1.5 ms).
        state = {name: t.double() if t.is_floating_point() else t
                 for name, t in net.state_dict(keep_vars=True).items()}
        was_training = net.training
        net.eval()
        try:
            return torch.cat([functional_call(net, state, (self._to_tensor(Xt[start:start + 4096]).double(),))
                              for start in range(0, Xt.shape[0], 4096)])
        finally:
            net.train(was_training)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # missing="auto" fills NaN in tables (their medians, plus an indicator); "error" refuses it
        tags.input_tags.allow_nan = is_auto(getattr(self, "missing", "auto"))
        tags.input_tags.sparse = True
        return tags


def restore(saved: SavedModel, device: str = "auto") -> NeuralNetBase:
    """A fitted estimator from a :class:`~trainwell.persist.SavedModel` read off disk."""
    cls = ESTIMATORS[saved.estimator]
    known = cls().get_params()
    est = cls(**{k: v for k, v in saved.params.items() if k in known})
    est.device = device
    for name, value in saved.fitted.items():  # spec_, transform_, classes_, target_scaler_, ...
        setattr(est, name, value)
    est.device_ = building.resolve_device(device)
    est.network_ = saved.network.to(est.device_).eval()
    est.loss_ = make_loss(saved.loss).to(est.device_)
    est.train_config_ = est.training_config(int(saved.fitted["n_train_"]))
    est.run_ = None
    est.threads_ = None
    est.findings_ = Findings()
    return est
