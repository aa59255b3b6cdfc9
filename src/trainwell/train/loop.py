"""The hot loop: epochs over device-resident tensors, with a validation pass per epoch.

Where the speed comes from (DESIGN.md): the data is moved to the device once; each
epoch draws one permutation and each step gathers its rows into a reused batch buffer;
losses and metrics accumulate on the device and are read once per epoch (no host
synchronisation inside a step). Parameters and gradients live in one flat buffer
(:mod:`.flat`) updated by one fused optimizer call (:mod:`.update`); an MLP trains with
a hand-derived backward pass (:mod:`.fast_mlp`). On CUDA, full unwatched steps are
replayed from a captured CUDA graph (:mod:`.cuda_graph`), one launch per batch. Observers
are asked ahead of time whether they want a step, so unwatched steps pay nothing for them;
watched steps run on autograd over the same parameters and optimizer state.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from .callbacks import Callback, RunState
from .cuda_graph import GraphCache, GraphedSteps, graph_support
from .fast_mlp import FastMLPStep, fast_mlp_support, has_hooks
from .flat import FlatParameters
from .history import History
from .optim import (
    current_lr,
    decayed_parameters,
    make_flat_optimizer,
    make_optimizer,
    make_scheduler,
)
from .update import FlatUpdate

if TYPE_CHECKING:
    from .distributed import Shard


@dataclass
class TrainConfig:
    """Everything the loop needs to know besides the network, the loss and the data."""

    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    l2: float = 1e-4
    l1: float = 0.0
    lr_schedule: Any = "none"
    batch_size: int = 128
    max_epochs: int = 100
    grad_clip: float | None = None
    bf16: bool = False
    classification: bool = True
    eval_batch_size: int = 8192
    #: Flat parameters with one fused update, and the hand-derived MLP step where it
    #: applies; ``False`` keeps per-layer parameters and autograd for every step.
    fast: bool = True
    #: Turns a gathered batch of stored samples into the network's input on the device
    #: (e.g. :class:`trainwell.data.on_device.DeviceScaler` for data kept as uint8).
    prepare: Callable[[torch.Tensor], torch.Tensor] | None = None
    #: Augments a prepared training batch on the device, drawing from the loop's
    #: generator (e.g. :class:`trainwell.data.augment.Augment`); never used on validation.
    augment: Callable[[torch.Tensor, torch.Generator | None], torch.Tensor] | None = None
    #: On CUDA, replay full-size unwatched steps from a captured CUDA graph
    #: (:mod:`trainwell.train.cuda_graph`); ``False`` launches every kernel from Python.
    cuda_graphs: bool = True
    #: Feed 2-D convolutions images in channels-last layout (and keep their weights so),
    #: the layout of cuDNN's and oneDNN's fastest kernels (see :func:`uses_channels_last`).
    channels_last: bool = True


def _nothing() -> None:
    return None


def _replayable(net: nn.Module, run: RunState) -> bool:
    """Whether the next steps may replay a graph: no hooks on the network.

    A hook is Python: a replay would skip it (it ran once, at capture). Steps run eagerly
    while someone has hooked the network, and the run says so.
    """
    if not has_hooks(net):
        return True
    run.extra["cuda_graphs"]["hooked"] = True
    return False


def _metric_name(classification: bool) -> str:
    return "accuracy" if classification else "r2"


@torch.no_grad()
def evaluate(net: nn.Module, loss_fn, X: torch.Tensor, y: torch.Tensor, classification: bool,
             batch_size: int = 8192, prepare: Callable[[torch.Tensor], torch.Tensor] | None = None,
             channels_last: bool = False) -> torch.Tensor:
    """Mean loss and accuracy (or R²) of ``net`` on ``(X, y)``, as a 2-element device tensor.

    ``prepare`` turns each stored batch into the network's input (see :class:`TrainConfig`);
    ``channels_last`` passes images in channels-last layout.
    """
    was_training = net.training
    net.eval()
    loss_sum = torch.zeros((), device=X.device)
    hits = torch.zeros((), device=X.device)
    sse = torch.zeros((), device=X.device)
    for start in range(0, X.shape[0], batch_size):
        xb, yb = X[start:start + batch_size], y[start:start + batch_size]
        if prepare is not None:
            xb = prepare(xb)
        if xb.ndim == 4 and channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        scores = net(xb)
        loss_sum += loss_fn(scores, yb) * xb.shape[0]
        if classification:
            hits += (scores.argmax(1) == yb).sum()
        else:
            sse += ((scores - yb) ** 2).sum()
    net.train(was_training)
    n = X.shape[0]
    if classification:
        metric = hits / n
    else:
        sst = ((y - y.mean(0)) ** 2).sum().clamp_min(1e-12)
        metric = 1 - sse / sst
    return torch.stack([loss_sum / n, metric])


def make_autograd_step(net: nn.Module, loss_fn, optimizer: torch.optim.Optimizer, config: TrainConfig,
                       scheduler: Any, per_batch_schedule: bool, flat: FlatParameters | None = None,
                       update: Callable[[], None] | None = None) -> Callable:
    """The general training step on autograd: forward, backward, regularise, update.

    With ``flat`` and ``update`` (flat parameters), the gradients accumulate into the
    flat gradient buffer and ``update`` applies L1, clipping and the optimizer step, so
    this step and the fast step share parameters and optimizer state exactly.

    Returns a function ``step(xb, yb) -> (loss, scores or None)`` whose outputs stay on
    the device.
    """
    device_type = next(net.parameters()).device.type
    autocast = config.bf16 and device_type in ("cuda", "cpu")

    def forward(xb: torch.Tensor, yb: torch.Tensor):
        if autocast:
            # no weight-cast cache: a cache entry would outlive a captured graph's replay
            with torch.autocast(device_type, dtype=torch.bfloat16, cache_enabled=False):
                return loss_fn.batch(net, xb, yb)
        return loss_fn.batch(net, xb, yb)

    if flat is not None and update is not None:
        def flat_step(xb: torch.Tensor, yb: torch.Tensor):
            loss, scores = forward(xb, yb)
            flat.grad.zero_()
            flat.restore_grads()
            loss.backward()  # accumulates in place into the .grad views of the flat buffer
            flat.restore_grads()
            update()
            if per_batch_schedule:
                scheduler.step()
            return loss.detach(), None if scores is None else scores.detach()

        return flat_step

    l1_params = decayed_parameters(net)[0] if config.l1 > 0 else []
    all_params = [p for g in optimizer.param_groups for p in g["params"]]

    def step(xb: torch.Tensor, yb: torch.Tensor):
        loss, scores = forward(xb, yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if l1_params:
            # L1 penalty l1 * sum|w| has (sub)gradient l1 * sign(w): added to the gradients
            # directly instead of building the penalty into the graph every step.
            grads = [p.grad for p in l1_params]
            torch._foreach_add_(grads, torch._foreach_sign(l1_params), alpha=config.l1)
        if config.grad_clip:
            torch.nn.utils.clip_grad_norm_(all_params, config.grad_clip, foreach=True)
        optimizer.step()
        if per_batch_schedule:
            scheduler.step()
        return loss.detach(), None if scores is None else scores.detach()

    return step


@dataclass
class Steps:
    """The training steps of a run.

    ``general`` is the autograd step (every network; watched steps); ``fast`` the
    hand-derived MLP step, or ``None`` where it does not apply (``fast_reason`` says why).
    """

    general: Callable
    fast: FastMLPStep | None
    fast_reason: str | None
    #: The flat update both steps share (``None`` without flat parameters).
    update: FlatUpdate | None = None
    #: The autograd step without its per-batch schedule, for replay from a CUDA graph.
    general_body: Callable | None = None


def flatten_parameters(net: nn.Module, config: TrainConfig) -> FlatParameters | None:
    """Move ``net``'s parameters into one flat buffer when ``config.fast`` allows and the net can."""
    channels_last = uses_channels_last(net, config)
    if not config.fast or FlatParameters.supports(net) is not None:
        if channels_last:
            net.to(memory_format=torch.channels_last)
        return None
    return FlatParameters(net, channels_last=channels_last)


def bf16_supported(device: torch.device) -> bool:
    """Whether bf16 autocast pays on ``device``: CUDA, or a CPU with native bf16 matrix instructions.

    On a CPU without them (AVX2 only) oneDNN emulates bf16 products, slower than float32.
    """
    if device.type == "cuda":
        return True
    if device.type == "cpu":
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return False


def uses_channels_last(net: nn.Module, config: TrainConfig) -> bool:
    """Whether ``net`` trains in channels-last layout: a network with 2-D convolutions.

    It is the layout of cuDNN's fastest kernels on CUDA and of oneDNN's on the CPU: the
    default CNN's epochs run 1.31x faster than in the contiguous layout on the bench's
    2-core CPU (``bench/cnn_layout.py``).
    """
    if not config.channels_last:
        return False
    first = next(net.parameters(), None)
    return first is not None and any(isinstance(m, nn.Conv2d) for m in net.modules())


def make_steps(net: nn.Module, loss_fn, run: RunState, config: TrainConfig,
               train: tuple[torch.Tensor, torch.Tensor]) -> Steps:
    """Build the steps for ``run``: the fast MLP step where it applies, the autograd step always.

    Both share the flat parameters and the optimizer (``run.extra["flat"]``), so a
    watched step in the middle of fast ones continues the same optimizer state.
    """
    per_batch = run.extra.get("schedule_when") == "batch"
    after = run.scheduler.step if per_batch else None
    flat = run.extra.get("flat")
    if flat is None:
        general = make_autograd_step(net, loss_fn, run.optimizer, config, run.scheduler, per_batch)
        return Steps(general, None, "config.fast is off" if not config.fast else FlatParameters.supports(net))
    update = FlatUpdate(flat, run.optimizer, config.l1, config.grad_clip)
    general = make_autograd_step(net, loss_fn, run.optimizer, config, run.scheduler, per_batch, flat, update)
    body = make_autograd_step(net, loss_fn, run.optimizer, config, run.scheduler, False, flat, update)
    sample = train[0][:2] if config.prepare is None else config.prepare(train[0][:2])
    reason = fast_mlp_support(net, loss_fn, sample, train[1], config.bf16)
    fast = FastMLPStep(net, loss_fn, flat, update, after) if reason is None else None
    return Steps(general, fast, reason, update, body)


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
def fit_loop(net: nn.Module, loss_fn, train: tuple[torch.Tensor, torch.Tensor],
             val: tuple[torch.Tensor, torch.Tensor] | None, config: TrainConfig,
             callbacks: Sequence[Callback] = (), generator: torch.Generator | None = None,
             run: RunState | None = None, epochs: int | None = None,
             history: History | None = None, shard: Shard | None = None,
             rows: torch.Tensor | None = None) -> RunState:
    """Train ``net`` on device-resident ``train`` tensors for up to ``config.max_epochs`` epochs.

    Each epoch draws one permutation; each step gathers its rows into a reused batch
    buffer (the data set is never copied). Steps nobody watches run the fast MLP step
    when the network allows it (:mod:`trainwell.train.fast_mlp`), every other step the
    autograd step; ``run.extra["fast_path"]`` says which ran and why. On CUDA the full
    unwatched steps replay from CUDA graphs; ``run.extra["cuda_graphs"]`` holds
    ``{"used", "reason", "replays"}``.

    Parameters
    ----------
    net : nn.Module
    loss_fn : trainwell.nn.Loss
    train, val : (X, y) tensors on the training device
        ``val`` may be ``None`` (no validation, no early stopping).
    config : TrainConfig
    callbacks : sequence of Callback
    generator : torch.Generator, optional
        Source of the per-epoch permutations (on the data's device).
    run : RunState, optional
        Continue an earlier run (``partial_fit``): optimizer, scheduler and history are kept.
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
    X, y = train
    n = X.shape[0] if rows is None else rows.numel()
    bs = min(config.batch_size, n)
    n_full, remainder = divmod(n, bs)
    # Batch norm cannot normalise a batch of one sample in training mode: a last batch of
    # size 1 is left out of that epoch (a different sample each epoch).
    has_bn = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.modules())
    run_remainder = remainder >= 2 or (remainder == 1 and not has_bn)
    if n_full == 0 and not run_remainder:
        run_remainder = True
    steps_per_epoch = n_full + int(run_remainder and remainder > 0)
    n_rows = n  # training rows of the whole run (all ranks together)
    if shard is not None:
        # This rank's slice of every global batch, trained through DDP: from here on n and
        # bs count this rank's rows. The fast MLP step bypasses autograd and with it DDP's
        # gradient all-reduce, so every step is an autograd step.
        n, bs, steps_per_epoch = shard.plan(n_rows, bs, min_rows=2 if has_bn else 1)
        loss_fn = shard.wrap(net, loss_fn)
        config = dataclasses.replace(config, fast=False)

    if run is None:
        flat = flatten_parameters(net, config)
        if flat is not None:
            optimizer = make_flat_optimizer(config.optimizer, flat, config.lr, config.momentum, config.l2)
        else:
            optimizer = make_optimizer(config.optimizer, net, config.lr, config.momentum, config.l2)
        scheduler, when = make_scheduler(config.lr_schedule, optimizer, config.max_epochs, steps_per_epoch)
        run = RunState(net=net, optimizer=optimizer, loss_fn=loss_fn, config=config, scheduler=scheduler,
                       steps_per_epoch=steps_per_epoch, n_train=n_rows, n_val=0 if val is None else val[0].shape[0])
        run.extra["schedule_when"] = when
        run.extra["flat"] = flat
        if history is not None:
            run.history = History(history)
            run.epoch = len(history)
    else:
        run.stop_requested = False
        run.stop_reason = None
        # this call's data may differ in size from earlier calls' (partial_fit on chunks): monitors,
        # the progress bar and the step profiler plan their steps on these
        run.steps_per_epoch, run.n_train = steps_per_epoch, n_rows
        run.n_val = 0 if val is None else val[0].shape[0]
    flat = run.extra.get("flat")
    if flat is not None and not flat.intact():
        flat.bind()
    # what a run's CUDA graphs are bound to: the same data, sizes and settings reuse them
    graph_key = (id(X), X.data_ptr(), id(y), y.data_ptr(), None if rows is None else (id(rows), rows.data_ptr()),
                 n, bs, id(config), id(loss_fn), id(flat), id(run.optimizer))
    cache = run.extra.get("graph_cache")
    cached = cache.parts if cache is not None and cache.key == graph_key else None
    steps = cached["steps"] if cached else make_steps(net, loss_fn, run, config, train)
    run.extra["fast_path"] = {"used": steps.fast is not None, "reason": steps.fast_reason}
    when = run.extra.get("schedule_when")
    graph_reason = graph_support(X, config, flat, steps.update, shard is not None)
    if graph_reason is None and when == "batch" and getattr(run.scheduler, "cycle_momentum", False):
        graph_reason = "the one-cycle schedule moves the momentum, which the fused kernel takes as a number"
    if graph_reason is None and not cached:
        steps.update.use_tensor_lr()
    run.extra["cuda_graphs"] = {"used": graph_reason is None, "reason": graph_reason}
    classification = config.classification
    metric = _metric_name(classification)
    if not classification:
        y_train = y if rows is None else y[rows]
        sst = float(((y_train - y_train.mean(0)) ** 2).sum().clamp_min(1e-12))  # read once per fit, not per epoch

    prepare, augment = config.prepare, config.augment
    channels_last = uses_channels_last(net, config)

    prepared: dict[int, torch.Tensor] = {}  # reused network-input buffers of unwatched steps, by batch size

    def network_input(xb: torch.Tensor, reuse: bool = False) -> torch.Tensor:
        """A gathered batch as the network sees it in training: prepared, then augmented.

        ``reuse`` writes the prepared batch into a buffer kept from step to step (no
        allocation per step); watched steps get a fresh tensor a callback may keep.
        """
        if prepare is not None:
            if reuse and getattr(prepare, "supports_out", False):
                out = prepared.get(xb.shape[0])
                if out is None:
                    out = prepared[xb.shape[0]] = prepare(xb)
                else:
                    prepare(xb, out=out)
                xb = out
            else:
                xb = prepare(xb)
        if augment is not None and shard is None:
            xb = augment(xb, generator)
        elif augment is not None:
            # under torchrun: draw for the global batch and take this rank's slice, as one process would
            xb = augment(xb, generator, (shard.rank, shard.world_size))
        if channels_last and xb.ndim == 4:
            xb = xb.contiguous(memory_format=torch.channels_last)
        return xb

    batch_x: dict[int, torch.Tensor] = {}
    if cached:
        buf_y, outputs, loss_sum, graphs = cached["buf_y"], cached["outputs"], cached["loss_sum"], cached["graphs"]
    else:
        buf_y = torch.empty((n, *y.shape[1:]), dtype=y.dtype, device=y.device)
        outputs: torch.Tensor | None = None  # the epoch's predictions (classes) or outputs
        loss_sum = torch.zeros((), device=X.device)  # the epoch's summed batch losses
        graphs: dict[str, GraphedSteps] = {}  # full-size unwatched steps replayed from CUDA graphs
        if graph_reason is None and loss_fn.name != "hierarchical_softmax":
            # the graphs write into these: allocated before any capture
            outputs = (torch.empty(n, dtype=torch.long, device=X.device) if classification
                       else torch.empty((n, *y.shape[1:]), dtype=flat.data.dtype, device=X.device))
        if graph_reason is None:
            run.extra["graph_cache"] = GraphCache(graph_key, steps=steps, buf_y=buf_y, outputs=outputs,
                                                  loss_sum=loss_sum, graphs=graphs)

    def graphed(fast: bool, perm: torch.Tensor) -> GraphedSteps:
        """The graph for full batches of the fast (``True``) or the autograd step, made on first use."""
        key = "fast" if fast else "general"
        if key not in graphs:
            if fast:
                body, host = steps.fast.device_step, steps.fast.host_step
            else:
                body, host = steps.general_body, (run.scheduler.step if when == "batch" else _nothing)
            graphs[key] = GraphedSteps(body, host, X, buf_y[:n], bs, lambda xb: network_input(xb, reuse=True),
                                       loss_sum, outputs, classification, before=steps.update.sync_lr)
            graphs[key].start_epoch(perm)
        return graphs[key]
    last_epoch = run.epoch + (epochs if epochs is not None else config.max_epochs - run.epoch)
    for cb in callbacks:
        cb.on_fit_begin(run)
    # callbacks that time steps (StepProfiler) are told of every step, watched or not
    timers = [cb for cb in callbacks if callable(getattr(cb, "before_step", None))]
    net.train()
    while run.epoch < last_epoch and not run.stop_requested:
        run.epoch += 1
        t0 = time.perf_counter()
        for cb in callbacks:
            cb.on_epoch_begin(run)
        if flat is not None and not flat.intact():
            flat.bind()
        use_fast = steps.fast is not None and steps.fast.ready()
        use_graphs = graph_reason is None and _replayable(net, run)
        perm = torch.randperm(n_rows, device=X.device, generator=generator)
        if shard is not None:
            perm = shard.take(perm)  # every rank draws the same permutation and takes its slices
        if rows is not None:
            perm = rows[perm]  # positions among the training rows -> rows of X
        torch.index_select(y, 0, perm, out=buf_y[:n])
        for g in graphs.values():
            g.start_epoch(perm)
        loss_sum.zero_()
        seen = 0
        for b in range(steps_per_epoch):
            start = b * bs
            stop = min(start + bs, n)
            m = stop - start
            watchers = [cb for cb in callbacks if cb.wants_step(run)]
            for timer in timers:
                timer.before_step(run, b, bool(watchers))
            if watchers:
                if steps.fast is not None:
                    steps.fast.flush()
                # fresh tensors: a callback may keep the batch beyond the step
                xb, yb = network_input(X[perm[start:stop]]), buf_y[start:stop].clone()
                run.batch = (xb, yb)
                for cb in watchers:
                    cb.on_step_begin(run)
                loss, scores = steps.general(xb, yb)
            elif use_graphs and m == bs:
                graphed(use_fast, perm)(start)  # gathers, trains and records the batch on the device
                seen += m
                run.step += 1
                continue
            else:
                xbuf = batch_x.get(m)
                if xbuf is None:
                    xbuf = batch_x[m] = torch.empty((m, *X.shape[1:]), dtype=X.dtype, device=X.device)
                xb = network_input(torch.index_select(X, 0, perm[start:stop], out=xbuf), reuse=True)
                yb = buf_y[start:stop]
                loss, scores = (steps.fast if use_fast else steps.general)(xb, yb)
            loss_sum.add_(loss, alpha=m)
            if scores is not None:
                if outputs is None:
                    outputs = (torch.empty(n, dtype=torch.long, device=X.device) if classification
                               else torch.empty((n, *scores.shape[1:]), dtype=scores.dtype, device=X.device))
                if classification:
                    torch.argmax(scores, 1, out=outputs[start:stop])
                else:
                    outputs[start:stop].copy_(scores)
            seen += m
            if watchers:
                run.batch_loss = loss
                for cb in watchers:
                    cb.on_step_end(run)
                run.batch = None
                # a callback may have left hooks or switched modes: look again
                use_fast = steps.fast is not None and steps.fast.ready()
                use_graphs = graph_reason is None and _replayable(net, run)
            run.step += 1
        if steps.fast is not None:
            steps.fast.flush()
        if outputs is None:
            score_sum = torch.zeros((), device=X.device)
        elif classification:
            score_sum = (outputs[:seen] == buf_y[:seen]).sum()
        else:
            score_sum = ((outputs[:seen] - buf_y[:seen]) ** 2).sum()
        if shard is not None:  # sums over all ranks; rank 0's batch-norm statistics everywhere
            loss_sum, score_sum, seen = shard.epoch_totals(net, loss_sum, score_sum, seen)
        train_stats = torch.stack([loss_sum / seen, score_sum.to(loss_sum.dtype)])
        if val is not None:
            stats = torch.cat([train_stats, evaluate(net, loss_fn, val[0], val[1], classification, config.eval_batch_size, prepare,
                                                          channels_last)])
        else:
            stats = train_stats
        if shard is not None:  # rank 0's numbers, so every rank takes the same decisions
            stats = shard.same_numbers(stats)
        values = stats.tolist()  # the one host synchronisation of the epoch
        row: dict[str, Any] = {"epoch": run.epoch, "train_loss": values[0]}
        if classification:
            row[f"train_{metric}"] = values[1] / seen if steps_per_epoch and loss_fn.name != "hierarchical_softmax" else None
        else:
            row[f"train_{metric}"] = 1.0 - values[1] / sst
        if val is not None:
            row["val_loss"], row[f"val_{metric}"] = values[2], values[3]
        row["lr"] = current_lr(run.optimizer)
        if run.scheduler is not None and when == "epoch":
            run.scheduler.step()
        elif run.scheduler is not None and when == "plateau":
            run.scheduler.step(row.get("val_loss", row["train_loss"]))
        row["seconds"] = time.perf_counter() - t0
        run.history.append(row)
        if not math.isfinite(row["train_loss"]):
            run.stop_requested = True
            run.stop_reason = f"diverged: the training loss became {row['train_loss']} in epoch {run.epoch}"
        for cb in callbacks:
            cb.on_epoch_end(run)
        if shard is not None:  # diagnostics averaged over ranks; rank 0 decides when all stop
            shard.agree(run)
    run.extra["cuda_graphs"]["replays"] = sum(g.replays for g in graphs.values())
    failures = [g.failed for g in graphs.values() if g.failed]
    if failures:
        run.extra["cuda_graphs"].update(used=run.extra["cuda_graphs"]["replays"] > 0, reason=failures[0])
    elif run.extra["cuda_graphs"].pop("hooked", False):
        replayed = run.extra["cuda_graphs"]["replays"] > 0
        run.extra["cuda_graphs"].update(used=replayed, reason=(
            f"{'some' if replayed else 'all'} steps ran eagerly: the network had hooks, which run in Python "
            "at every step (a replay would skip them)"))
    for cb in callbacks:
        cb.on_fit_end(run)
    net.eval()
    return run
