"""How a ``fit_loop`` call will train, decided once before its first step.

- :func:`plan_epochs`: how an epoch splits into steps (on this process, under torchrun).
- :func:`start_run`: a new run (flat parameters, optimizer, schedule), or a continued one
  brought up to date with this call's data.
- :func:`choose_paths`: the call's steps, and whether the fast MLP step and CUDA graphs
  apply (``run.fast_path``, ``run.cuda_graphs``).
- :class:`StepObservers`: the callbacks a step must call, found once so that the others
  cost the steps nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from .callbacks import Callback, overrides
from .config import TrainConfig
from .cuda_graph import graph_support
from .history import History
from .optim import make_flat_optimizer, make_optimizer, make_scheduler
from .state import LoopInternals, RunState
from .steps import Steps, flatten_parameters, make_steps

if TYPE_CHECKING:
    from .distributed import Shard


@dataclass(frozen=True)
class EpochPlan:
    """How an epoch splits into steps on this process.

    Attributes
    ----------
    n : int
        Rows this process trains on per epoch.
    batch_size : int
        Rows of a full step on this process.
    steps_per_epoch : int
        Steps per epoch (equal on every process).
    n_rows : int
        Training rows of the whole run (all processes together): each epoch permutes them.
    """

    n: int
    batch_size: int
    steps_per_epoch: int
    n_rows: int


def plan_epochs(net: nn.Module, n_rows: int, batch_size: int, shard: Shard | None = None) -> EpochPlan:
    """Split an epoch of ``n_rows`` training rows into steps of ``batch_size`` rows.

    Batch norm cannot normalise a batch of one sample in training mode: with it, a last
    batch of size 1 is left out of that epoch (a different sample each epoch). Under
    torchrun (``shard``) each process trains on its slice of every global batch.
    """
    bs = min(batch_size, n_rows)
    n_full, remainder = divmod(n_rows, bs)
    has_bn = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.modules())
    run_remainder = remainder >= 2 or (remainder == 1 and not has_bn)
    if n_full == 0 and not run_remainder:
        run_remainder = True
    if shard is not None:
        # from here on the rows and the batch size count this rank's rows
        n, bs, steps = shard.plan(n_rows, bs, min_rows=2 if has_bn else 1)
        return EpochPlan(n, bs, steps, n_rows)
    return EpochPlan(n_rows, bs, n_full + int(run_remainder and remainder > 0), n_rows)


def start_run(net: nn.Module, loss_fn: Any, config: TrainConfig, plan: EpochPlan, n_val: int,
              run: RunState | None = None, history: History | None = None) -> RunState:
    """A new run over ``net``, or ``run`` continued with this call's data.

    A new run gets flat parameters where ``config.fast`` allows, its optimizer and its
    learning-rate schedule, and counts on from ``history`` when given. A continued run
    keeps all of that and plans on this call's data (``partial_fit`` on chunks of another
    size): monitors, the progress bar and the step profiler read these counts.
    """
    if run is None:
        flat = flatten_parameters(net, config)
        if flat is not None:
            optimizer = make_flat_optimizer(config.optimizer, flat, config.lr, config.momentum, config.l2)
        else:
            optimizer = make_optimizer(config.optimizer, net, config.lr, config.momentum, config.l2)
        scheduler, when = make_scheduler(config.lr_schedule, optimizer, config.max_epochs, plan.steps_per_epoch)
        run = RunState(net=net, optimizer=optimizer, loss_fn=loss_fn, config=config, scheduler=scheduler,
                       steps_per_epoch=plan.steps_per_epoch, n_train=plan.n_rows, n_val=n_val)
        run._loop = LoopInternals(flat=flat, schedule_when=when)
        if history is not None:
            run.history = History(history)
            run.epoch = len(history)
    else:
        run.stop_requested = False
        run.stop_reason = None
        run.steps_per_epoch, run.n_train, run.n_val = plan.steps_per_epoch, plan.n_rows, n_val
    flat = run._loop.flat
    if flat is not None and not flat.intact():
        flat.bind()
    return run


def choose_paths(net: nn.Module, loss_fn: Any, run: RunState, config: TrainConfig,
                 train: tuple[torch.Tensor, torch.Tensor], distributed: bool) -> tuple[Steps, str | None]:
    """The call's steps, and why its full unwatched steps cannot replay from CUDA graphs.

    Sets ``run.fast_path`` (``{"used", "reason"}``) and ``run.cuda_graphs`` (``{"used",
    "reason"}``; :meth:`~trainwell.train.epoch.EpochRunner.finish` adds the replays).

    Returns
    -------
    (steps, graph_reason) : (Steps, str or None)
        ``graph_reason`` is ``None`` when graphs apply; the learning rates then reach the
        fused update as device tensors, which a replay reads afresh.
    """
    steps = make_steps(net, loss_fn, run, config, train)
    run.fast_path = {"used": steps.fast is not None, "reason": steps.fast_reason}
    reason = graph_support(train[0], config, run._loop.flat, steps.update, distributed)
    if reason is None and run._loop.schedule_when == "batch" and getattr(run.scheduler, "cycle_momentum", False):
        reason = "the one-cycle schedule moves the momentum, which the fused kernel takes as a number"
    if reason is None:
        steps.update.use_tensor_lr()
    run.cuda_graphs = {"used": reason is None, "reason": reason}
    return steps, reason


@dataclass(frozen=True)
class StepObservers:
    """The callbacks a step calls: found once per call, so the others cost the steps nothing.

    Attributes
    ----------
    askers : tuple of Callback
        Those with their own :meth:`~Callback.wants_step`: asked before every step, or only
        before the steps their :meth:`~Callback.steps_wanted` names (see :meth:`schedule`).
    timers : tuple of Callback
        Those with their own :meth:`~Callback.before_step`: told of every step.
    """

    askers: tuple[Callback, ...]
    timers: tuple[Callback, ...]

    @classmethod
    def of(cls, callbacks: Sequence[Callback]) -> StepObservers:
        """The observers among ``callbacks`` (call after ``on_fit_begin``)."""
        return cls(tuple(cb for cb in callbacks if overrides(cb, "wants_step")),
                   tuple(cb for cb in callbacks if overrides(cb, "before_step")))

    def schedule(self, run: RunState) -> frozenset[int] | None:
        """The steps of the coming epoch (0-based) before which any asker may want to watch;
        ``None`` when some asker must be asked before every step. Called at the epoch's start,
        after ``on_epoch_begin``: the other steps need no question (a few microseconds a step
        on a small table, where a step is a hundred)."""
        steps: set[int] = set()
        for cb in self.askers:
            named = getattr(cb, "steps_wanted", None)  # a duck-typed callback may lack it
            wanted = None if named is None else named(run)
            if wanted is None:
                return None
            steps.update(wanted)
        return frozenset(steps)
