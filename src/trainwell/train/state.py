"""What a run is while it trains: the one object the loop shares with its observers.

:class:`RunState` has a typed field for everything the loop and trainwell's own observers
report (which training step ran, whether CUDA graphs replayed, what the probes measured at
the start, whether the run diverged, where a step's time goes), so a reader finds each one
by name and a type checker knows its shape. What the loop keeps for itself from one
``fit_loop`` call to the next lives in the private :class:`LoopInternals` slot. The
``extra`` dict is left to users' own callbacks: trainwell never reads or writes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypedDict

import torch
from torch import nn

from .history import History

if TYPE_CHECKING:
    import numpy as np

    from .flat import FlatParameters


class FastPathInfo(TypedDict):
    """Which step trained the unwatched steps (``RunState.fast_path``)."""

    #: Whether the hand-derived MLP step (:mod:`trainwell.train.fast_mlp`) ran them.
    used: bool
    #: Why it did not, or ``None``.
    reason: str | None


class CudaGraphsInfo(TypedDict, total=False):
    """Whether full unwatched steps replayed from CUDA graphs (``RunState.cuda_graphs``)."""

    used: bool
    #: Why graphs did not run (or some steps ran eagerly), or ``None``.
    reason: str | None
    #: Steps replayed from a captured graph in the last ``fit_loop`` call.
    replays: int


class Divergence(TypedDict):
    """Where a run diverged and which weights :class:`~trainwell.diagnose.probes.DivergenceGuard` put back."""

    epoch: int
    loss: float
    restored_epoch: int


class FirstLayerWeights(TypedDict):
    """The first weight layer's weights before and after training, for the report's pictures."""

    layer: str
    initial: np.ndarray
    #: ``None`` until the fit ends.
    final: np.ndarray | None


@dataclass
class LoopInternals:
    """What the loop keeps on a run from one ``fit_loop`` call to the next (not for observers).

    Attributes
    ----------
    flat : FlatParameters or None
        The one buffer holding every parameter and gradient, which the optimizer updates
        (``None`` without flat parameters: ``config.fast`` off, or a network that cannot
        be flattened).
    schedule_when : {"batch", "epoch", "plateau"} or None
        When the learning-rate scheduler steps (``None``: no schedule).
    """

    flat: FlatParameters | None = None
    schedule_when: Literal["batch", "epoch", "plateau"] | None = None


#: What trainwell's loop and probes once kept in ``run.extra`` and now report in typed fields.
MOVED_TO_FIELDS = ("fast_path", "cuda_graphs", "initial_loss", "initial_grad_rms", "initial_weight_rms",
                   "first_layer_weights", "diverged", "step_time")


class UserExtra(dict):
    """``RunState.extra``: a plain dict for users' callbacks, which names the new place of a
    value trainwell used to keep here (``run.extra["fast_path"]`` is now ``run.fast_path``)."""

    def __missing__(self, key: str) -> Any:
        if key in MOVED_TO_FIELDS:
            raise KeyError(f"run.extra[{key!r}] is now a field of the run: read run.{key}")
        raise KeyError(key)


@dataclass
class RunState:
    """What observers see of a run in progress, and what a finished run reports.

    The loop keeps the counters (``epoch``, ``step``, ``steps_per_epoch``...) and sets
    ``batch`` and ``batch_loss`` around the steps a callback asked to watch. The fields
    after them are reports: the loop's own (``fast_path``, ``cuda_graphs``) and those of
    trainwell's observers, each ``None`` until its observer ran.

    Attributes
    ----------
    fast_path : dict
        ``{"used", "reason"}``: whether unwatched steps ran the hand-derived MLP step, and
        why not (set by the loop at the start of every call).
    cuda_graphs : dict
        ``{"used", "reason", "replays"}``: whether full unwatched steps replayed from CUDA
        graphs, why not, and how many did in the last call.
    initial_loss : float or None
        The loss of the very first training step, i.e. of the untrained network
        (:class:`~trainwell.diagnose.probes.TrendProbe`).
    initial_batch_energy : float or None
        The mean squared target of that first batch, as the network sees the targets (a
        regression's): what an untrained output near zero scores on it under a squared loss.
        One batch of a skewed target can sit far from the whole table's value; this is the
        first step's loss's own reference (:class:`~trainwell.diagnose.probes.TrendProbe`).
    initial_grad_rms : dict of str to float, or None
        Each layer's gradient rms at the first step of training
        (:class:`~trainwell.diagnose.probes.GradientProbe`).
    initial_weight_rms : dict of str to float, or None
        Each layer's weight rms before training (:class:`~trainwell.diagnose.probes.WeightProbe`;
        a continued run keeps the first fit's).
    first_layer_weights : dict or None
        ``{"layer", "initial", "final"}``: the first weight layer's weights as numpy arrays
        at the start and the end of training (:class:`~trainwell.diagnose.probes.WeightProbe`).
    diverged : dict or None
        ``{"epoch", "loss", "restored_epoch"}`` when
        :class:`~trainwell.diagnose.probes.DivergenceGuard` put earlier weights back.
    step_time : dict or None
        Where a training step's time goes (:class:`~trainwell.train.StepProfiler`'s
        ``result``).
    extra : dict
        Free for users' own callbacks to leave things in. Trainwell itself never reads or
        writes it.
    """

    net: nn.Module
    optimizer: torch.optim.Optimizer
    loss_fn: Any
    config: Any
    history: History = field(default_factory=History)
    scheduler: Any = None
    epoch: int = 0
    step: int = 0
    steps_per_epoch: int = 0
    n_train: int = 0
    n_val: int = 0
    stop_requested: bool = False
    stop_reason: str | None = None
    best_epoch: int | None = None
    batch: tuple[torch.Tensor, torch.Tensor] | None = None
    batch_loss: torch.Tensor | None = None
    # ------------------------------------------------ reports of the loop and of the observers
    fast_path: FastPathInfo = field(default_factory=lambda: FastPathInfo(used=False, reason=None))
    cuda_graphs: CudaGraphsInfo = field(default_factory=lambda: CudaGraphsInfo(used=False, reason=None, replays=0))
    initial_loss: float | None = None
    initial_batch_energy: float | None = None
    initial_grad_rms: dict[str, float] | None = None
    initial_weight_rms: dict[str, float] | None = None
    first_layer_weights: FirstLayerWeights | None = None
    diverged: Divergence | None = None
    step_time: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=lambda: UserExtra())
    # the loop's own, out of the constructor and the repr: observers have no business here
    _loop: LoopInternals = field(default_factory=LoopInternals, init=False, repr=False, compare=False)
