"""What the experiments share: small real data sets, two observers of training, activation
probes, and number formatting for the sentences."""

from __future__ import annotations

import functools
import warnings
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

from ..train import Callback

# ------------------------------------------------------------------------------ data


@functools.lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    X, y = load_digits(return_X_y=True)
    return X.astype(np.float32), y.astype(np.int64)


def digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 handwritten digits, 8x8 pixels (0-16), as float32 and int64."""
    X, y = _digits()
    return X.copy(), y.copy()


@functools.lru_cache(maxsize=1)
def _mnist() -> tuple[np.ndarray, np.ndarray]:
    from ..data import load_mnist5k

    return load_mnist5k()


def mnist() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 real MNIST digits of :func:`trainwell.data.load_mnist5k` (loaded once per process)."""
    X, y = _mnist()
    return X.copy(), y.copy()


def images(quick: bool) -> tuple[np.ndarray, np.ndarray, str]:
    """MNIST 5k for a full run, the 8x8 digits for a quick one; with the data set's name."""
    if quick:
        return (*digits(), "load_digits (1,797 8x8 digits)")
    return (*mnist(), "MNIST 5k (5,000 28x28 digits)")


def split(X: np.ndarray, y: np.ndarray, test_size: float | int, seed: int):
    """Stratified ``train_test_split``: ``X_train, X_test, y_train, y_test``."""
    return train_test_split(X, y, test_size=test_size, stratify=y, random_state=seed)


def per_class(y: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Indices of ``n`` random rows of every class of ``y``."""
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.choice(np.flatnonzero(y == c), n, replace=False) for c in np.unique(y)])


def fit_quietly(est, X, y):
    """Fit ``est``, silencing the warnings an experiment provokes on purpose (zero init, sigmoid)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(X, y)


# ------------------------------------------------------------------------- observers


class EpochEval(Callback):
    """Evaluate the network on extra data after every epoch: adds ``{key}_loss`` and
    ``{key}_accuracy`` to the epoch's history row.

    The estimator's own validation split serves early stopping; this observer measures a
    held-out test set the run never chooses anything on.
    """

    def __init__(self, est, X: np.ndarray, y: np.ndarray, key: str = "test") -> None:
        self.est, self.X, self.y, self.key = est, X, y, key
        self._data: tuple[torch.Tensor, torch.Tensor] | None = None

    def on_fit_begin(self, run) -> None:
        est = self.est
        self._data = est.to_tensors(self.X, self.y)

    @torch.no_grad()
    def on_epoch_end(self, run) -> None:
        X, y = self._data
        was_training = run.net.training
        run.net.eval()
        scores = run.net(X)
        run.net.train(was_training)
        row = run.history[-1]
        row[f"{self.key}_loss"] = float(run.loss_fn(scores, y))
        row[f"{self.key}_accuracy"] = float((scores.argmax(1) == y).float().mean())


class FirstStepLoss(Callback):
    """Record the loss of the very first training batch, before any update."""

    def __init__(self) -> None:
        self.loss: float | None = None

    def wants_step(self, run) -> bool:
        return run.step == 0

    def on_step_end(self, run) -> None:
        self.loss = float(run.batch_loss)


class UpdateRatio(Callback):
    """Per epoch, the ratio ``|update| / |weights|`` of the first hidden layer's weights over
    one training step (the step in the middle of the epoch): the notes' "ratio of weights to
    weight updates", whose usual healthy value is about 1e-3.
    """

    def __init__(self) -> None:
        self._before: torch.Tensor | None = None
        self._ratio: torch.Tensor | None = None  # the epoch's ratio, kept on the device until its end

    def _weight(self, run) -> torch.Tensor:
        return next(m for m in run.net.features if isinstance(m, nn.Linear)).weight

    def wants_step(self, run) -> bool:
        return run.step % run.steps_per_epoch == run.steps_per_epoch // 2

    def on_step_begin(self, run) -> None:
        self._before = self._weight(run).detach().clone()

    def on_step_end(self, run) -> None:
        w = self._weight(run).detach()
        ratio = torch.linalg.vector_norm(w - self._before) / torch.linalg.vector_norm(self._before).clamp_min(1e-12)
        self._ratio = ratio

    def on_epoch_end(self, run) -> None:
        ratio, self._ratio = self._ratio, None
        run.history[-1]["update_ratio"] = None if ratio is None else float(ratio)


class FirstStepGradients(Callback):
    """Record the gradient norm of every linear layer's weights (hidden layers, then the
    head) on the very first training batch, before any update."""

    def __init__(self) -> None:
        self.norms: list[float] = []

    def wants_step(self, run) -> bool:
        return run.step == 0

    def on_step_end(self, run) -> None:
        layers = [m for m in run.net.features if isinstance(m, nn.Linear)] + [run.net.head]
        self.norms = [float(torch.linalg.vector_norm(m.weight.grad)) for m in layers]


# -------------------------------------------------------------------------- probes

ACTIVATION_TYPES = (nn.ReLU, nn.LeakyReLU, nn.PReLU, nn.Tanh, nn.Sigmoid)


@torch.no_grad()
def hidden_outputs(net: nn.Module, X: torch.Tensor, train_mode: bool = False) -> list[torch.Tensor]:
    """The output of every activation in ``net.features`` for the inputs ``X``, one tensor per layer.

    Forward hooks are attached for this one pass and removed after it. ``train_mode=True``
    normalises batch norm with the batch's own statistics (as training does); use it only
    on an untrained network, since it also updates the running statistics.
    """
    outputs: list[torch.Tensor] = []
    handles = [m.register_forward_hook(lambda _m, _i, out: outputs.append(out.detach().clone()))
               for m in net.features if isinstance(m, ACTIVATION_TYPES)]
    was_training = net.training
    net.train(train_mode)
    try:
        net(X)
    finally:
        net.train(was_training)
        for h in handles:
            h.remove()
    return outputs


def saturated_fraction(out: torch.Tensor, activation: str) -> float:
    """Share of (sample, unit) pairs where the activation's local gradient is below 10 % of its maximum.

    sigmoid: ``s (1 - s) < 0.025`` (s below 0.026 or above 0.974); tanh: ``1 - t^2 < 0.1``
    (``|t| > 0.949``); ReLU: a zero output (its gradient is exactly 0 there).
    """
    if activation == "sigmoid":
        grad = out * (1 - out) / 0.25
    elif activation == "tanh":
        grad = 1 - out * out
    else:
        grad = (out > 0).float()
    return float((grad < 0.1).float().mean())


def dead_fraction(out: torch.Tensor) -> float:
    """Share of units whose output is zero for every sample (dead ReLUs)."""
    return float((out <= 0).all(dim=0).float().mean())


def network_input(est, X: np.ndarray) -> torch.Tensor:
    """``X`` scaled the way ``est`` scales its inputs, as a tensor on its device."""
    return est.to_tensors(X)[0]


# ------------------------------------------------------------------- words, figures


def pct(value: float, digits: int = 1) -> str:
    """0.951 -> '95.1 %'."""
    return f"{100 * value:.{digits}f} %"


def num(value: float) -> str:
    """A number in at most 3 significant digits, in plain or scientific notation as fits."""
    if value is None or not np.isfinite(value):
        return "diverged" if value is not None else "n/a"
    if value != 0 and (abs(value) < 1e-2 or abs(value) >= 1e4):
        return f"{value:.2e}"
    return f"{value:.3g}"


def verdict(holds: bool | None) -> str:
    """The end of a summary sentence."""
    if holds is None:
        return "see the numbers"
    return "the notes' claim holds on this data" if holds else "the notes' claim does not hold here"


def figure(ncols: int = 1, width: float = 5.0, height: float = 3.6, **kw: Any) -> tuple[Figure, Any]:
    """A figure (no pyplot: the Agg canvas, nothing global) with ``ncols`` axes side by side."""
    fig = Figure(figsize=(width * ncols, height), layout="constrained")
    axes = fig.subplots(1, ncols, **kw)
    return fig, axes


def curve(history, key: str) -> list[float]:
    """One column of a history, NaN where an epoch lacks it (diverged runs stay plottable)."""
    return [float("nan") if v is None else float(v) for v in history.column(key)]
