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
import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse
import torch
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import validate_data

from ..data import (
    FeatureTransform,
    check_lengths,
    find_non_finite,
    non_finite_message,
    split_indices,
)
from ..data.augment import parse_augment
from ..data.mapped import CHUNK_ROWS, is_memory_mapped, mapped_tensor, statistics_rows
from ..data.on_device import DeviceScaler, keeps_raw_bytes, scaled_black
from ..exceptions import DataError, NotFitted
from ..nn import NetworkSpec, build_network, make_loss
from ..persist import SavedModel, read_model
from ..train import TrainConfig, distributed, fit_loop
from ..train.callbacks import RunState
from . import building
from .callbacks import assemble_callbacks, fine_tune_phase
from .params import (
    COMMON_CONSTRAINTS,
    Constraint,
    auto_validation_fraction,
    is_auto,
    validate_params,
)
from .pickling import TorchStatePickling


def as_table_or_array(X: Any) -> pd.DataFrame | np.ndarray:
    """DataFrames stay as they are (their column types matter); anything else becomes an array."""
    if scipy.sparse.issparse(X):
        raise DataError("X is a sparse matrix; sparse input is not supported: pass X.toarray() (dense).")
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

    @property
    def rows(self) -> Any:
        return self.X.iloc if isinstance(self.X, pd.DataFrame) else self.X


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

    # ------------------------------------------------------------ public API
    def fit(self, X: Any, y: Any, resume: bool = False) -> NeuralNetBase:
        """Train a new network on ``(X, y)``.

        A ``validation_fraction`` of the rows (stratified for classifiers) is held out
        for early stopping; features are standardised with the statistics of the
        training rows only.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features) or (n_samples, *image_shape)
            DataFrame columns holding text, categories or booleans are one-hot encoded.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
        resume : bool, default=False
            Continue from the last checkpoint in ``checkpoint_dir`` (written every epoch
            when ``checkpoint_dir`` is set) instead of starting over: weights, optimizer and
            scheduler state, random generators, early-stopping state and history are restored.

        Returns
        -------
        self
        """
        return self._fit(X, y, resume=resume)

    def partial_fit(self, X: Any, y: Any, classes: Any = None) -> NeuralNetBase:
        """Train one more epoch on ``(X, y)``, keeping the weights and optimizer state.

        The first call initialises the network from ``(X, y)`` (pass every class in
        ``classes`` then); later calls continue training with no validation split.
        """
        if not hasattr(self, "network_"):
            return self._fit(X, y, classes=classes, epochs=1, validate=False)
        Xt, yt = self.to_tensors(X, y)
        with torch.random.fork_rng(devices=[]):
            gen = torch.Generator(device=self.device_).manual_seed(len(self.history_) + 12345)
            config = dataclasses.replace(self.train_config_, prepare=None)  # Xt is scaled on the host here
            shard, _ = distributed.setup(self.device_)
            run = fit_loop(self.network_, self.loss_, (Xt, yt), None, config, list(self.callbacks or []),
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
        encoded (class codes) or scaled (regression) as in training.

        Returns
        -------
        tuple of torch.Tensor
            ``(inputs, targets)``; ``targets`` is ``None`` when ``y`` is.
        """
        Xt = self._to_tensor(self._transform(X))
        if y is None:
            return Xt, None
        _, targets = self._prepare_targets(y, None, refit=False)
        check_lengths(Xt, targets)
        return Xt, self._target_tensor(self._scale_targets(targets))

    def training_config(self, n_train: int) -> TrainConfig:
        """The training loop's configuration for ``n_train`` rows under the current parameters."""
        return building.train_config(self.get_params(deep=False), self.spec_.kind, n_train, self.device_,
                                     self._classification)

    def save(self, path: str) -> None:
        """Write the fitted model to the folder ``path``: ``weights.safetensors`` + ``model.json``.

        The folder is written under a temporary name and renamed, so a crash never
        leaves a half-written model. See :func:`trainwell.load`.
        """
        from ..persist import save_model

        self._check_fitted()
        save_model(self, path)

    # ------------------------------------------------------------ one fit, step by step
    def _fit(self, X: Any, y: Any, classes: Any = None, epochs: int | None = None, validate: bool = True,
             resume: bool = False) -> NeuralNetBase:
        validate_params(self, self._parameter_constraints)
        self._check_combinations()
        split = self._split(X, y, classes, validate)
        source = self._pretrained_source()
        Xt, raw_bytes = self._prepare_features(split, source)
        self._fit_target_scaling(split.y[split.train_idx])
        yt = self._scale_targets(split.y[split.train_idx])
        # torch.manual_seed seeds every CUDA device too: fork (and afterwards restore) theirs on a GPU fit
        cuda_devices = list(range(torch.cuda.device_count())) if self.device_.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda_devices):
            torch.manual_seed(split.seed)
            self._build(split, source, yt)
            perm_gen = torch.Generator(device=self.device_).manual_seed(split.seed + 1)
            loop_args = self._loop_data(split, Xt, yt, raw_bytes)
            loop_args["generator"] = perm_gen
            fingerprint = self._fingerprint(Xt, yt) if self.checkpoint_dir is not None else None
            callbacks = assemble_callbacks(self, validates=loop_args["val"] is not None, generator=perm_gen,
                                           fingerprint=fingerprint, resume=resume)
            sync = bool(self.sync_batchnorm and split.shard)
            with distributed.synchronised_batchnorm(self.network_, sync, self.device_):
                run = fit_loop(self.network_, self.loss_, loop_args["train"], loop_args["val"], self.train_config_,
                               callbacks, generator=perm_gen, epochs=epochs, shard=split.shard, rows=loop_args["rows"])
                if source is not None and self.freeze == "features" and self.fine_tune:
                    run = fine_tune_phase(self, run, callbacks, loop_args)
        self._record_run(run)
        self.best_epoch_ = run.best_epoch if run.best_epoch is not None else run.epoch
        self.stop_reason_ = run.stop_reason or f"reached max_epochs={self.train_config_.max_epochs}"
        self.n_train_, self.n_val_ = len(split.train_idx), 0 if split.val_idx is None else len(split.val_idx)
        if self.report is not None:
            from ..report import save_run

            # one writer under torchrun; the others learn the path when it is written
            path = save_run(self, self.report) if distributed.is_main_process() else None
            self.report_path_ = distributed.broadcast_object(path)
        return self

    def _split(self, X: Any, y: Any, classes: Any, validate: bool) -> _Split:
        """Validate ``(X, y)``, choose the device and the seed, and hold out validation rows."""
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
        _refuse_non_finite(X, nan=not self._imputes(X))  # all rows, before any split: the row named is the user's
        seed = int(check_random_state(self.random_state).randint(0, 2**31 - 1))
        self.device_ = building.resolve_device(self.device)
        # Under torchrun: join the process group; every rank uses rank 0's seed, so all draw
        # the same split, initial weights and permutations (train/distributed.py).
        shard, self.device_ = distributed.setup(self.device_)
        seed = distributed.broadcast_object(seed)
        self.validation_fraction_ = (
            auto_validation_fraction(n) if is_auto(self.validation_fraction) else float(self.validation_fraction)
        )
        use_val = (validate and self.early_stopping and self.validation_fraction_ > 0
                   and round(self.validation_fraction_ * n) >= 5)
        train_idx, val_idx = (split_indices(n, self.validation_fraction_, y_codes, seed) if use_val
                              else (np.arange(n), None))
        # A memory-mapped array on the CPU is trained in place (data/mapped.py): batches are
        # gathered from the mapping, and only a sample of rows is read for the statistics.
        mapped = is_memory_mapped(X) and self.device_.type == "cpu" and shard is None
        return _Split(X, y_codes, y_all, train_idx, val_idx, seed, shard, mapped)

    def _prepare_features(self, split: _Split, source: NeuralNetBase | None) -> tuple[Any, bool]:
        """Fit the feature transform on the training rows; return the training features and
        whether they stay raw bytes (scaled per batch on the device)."""
        rows = split.rows
        X_train_raw = rows[statistics_rows(split.train_idx, split.seed)] if split.mapped else rows[split.train_idx]
        if source is None:
            missing = "auto" if self._imputes(split.X) else "error"
            self.transform_ = FeatureTransform().fit(X_train_raw, scaling=self.scaling, missing=missing)
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
                source.spec_, n_outputs=n_outputs, output_activation=getattr(self, "output_activation", None),
                head="hierarchical_softmax" if loss_name == "hierarchical_softmax" else "linear",
            )
        self.network_ = build_network(self.spec_, generator=torch.Generator().manual_seed(split.seed)).to(self.device_)
        if source is not None:
            # transfer learning: the source's body, a new head for the new outputs
            self.network_.features.load_state_dict(source.network_.features.state_dict())
            if self.freeze == "features":
                self.network_.features.requires_grad_(False)
        self.loss_ = make_loss(loss_name, self._class_weight_tensor(yt)).to(self.device_)
        self.train_config_ = self.training_config(len(split.train_idx))
        image = building.image_shape(self.transform_.sample_shape)
        self.train_config_.augment = self.augment_ = parse_augment(
            self.augment, image, scaled_black(self.transform_, image[0]) if image else (0.0,))

    def _loop_data(self, split: _Split, Xt: Any, yt: np.ndarray, raw_bytes: bool) -> dict[str, Any]:
        """The tensors the loop trains and validates on (and, for a mapped array, its training rows)."""
        if raw_bytes:
            self.train_config_.prepare = DeviceScaler(self.transform_, self.spec_.input_shape, self.device_)
        rows = None
        if split.mapped:  # every row stays in the mapping; the loop trains on train_idx of them
            rows = torch.from_numpy(split.train_idx).to(self.device_)
            train = (mapped_tensor(split.X, (len(split.y), *self.spec_.input_shape)),
                     self._target_tensor(self._scale_targets(split.y)))
        else:
            train = (self._to_tensor(Xt), self._target_tensor(yt))
        val = None
        if split.val_idx is not None:
            raw = split.rows[split.val_idx]
            Xv = np.ascontiguousarray(raw) if raw_bytes else self.transform_.transform(raw)
            val = (self._to_tensor(Xv), self._target_tensor(self._scale_targets(split.y[split.val_idx])))
        return {"train": train, "val": val, "rows": rows, "shard": split.shard}

    def _record_run(self, run: RunState) -> None:
        """Keep what a (partial) fit learned, and what the monitors saw, in words."""
        self.run_ = run
        self.history_ = run.history
        self.n_iter_ = run.epoch
        self.findings_ = []
        if self.diagnostics:
            from ..diagnose import advise, rank
            from ..diagnose.datachecks import filled_gaps

            self.findings_ = rank(filled_gaps(self.transform_) + advise(self, run))

    # ------------------------------------------------------------ helpers of a fit
    def _make_spec(self, sample_shape: tuple[int, ...], n_outputs: int, n_train: int, loss: str) -> NetworkSpec:
        return building.make_spec(self.get_params(deep=False), sample_shape, n_outputs, n_train, loss)

    def _imputes(self, X: Any) -> bool:
        """Whether NaN in ``X`` is a missing value to fill (``missing="auto"``) rather than an error.

        Only in a 2-D table for an MLP held in memory: NaN in images and signals, in the input
        of a CNN, and in a memory-mapped array (trained in place, scaled per batch on the
        device, never filled) stays an error.
        """
        return (is_auto(self.missing) and getattr(X, "ndim", 2) == 2 and str(self.kind).lower() != "cnn"
                and not is_memory_mapped(X))

    def _pretrained_source(self) -> NeuralNetBase | None:
        """The fitted model to transfer from, or ``None``."""
        if self.pretrained is None:
            return None
        if isinstance(self.pretrained, NeuralNetBase):
            self.pretrained._check_fitted()
            return self.pretrained
        return restore(read_model(self.pretrained, ESTIMATORS), device="cpu")

    def _fingerprint(self, Xt: np.ndarray, yt: np.ndarray) -> dict[str, Any]:
        """What a checkpoint must agree with to be resumed: the settings and the data."""
        ignored = {"callbacks", "verbose", "checkpoint_dir", "device", "cuda_graphs"}
        params = {k: repr(v) for k, v in self.get_params(deep=False).items() if k not in ignored}
        step = max(1, len(Xt) // 512)
        digest = hashlib.sha256(np.ascontiguousarray(Xt[::step]).tobytes() + np.ascontiguousarray(yt[::step]).tobytes())
        return {**params, "data_shape": list(Xt.shape), "data_sha256": digest.hexdigest()}

    def _loss_name(self) -> str:
        return building.loss_name(self.loss, self._classification)

    # what differs between classification and regression: overridden in classifier.py / regressor.py
    def _check_combinations(self) -> None:
        """Rules that tie parameters together (the table in params.py checks them one by one)."""

    def _prepare_targets(self, y: Any, classes: Any = None, refit: bool = True) -> tuple[np.ndarray | None, np.ndarray]:
        raise NotImplementedError

    def _class_weight_tensor(self, codes: np.ndarray | None) -> torch.Tensor | None:
        return None

    def _fit_target_scaling(self, y: np.ndarray) -> None:
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
        shape = (Xf.shape[0], *self.spec_.input_shape)
        return torch.from_numpy(np.ascontiguousarray(Xf)).reshape(shape).to(self.device_)

    def _transform(self, X: Any) -> np.ndarray:
        self._check_fitted()
        X = as_table_or_array(X)
        names = getattr(self, "feature_names_in_", None)
        if names is not None and isinstance(X, pd.DataFrame):
            columns = {str(c) for c in X.columns}
            missing = [str(c) for c in names if str(c) not in columns]
            if missing:
                raise DataError(f"X lacks the column(s) {missing[:5]} seen in fit; pass the same columns as in training.")
            extra = [str(c) for c in X.columns if str(c) not in {str(n) for n in names}]
            if extra:
                raise DataError(f"X has column(s) {extra[:5]} that were not seen in fit; drop them before predicting.")
            X = X[list(names)]
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
        Xt = self._transform(X)
        net = self.network_
        dtype = torch.float32
        if self.device_.type == "cpu":
            # float32 products on CPU round differently with the batch's shape, so the same row
            # could get a (last-bit) different prediction in another batch; float64 inference
            # makes predictions independent of how rows are batched, at a small cost.
            net, dtype = copy.deepcopy(net).double(), torch.float64
        net.eval()
        out = []
        for start in range(0, Xt.shape[0], 4096):
            out.append(net(self._to_tensor(Xt[start:start + 4096]).to(dtype)))
        return torch.cat(out)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # missing="auto" fills NaN in tables (their medians, plus an indicator); "error" refuses it
        tags.input_tags.allow_nan = is_auto(getattr(self, "missing", "auto"))
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
    est.findings_ = []
    return est
