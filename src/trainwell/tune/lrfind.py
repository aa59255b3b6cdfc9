"""The learning-rate range test, made repeatable and honest.

Train from a fresh network while the learning rate grows exponentially from ``start_lr``
to ``end_lr`` over ``num_steps`` mini-batches, record each batch's loss, and read a good
learning rate off the curve: one decade below the learning rate where the smoothed loss is
lowest (the rule of Smith's range test as fastai popularised it; the loss is still falling
fast there, well short of where training blows up).

What the well-known finders get wrong, and what this one does instead:

- *Different suggestions run to run* (fastai#3295, pytorch-lr-finder#68): the test is
  seeded (``random_state``: initial weights and batch order), and it runs ``repeats``
  times with different seeds; when their suggestions disagree by more than a factor of 3
  the curve is called unclear rather than one of them picked.
- *Early spikes and lag* (Lightning#1767): the loss is smoothed with a centred Gaussian
  filter over the finished curve, not a running average, so the smoothed minimum is not
  shifted towards larger learning rates.
- *A silent ``None``* (Lightning#10557): when the curve gives no clear answer (the loss
  never went down, was still going down at the end, or the repeats disagree) the result
  says so in words and ``result.lr`` raises an error that carries that sentence.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.ndimage import gaussian_filter1d
from scipy.signal import lfilter
from sklearn.base import clone

from ..exceptions import ConfigError
from ..train.callbacks import Callback, RunState

__all__ = ["LRFindResult", "lr_find"]

AGREEMENT = 3.0  # largest ratio between the repeats' suggestions that still counts as one answer
MIN_DROP = 0.1  # the smoothed loss must fall at least 10 % below its starting level


#: Where the loss "blew up" is judged on its exponential moving average (fastai's 0.98, bias-corrected),
#: against the lowest average after its first WARMUP steps. A batch's loss is noisy: a batch of 16 rows
#: of a skewed regression target scores anything from 0.3 to 3 times another, so a lightly smoothed
#: curve crossed 4x its lowest value at 1e-7 on healthy tables (Boston housing, unseen).
EMA_BETA = 0.98
WARMUP = 10


def blow_up_step(losses: np.ndarray, diverge: float) -> int | None:
    """The first step at which the averaged loss exceeds ``diverge`` times its lowest so far (``None``: never).

    ``losses`` are finite batch losses in step order; the average is the bias-corrected exponential
    moving average with :data:`EMA_BETA`, and its lowest value is taken from step :data:`WARMUP` on.
    """
    n = len(losses)
    if n <= WARMUP:
        return None
    # avg[i] = beta * avg[i-1] + (1 - beta) * x[i] from 0, divided by 1 - beta^(i+1) (the bias correction)
    ema = lfilter([1 - EMA_BETA], [1, -EMA_BETA], np.asarray(losses, dtype=np.float64))
    ema /= 1 - EMA_BETA ** np.arange(1, n + 1)
    low = np.minimum.accumulate(ema[WARMUP:])
    over = np.flatnonzero(ema[WARMUP:] > diverge * low)
    return int(over[0]) + WARMUP if over.size else None


class _RangeTest(Callback):
    """Set the learning rate of every step and record every step's loss (on the device)."""

    def __init__(self, lrs: np.ndarray, diverge: float) -> None:
        self.lrs = lrs
        self.diverge = diverge
        self.losses: list[torch.Tensor] = []

    def wants_step(self, run: RunState) -> bool:
        return run.step < len(self.lrs)

    def on_step_begin(self, run: RunState) -> None:
        for group in run.optimizer.param_groups:
            group["lr"] = float(self.lrs[run.step])

    def on_step_end(self, run: RunState) -> None:
        self.losses.append(run.batch_loss.detach().float().reshape(()))

    def on_epoch_end(self, run: RunState) -> None:
        # One host read per epoch (not per step): stop at the end of the range, or once
        # the loss has blown up (no later step can change the answer).
        losses = torch.stack(self.losses).cpu().numpy() if self.losses else np.zeros(0)
        at_end = len(losses) >= len(self.lrs)
        broken = len(losses) > 0 and not np.isfinite(losses).all()
        if at_end or broken or blow_up_step(losses, self.diverge) is not None:  # averaged, not one batch (EMA_BETA)
            run.stop_requested = True


@dataclass(eq=False)
class LRFindResult:
    """The curves of a learning-rate range test and what they say.

    Attributes
    ----------
    lrs : ndarray of shape (n_steps,)
        The learning rate of each step.
    losses : ndarray of shape (repeats, n_steps)
        Each repeat's batch losses (NaN after it stopped).
    smoothed : ndarray of shape (repeats, n_steps)
        The smoothed losses, up to where each repeat diverged.
    suggestions : list of float or None
        Each repeat's reading (a decade below its smoothed minimum).
    suggestion : float or None
        The agreed learning rate, or ``None`` when the curve gives no clear answer.
    message : str
        The answer in words.
    """

    lrs: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    suggestions: list[float | None]
    suggestion: float | None
    message: str

    @property
    def clear(self) -> bool:
        """Whether the test gave a clear answer."""
        return self.suggestion is not None

    @property
    def lr(self) -> float:
        """The suggested learning rate; raises ``ConfigError`` (with the reason) when there is none."""
        if self.suggestion is None:
            raise ConfigError(self.message)
        return self.suggestion

    def __str__(self) -> str:
        return self.message

    def plot(self, path: str | Path | None = None) -> Any:
        """Draw the curves (matplotlib Agg); save to ``path`` if given. Returns the Figure."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=(6.4, 4.0))
        FigureCanvasAgg(fig)
        ax = fig.subplots()
        for i in range(len(self.losses)):
            color = f"C{i}"
            ax.plot(self.lrs, self.losses[i], color=color, alpha=0.25, lw=0.8)
            ax.plot(self.lrs, self.smoothed[i], color=color, lw=1.6, label=f"seed {i} (smoothed)")
            if self.suggestions[i] is not None:
                ax.axvline(self.suggestions[i], color=color, ls=":", lw=1)
        if self.suggestion is not None:
            ax.axvline(self.suggestion, color="black", lw=1.5, label=f"suggested lr {self.suggestion:.2g}")
        ax.set_xscale("log")
        finite = self.smoothed[np.isfinite(self.smoothed)]
        if finite.size:
            lo, hi = finite.min(), finite.max()
            ax.set_ylim(lo - 0.05 * (hi - lo), min(hi, lo + 3 * (finite[: max(1, finite.size // 10)].mean() - lo + 1e-12)) + 0.05 * (hi - lo))
        ax.set_xlabel("learning rate (log scale)")
        ax.set_ylabel("training loss per batch")
        ax.set_title("clear answer" if self.clear else "no clear answer", fontsize=10)
        ax.legend(fontsize=8)
        fig.tight_layout()
        if path is not None:
            fig.savefig(path, dpi=100)
        return fig


def _read_curve(lrs: np.ndarray, losses: np.ndarray, sigma: float, diverge: float) -> tuple[np.ndarray, float | None, str | None]:
    """Smooth one curve and read it: (smoothed, suggestion or None, why not)."""
    n = len(lrs)
    finite = np.isfinite(losses)
    end = int(np.argmin(finite)) if not finite.all() else n
    smoothed = np.full(n, np.nan)
    if end < 5:
        return smoothed, None, "the loss was not a number from the first steps on"
    smoothed[:end] = gaussian_filter1d(losses[:end], sigma, mode="nearest")
    # the curve ends where the averaged loss exceeds `diverge` times its lowest value so far
    blown = blow_up_step(losses[:end], diverge)
    stop = end if blown is None else blown
    smoothed[stop:] = np.nan
    curve = smoothed[:stop]
    i_min = int(np.nanargmin(curve))
    start_level = float(np.mean(curve[: max(3, stop // 20)]))
    low = float(curve[i_min])
    if start_level <= 0 or (start_level - low) / start_level < MIN_DROP:
        span = f"the loss did not go down by {MIN_DROP:.0%} anywhere between {lrs[0]:.0e} and {lrs[stop - 1]:.0e}"
        if stop < n:
            return smoothed, None, span + " before it blew up (start the range lower, or check the data and labels)"
        return smoothed, None, span + " (the range may stop too low: raise end_lr; or check the data and labels)"
    if stop == n and i_min >= n - max(2, n // 20):
        return smoothed, None, (
            f"the loss was still going down at the end of the range ({lrs[-1]:.0e}), so there is no limit to read "
            "off (raise end_lr)"
        )
    return smoothed, float(lrs[i_min] / 10), None


def summarise(suggestions: list[float | None], reasons: list[str]) -> tuple[float | None, str]:
    """The answer of several repeats: their geometric mean when they agree, else ``None`` and why."""
    if reasons:
        return None, "No clear answer: " + reasons[0] + "; look at the plot and choose by eye, or search with trainwell tune."
    got = np.array(suggestions, dtype=float)
    spread = float(got.max() / got.min())
    if spread > AGREEMENT:
        return None, (
            f"No clear answer: the {len(got)} seeds read {', '.join(f'{s:.2g}' for s in got)}, which differ by a "
            f"factor of {spread:.0f}; the curve is too noisy to read (use more num_steps or a larger batch), "
            "or search with trainwell tune."
        )
    value = float(f"{math.exp(np.mean(np.log(got))):.2g}")
    agree = f"the {len(got)} seeds agree within a factor of {spread:.1f}" if len(got) > 1 else "one seed only"
    return value, f"Suggested learning rate {value:.2g}: a decade below where the smoothed loss is lowest; {agree}."


def lr_find(estimator: Any, X: Any, y: Any, *, start_lr: float = 1e-7, end_lr: float = 10.0, num_steps: int = 200,
            repeats: int = 3, smoothing: float = 3.0, diverge: float = 4.0, random_state: int = 0,
            plot: str | Path | None = None) -> LRFindResult:
    """Learning-rate range test on a trainwell estimator.

    Parameters
    ----------
    estimator : NeuralNetClassifier or NeuralNetRegressor
        Its other parameters (network, optimizer, batch size, regularisation) are used as given.
    X, y : array-like
        Training data (every row is used for training; no validation split).
    start_lr, end_lr : float, default=1e-7, 10
        The range, traversed exponentially.
    num_steps : int, default=200
        Mini-batch steps over the range (about 25 per decade by default).
    repeats : int, default=3
        Runs with seeds ``random_state``, ``random_state + 1``, ...; their suggestions must
        agree within a factor of 3 for the answer to count as clear.
    smoothing : float, default=3.0
        Width (standard deviation, in steps) of the centred Gaussian smoothing.
    diverge : float, default=4.0
        A curve ends where the smoothed loss exceeds this multiple of its lowest value.
    random_state : int, default=0
    plot : str or Path, optional
        Save the figure here (PNG).

    Returns
    -------
    LRFindResult
        ``suggestion`` is a learning rate, or ``None`` with ``message`` saying why.
    """
    params = estimator.get_params(deep=False) if hasattr(estimator, "get_params") else {}
    if "callbacks" not in params:
        raise ConfigError(f"lr_find needs a trainwell estimator (NeuralNetClassifier or NeuralNetRegressor), not {type(estimator).__name__}.")
    if not (isinstance(start_lr, (int, float)) and isinstance(end_lr, (int, float)) and 0 < start_lr < end_lr):
        raise ConfigError(f"start_lr={start_lr!r} and end_lr={end_lr!r} must be numbers with 0 < start_lr < end_lr.")
    for name, value, low in (("num_steps", num_steps, 20), ("repeats", repeats, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ConfigError(f"{name}={value!r} must be an integer of at least {low}.")
    if not diverge > 1:
        raise ConfigError(f"diverge={diverge!r} must be above 1 (a multiple of the lowest loss).")
    lrs = start_lr * (end_lr / start_lr) ** (np.arange(num_steps) / (num_steps - 1))
    all_losses = np.full((repeats, num_steps), np.nan)
    all_smoothed = np.full((repeats, num_steps), np.nan)
    suggestions: list[float | None] = []
    reasons: list[str] = []
    for r in range(repeats):
        test = _RangeTest(lrs, diverge)
        est = clone(estimator).set_params(lr=float(start_lr), lr_schedule="none", early_stopping=False,
                                          max_epochs=100_000, random_state=random_state + r, callbacks=[test], verbose=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(X, y)
        losses = torch.stack(test.losses).cpu().numpy()[:num_steps] if test.losses else np.zeros(0)
        all_losses[r, : len(losses)] = losses
        smoothed, suggestion, why = _read_curve(lrs, all_losses[r], smoothing, diverge)
        all_smoothed[r] = smoothed
        suggestions.append(suggestion)
        if why:
            reasons.append(why)
    suggestion, message = summarise(suggestions, reasons)
    result = LRFindResult(lrs, all_losses, all_smoothed, suggestions, suggestion, message)
    if plot is not None:
        result.plot(plot)
    return result
