"""One ``fit_loop`` call's epochs: the steps over device-resident data, then the epoch's numbers.

:class:`EpochRunner` holds what the call's steps reuse from step to step and from epoch to
epoch: the batch buffers, the epoch's targets in permutation order, the device-side sums of
losses and predictions, the CUDA graphs. Its :meth:`~EpochRunner.train_steps` is the hot
loop, and reads nothing from the device. :meth:`~EpochRunner.epoch_row` turns the epoch into
its history row (validation included) with the epoch's one host synchronisation, and
:func:`end_epoch` does the rest of the bookkeeping: the scheduler, the history, the stop
checks and the callbacks.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch

from .callbacks import Callback
from .cuda_graph import GraphedSteps
from .evaluation import evaluate, weighted_sst
from .fast_mlp import has_hooks
from .optim import current_lr
from .state import RunState
from .steps import Steps, make_network_input, uses_channels_last

if TYPE_CHECKING:
    from .config import TrainConfig
    from .distributed import Shard
    from .plan import EpochPlan, StepObservers


def _nothing() -> None:
    return None


def _metric_name(classification: bool) -> str:
    return "accuracy" if classification else "r2"


class EpochRunner:
    """Trains the epochs of one ``fit_loop`` call on device-resident tensors.

    Each epoch draws one permutation (:meth:`start_epoch`); each step gathers its rows into
    a reused batch buffer, and losses and predictions accumulate on the device
    (:meth:`train_steps`); the epoch's numbers are read once (:meth:`epoch_row`). Full
    unwatched steps replay from CUDA graphs where ``graph_reason`` is ``None``.

    Parameters
    ----------
    run : RunState
        The run being trained (new or continued).
    train : (X, y) or (X, y, sample_weight) tensors on the training device
    rows : tensor of int64 or None
        The rows of ``train`` to train on (``None``: all of them).
    val : (X, y) or (X, y, sample_weight) tensors or None
    plan : EpochPlan
        How an epoch splits into steps on this process.
    steps : Steps
        The call's training steps.
    graph_reason : str or None
        Why full steps cannot replay from CUDA graphs; ``None`` when they can.
    config : TrainConfig
    loss_fn : trainwell.nn.Loss
    generator : torch.Generator or None
        Source of the permutations and of augmentation.
    shard : Shard or None
        This process's part of a torchrun run.
    """

    def __init__(self, run: RunState, train: tuple[torch.Tensor, torch.Tensor], rows: torch.Tensor | None,
                 val: tuple[torch.Tensor, torch.Tensor] | None, plan: EpochPlan, steps: Steps,
                 graph_reason: str | None, config: TrainConfig, loss_fn: Any,
                 generator: torch.Generator | None, shard: Shard | None) -> None:
        self.run, self.plan, self.steps, self.graph_reason = run, plan, steps, graph_reason
        self.X, self.y = X, y = train[0], train[1]
        #: Sample weights of every row of X (``None``: unweighted); the steps get each batch's.
        self.w = w = train[2] if len(train) > 2 else None
        self.rows, self.val = rows, val
        self.config, self.loss_fn = config, loss_fn
        self.generator, self.shard = generator, shard
        self.classification = classification = config.classification
        self.channels_last = uses_channels_last(run.net, config)
        self.network_input = make_network_input(run.net, config, shard, generator)
        self.sst = None
        if not classification:
            y_train = y if rows is None else y[rows]
            w_train = None if w is None else (w if rows is None else w[rows])
            self.sst = float(weighted_sst(y_train, w_train))  # read once per call, not per epoch
        #: the validation rows' R² denominator, on the device, made once per call
        self.val_sst = (weighted_sst(val[1], val[2] if len(val) > 2 else None)
                        if val is not None and not classification else None)
        n = plan.n
        self.buf_y = torch.empty((n, *y.shape[1:]), dtype=y.dtype, device=y.device)  # the epoch's targets, in step order
        self.buf_w = None if w is None else torch.empty(n, dtype=w.dtype, device=w.device)  # and their weights
        self.loss_sum = torch.zeros((), device=X.device)  # the epoch's summed batch losses
        self.outputs: torch.Tensor | None = None  # the epoch's predictions (classes) or outputs
        if graph_reason is None and loss_fn.name != "hierarchical_softmax":
            # the graphs write into it: allocated before any capture
            self.outputs = (torch.empty(n, dtype=torch.long, device=X.device) if classification
                            else torch.empty((n, *y.shape[1:]), dtype=run._loop.flat.data.dtype, device=X.device))
        self.batch_x: dict[int, torch.Tensor] = {}  # reused gather buffers of unwatched steps, by batch size
        self.graphs: dict[str, GraphedSteps] = {}  # full-size unwatched steps replayed from CUDA graphs
        self.hooked = False  # whether some steps ran eagerly because the network had hooks
        self._perm: torch.Tensor | None = None  # the CPU permutation buffer (see start_epoch)
        self._ready_after_steps = False  # whether the fast step was ready when the epoch's steps ended
        #: each step's slices of the epoch's buffers, made once per call (see _step_views)
        self._views: dict[str, tuple[torch.Tensor, list[torch.Tensor]]] = {}

    def _perm_buffer(self) -> torch.Tensor:
        if self._perm is None:
            self._perm = torch.empty(self.plan.n_rows, dtype=torch.long)
        return self._perm

    def _step_views(self, name: str, whole: torch.Tensor) -> list[torch.Tensor]:
        """Each step's rows of the buffer ``whole``, sliced once while it is the same buffer.

        A slice is a new tensor object; cut at every step it costs a few microseconds, more
        than some of the step's own operations on a small table. The call's buffers (targets,
        weights, predictions, the CPU permutation) live as long as the call, so their slices do.
        """
        cached = self._views.get(name)
        if cached is None or cached[0] is not whole:
            bs, n = self.plan.batch_size, self.plan.n
            cached = self._views[name] = (whole, [whole[b * bs:min(b * bs + bs, n)]
                                                  for b in range(self.plan.steps_per_epoch)])
        return cached[1]

    # ------------------------------------------------------------------ choices per step
    def use_fast(self) -> bool:
        """Whether unwatched steps may take the fast MLP step now."""
        return self.steps.fast is not None and self.steps.fast.ready()

    def replayable(self) -> bool:
        """Whether full unwatched steps may replay a graph now: graphs apply and the network has no hooks.

        A hook is Python: a replay would skip it (it ran once, at capture). Steps run eagerly
        while someone has hooked the network, and :meth:`finish` says so.
        """
        if self.graph_reason is not None:
            return False
        if not has_hooks(self.run.net):
            return True
        self.hooked = True
        return False

    def graphed(self, fast: bool, perm: torch.Tensor) -> GraphedSteps:
        """The graph for full batches of the fast (``True``) or the autograd step, made on first use."""
        key = "fast" if fast else "general"
        if key not in self.graphs:
            steps, run = self.steps, self.run
            if fast:
                body, host = steps.fast.device_step, steps.fast.host_step
            else:
                body, host = steps.general_body, (run.scheduler.step if run._loop.schedule_when == "batch" else _nothing)
            network_input = self.network_input
            self.graphs[key] = GraphedSteps(body, host, self.X, self.buf_y[:self.plan.n], self.plan.batch_size,
                                            lambda xb: network_input(xb, reuse=True), self.loss_sum, self.outputs,
                                            self.classification, before=steps.update.sync_lr, w_epoch=self.buf_w)
            self.graphs[key].start_epoch(perm)
        return self.graphs[key]

    # ------------------------------------------------------------------ an epoch
    def start_epoch(self) -> torch.Tensor:
        """Draw the epoch's permutation, put the targets in its order and zero the loss sum.

        Returns the permutation as rows of ``X`` in step order (this process's share of it
        under torchrun).
        """
        flat = self.run._loop.flat
        if flat is not None and not flat.intact():
            flat.bind()  # user code replaced a parameter's storage (e.g. load_state_dict)
        if self.shard is None and self.rows is None and self.X.device.type == "cpu":
            # into the call's one permutation buffer, so the steps' slices of it are made once
            # (the same permutation as a new tensor would hold)
            perm = torch.randperm(self.plan.n_rows, generator=self.generator, out=self._perm_buffer())
        else:
            perm = torch.randperm(self.plan.n_rows, device=self.X.device, generator=self.generator)
        if self.shard is not None:
            perm = self.shard.take(perm)  # every rank draws the same permutation and takes its slices
        if self.rows is not None:
            perm = self.rows[perm]  # positions among the training rows -> rows of X
        torch.index_select(self.y, 0, perm, out=self.buf_y[:self.plan.n])
        if self.buf_w is not None:
            torch.index_select(self.w, 0, perm, out=self.buf_w)
        for g in self.graphs.values():
            g.start_epoch(perm)
        self.loss_sum.zero_()
        return perm

    def train_steps(self, perm: torch.Tensor, observers: StepObservers) -> int:
        """Train the epoch's steps in the order of ``perm``; returns the rows trained on.

        The hot loop. What a step needs is bound to locals once per epoch, and only the
        callbacks in ``observers`` are called per step. An unwatched step gathers its
        rows into a reused buffer and runs the fast MLP step where it can (a full one
        replays a CUDA graph where graphs apply); a watched step runs on autograd between
        its watchers' ``on_step_begin`` and ``on_step_end``.
        """
        run, X, buf_y, buf_w, loss_sum, outputs = self.run, self.X, self.buf_y, self.buf_w, self.loss_sum, self.outputs
        askers, timers, network_input, batch_x = observers.askers, observers.timers, self.network_input, self.batch_x
        fast, general, n, bs, classification = self.steps.fast, self.steps.general, self.plan.n, self.plan.batch_size, self.classification
        use_fast, use_graphs = self.use_fast(), self.replayable()
        # rows of a tensor by index_select; sparse rows (data/sparse.py) densify just the batch's
        take = X.take_rows if hasattr(X, "take_rows") else functools.partial(torch.index_select, X, 0)
        graph = None  # the graph of full unwatched steps: looked up on first use, and again after a watched step
        seen = 0
        step_rows, step_y = self._step_views("perm", perm), self._step_views("y", buf_y)
        step_w = None if buf_w is None else self._step_views("w", buf_w)
        step_out = None if outputs is None else self._step_views("out", outputs)
        asked = observers.schedule(run)  # the steps some callback may watch (None: ask at every step)
        for b in range(self.plan.steps_per_epoch):
            start = b * bs
            stop = min(start + bs, n)
            m = stop - start
            watchers = [cb for cb in askers if cb.wants_step(run)] if asked is None or b in asked else ()
            for timer in timers:
                timer.before_step(run, b, bool(watchers))
            if watchers:
                loss, scores = self._begin_watched_step(watchers, perm, start, stop)
            elif use_graphs and m == bs:
                if graph is None:
                    graph = self.graphed(use_fast, perm)
                graph(start)  # gathers, trains and records the batch on the device
                seen += m
                run.step += 1
                continue
            else:
                xbuf = batch_x.get(m)
                if xbuf is None:
                    xbuf = batch_x[m] = torch.empty((m, *X.shape[1:]), dtype=X.dtype, device=X.device)
                xb = network_input(take(step_rows[b], out=xbuf), reuse=True)
                if buf_w is None:
                    loss, scores = (fast if use_fast else general)(xb, step_y[b])
                else:
                    loss, scores = (fast if use_fast else general)(xb, step_y[b], step_w[b])
            if buf_w is None:
                loss_sum.add_(loss, alpha=m)
            else:  # the weighted mean over the epoch: each batch's mean times its weight
                loss_sum.add_(loss * step_w[b].sum())
            if scores is not None:
                if outputs is None:
                    outputs = self.outputs = self._new_outputs(scores)
                    step_out = self._step_views("out", outputs)
                if classification:
                    torch.argmax(scores, 1, out=step_out[b])
                else:
                    step_out[b].copy_(scores)
            seen += m
            if watchers:
                self._end_watched_step(watchers, loss)
                # a callback may have left hooks or switched modes: look again
                use_fast, use_graphs, graph = self.use_fast(), self.replayable(), None
            run.step += 1
        if fast is not None:
            fast.flush()
        self._ready_after_steps = use_fast  # the last look, after the epoch's last watched step
        return seen

    def _begin_watched_step(self, watchers: list[Callback], perm: torch.Tensor, start: int,
                            stop: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Run a watched step: the watchers see the batch before it and the loss after.

        It is the fast MLP step when that step can honour what the watchers attached (nothing,
        or :func:`~trainwell.train.fast_mlp.observer` hooks on the activations, as trainwell's
        monitors attach): then a watched run trains exactly as an unwatched one. Any other
        hook, or a network the fast step does not take, runs the step on autograd.
        """
        run, fast = self.run, self.steps.fast
        if fast is not None:
            fast.flush()
        # fresh tensors: a callback may keep the batch beyond the step
        xb, yb = self.network_input(self.X[perm[start:stop]]), self.buf_y[start:stop].clone()
        run.batch = (xb, yb)
        for cb in watchers:
            cb.on_step_begin(run)
        step = fast if fast is not None and fast.ready() else self.steps.general
        if self.buf_w is None:
            return step(xb, yb)
        return step(xb, yb, self.buf_w[start:stop])

    def _end_watched_step(self, watchers: list[Callback], loss: torch.Tensor) -> None:
        run = self.run
        run.batch_loss = loss
        for cb in watchers:
            cb.on_step_end(run)
        run.batch = None

    def _fast_inference(self) -> Callable[[torch.Tensor], torch.Tensor] | None:
        """The fast step's evaluation forward when it computes what the network would: the
        parameters still flat and no hooks anywhere (a hook expects the module's forward)."""
        fast = self.steps.fast
        if fast is None:
            return None
        if self._ready_after_steps:
            # no user code ran since the steps found it ready (flat, no hooks but observers'):
            # only observer hooks left on would stop it (the walk of every module skipped)
            if fast.observers_attached():
                return None
        elif not fast.flat.intact() or has_hooks(self.run.net, modules=fast.modules):
            return None
        fast.read_norms()
        return fast.inference

    def _new_outputs(self, scores: torch.Tensor) -> torch.Tensor:
        """The buffer of the epoch's predictions (classes) or outputs, shaped after the first scores."""
        n, device = self.plan.n, self.X.device
        if self.classification:
            return torch.empty(n, dtype=torch.long, device=device)
        return torch.empty((n, *scores.shape[1:]), dtype=scores.dtype, device=device)

    def epoch_row(self, seen: int) -> dict[str, Any]:
        """The epoch's history row: training and validation loss and metric, learning rate.

        Validation runs here. The device is read once, at the end: the epoch's one host
        synchronisation. ``seen`` is the number of rows :meth:`train_steps` trained on.
        """
        run, shard, val, classification = self.run, self.shard, self.val, self.classification
        outputs, buf_y, loss_sum = self.outputs, self.buf_y, self.loss_sum
        # each row counts its sample weight (1 when unweighted): hits, squared errors and the total
        w_seen = None if self.buf_w is None else self.buf_w[:seen]
        if outputs is None:
            score_sum = torch.zeros((), device=self.X.device)
        elif classification:
            hit = outputs[:seen] == buf_y[:seen]
            score_sum = hit.sum() if w_seen is None else (hit * w_seen).sum()
        else:
            err = (outputs[:seen] - buf_y[:seen]) ** 2
            score_sum = err.sum() if w_seen is None else (err.reshape(seen, -1).sum(1) * w_seen).sum()
        if shard is not None:  # sums over all ranks; rank 0's batch-norm statistics everywhere
            loss_sum, score_sum, seen = shard.epoch_totals(run.net, loss_sum, score_sum, seen)
        total = seen if w_seen is None else w_seen.sum().clamp_min(torch.finfo(loss_sum.dtype).tiny)
        stats = torch.stack([loss_sum / total, score_sum.to(loss_sum.dtype)])
        if w_seen is not None:
            stats = torch.cat([stats, total.reshape(1)])
        if val is not None:
            stats = torch.cat([stats, evaluate(run.net, self.loss_fn, val[0], val[1], classification,
                                               self.config.eval_batch_size, self.config.prepare, self.channels_last,
                                               val[2] if len(val) > 2 else None, self._fast_inference(),
                                               self.val_sst)])
        if shard is not None:  # rank 0's numbers, so every rank takes the same decisions
            stats = shard.same_numbers(stats)
        values = stats.tolist()  # the one host synchronisation of the epoch
        weighted_total = values.pop(2) if w_seen is not None else seen
        metric = _metric_name(classification)
        row: dict[str, Any] = {"epoch": run.epoch, "train_loss": values[0]}
        if classification:
            scored = self.plan.steps_per_epoch and self.loss_fn.name != "hierarchical_softmax"
            row[f"train_{metric}"] = values[1] / weighted_total if scored else None
        else:
            row[f"train_{metric}"] = 1.0 - values[1] / self.sst
        if val is not None:
            row["val_loss"], row[f"val_{metric}"] = values[2], values[3]
        row["lr"] = current_lr(run.optimizer)
        return row

    # ------------------------------------------------------------------ the end
    def finish(self) -> None:
        """Say in ``run.cuda_graphs`` how the call's graphs went, then free them.

        A captured graph is bound to this call's tensors (the data, the batch buffers) and
        holds a memory pool of its own, so it is no use to a later call, which captures its
        own graphs (two eager warm-up steps and one capture, a few milliseconds): keeping
        them on the run would hold the pool and the data alive for nothing.
        """
        info = self.run.cuda_graphs
        info["replays"] = replays = sum(g.replays for g in self.graphs.values())
        failures = [g.failed for g in self.graphs.values() if g.failed]
        if failures:
            info.update(used=replays > 0, reason=failures[0])
        elif self.hooked:
            info.update(used=replays > 0, reason=(
                f"{'some' if replays > 0 else 'all'} steps ran eagerly: the network had hooks, which run in Python "
                "at every step (a replay would skip them)"))
        self.graphs.clear()
