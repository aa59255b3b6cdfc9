"""The hot loop: epochs over device-resident tensors, with a validation pass per epoch.

Where the speed comes from (``docs/architecture.md``, "The hot loop"): the data is moved to
the device once; each epoch draws one permutation and each step gathers its rows into a
reused batch buffer; losses and metrics accumulate on the device and are read once per
epoch (no host synchronisation inside a step). Parameters and gradients live in one flat
buffer (:mod:`.flat`) updated by one fused optimizer call (:mod:`.update`); an MLP trains
with a hand-derived backward pass (:mod:`.fast_mlp`). On CUDA, full unwatched steps are
replayed from a captured CUDA graph (:mod:`.cuda_graph`), one launch per batch. Observers
are asked ahead of time whether they want a step, so unwatched steps pay nothing for them;
watched steps run on autograd over the same parameters and optimizer state.

:func:`fit_loop` only orders the work: :mod:`.plan` decides how the call trains,
:mod:`.epoch` runs the epochs and their bookkeeping, :mod:`.steps` builds the steps.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from .callbacks import Callback
from .config import TrainConfig
from .epoch import EpochRunner, evaluate
from .epoch_end import end_epoch
from .history import History
from .plan import StepObservers, choose_paths, plan_epochs, start_run
from .state import RunState
from .steps import (
    Steps,
    bf16_supported,
    flatten_parameters,
    make_autograd_step,
    make_steps,
    uses_channels_last,
)

if TYPE_CHECKING:
    from .distributed import Shard

# TrainConfig, evaluate and the step builders lived here before the loop was split up: the
# old import paths stay
__all__ = [
    "Steps",
    "TrainConfig",
    "bf16_supported",
    "evaluate",
    "fit_loop",
    "flatten_parameters",
    "make_autograd_step",
    "make_steps",
    "uses_channels_last",
]


def _cudnn_autotuned(fit: Callable[..., RunState]) -> Callable[..., RunState]:
    """Run ``fit`` with cuDNN's autotuner on when it trains convolutions on CUDA, then restore it.

    The autotuner times the convolution algorithms once per input shape and keeps the
    fastest; a training run feeds the same shapes thousands of times, so it pays off.
    """
    @functools.wraps(fit)
    def wrapper(net: nn.Module, *args: Any, **kwargs: Any) -> RunState:
        first = next(net.parameters(), None)
        if (first is None or not first.is_cuda or torch.backends.cudnn.deterministic
                or torch.are_deterministic_algorithms_enabled()
                or not any(isinstance(m, nn.modules.conv._ConvNd) for m in net.modules())):
            # whoever asked for deterministic algorithms keeps them: the autotuner's pick can change per run
            return fit(net, *args, **kwargs)
        before = torch.backends.cudnn.benchmark
        torch.backends.cudnn.benchmark = True
        try:
            return fit(net, *args, **kwargs)
        finally:
            torch.backends.cudnn.benchmark = before

    return wrapper


@_cudnn_autotuned
def fit_loop(net: nn.Module, loss_fn, train: tuple[torch.Tensor, ...],
             val: tuple[torch.Tensor, ...] | None, config: TrainConfig,
             callbacks: Sequence[Callback] = (), generator: torch.Generator | None = None,
             run: RunState | None = None, epochs: int | None = None,
             history: History | None = None, shard: Shard | None = None,
             rows: torch.Tensor | None = None) -> RunState:
    """Train ``net`` on device-resident ``train`` tensors for up to ``config.max_epochs`` epochs.

    Each epoch draws one permutation; each step gathers its rows into a reused batch
    buffer (the data set is never copied). Steps nobody watches run the fast MLP step
    when the network allows it (:mod:`trainwell.train.fast_mlp`), every other step the
    autograd step; ``run.fast_path`` says which ran and why. On CUDA the full
    unwatched steps replay from CUDA graphs; ``run.cuda_graphs`` holds ``{"used",
    "reason", "replays"}``. The graphs are freed when the call returns (they are bound to
    its tensors); a continued call captures its own.

    Parameters
    ----------
    net : nn.Module
    loss_fn : trainwell.nn.Loss
    train, val : (X, y) or (X, y, sample_weight) tensors on the training device
        ``val`` may be ``None`` (no validation, no early stopping). With a third tensor (one
        non-negative weight per row of ``X``) every step's loss is the weighted mean of
        :mod:`trainwell.nn.losses` (on every path: autograd, fast MLP, CUDA graphs), and the
        epoch's training and validation numbers are weighted too.
    config : TrainConfig
    callbacks : sequence of Callback
    generator : torch.Generator, optional
        Source of the per-epoch permutations (on the data's device).
    run : RunState, optional
        Continue an earlier run (``partial_fit``): optimizer, scheduler, history and what
        the observers recorded are kept.
    epochs : int, optional
        Train this many more epochs instead of up to ``config.max_epochs``.
    history : History, optional
        Earlier epochs to continue counting from (a new optimizer over loaded weights).
    shard : trainwell.train.distributed.Shard, optional
        Under torchrun: this rank's part of the run. Each rank trains on its slice of every
        global batch through DistributedDataParallel, on the autograd step (see
        :mod:`trainwell.train.distributed`).
    rows : tensor of int64, optional
        Train on these rows of ``train`` only (``X`` and ``y`` hold every row, e.g. a
        memory-mapped file of which the validation rows are the rest); each epoch permutes
        them and gathers its batches straight from ``X``, which is never copied.

    Returns
    -------
    RunState
        With ``history`` filled in and the best weights restored when early stopping ran.
    """
    X = train[0]
    plan = plan_epochs(net, X.shape[0] if rows is None else rows.numel(), config.batch_size, shard)
    if shard is not None:
        # each rank trains its slice of every global batch through DDP. The fast MLP step
        # bypasses autograd and with it DDP's gradient all-reduce: every step is an autograd step.
        loss_fn, config = shard.wrap(net, loss_fn), dataclasses.replace(config, fast=False)
    run = start_run(net, loss_fn, config, plan, 0 if val is None else val[0].shape[0], run, history)
    steps, graph_reason = choose_paths(net, loss_fn, run, config, train, shard is not None)
    runner = EpochRunner(run, train, rows, val, plan, steps, graph_reason, config, loss_fn, generator, shard)
    last_epoch = run.epoch + (epochs if epochs is not None else config.max_epochs - run.epoch)
    for cb in callbacks:
        cb.on_fit_begin(run)
    observers = StepObservers.of(callbacks)
    net.train()
    while run.epoch < last_epoch and not run.stop_requested:
        run.epoch += 1
        started = time.perf_counter()
        for cb in callbacks:
            cb.on_epoch_begin(run)
        seen = runner.train_steps(runner.start_epoch(), observers)
        end_epoch(run, runner.epoch_row(seen), callbacks, shard, started)
    runner.finish()  # frees the call's CUDA graphs
    if shard is not None:
        from .distributed import release_ddp

        release_ddp(run, loss_fn)
    for cb in callbacks:
        cb.on_fit_end(run)
    net.eval()
    return run
