"""Training steps replayed from a captured CUDA graph: one launch per batch instead of ~50.

Why: on a GPU a small network's step is bound by kernel launches, not arithmetic. The
784-256-128-10 MLP's step at batch 128 is about 50 kernels of a few microseconds each,
and launching them from Python costs more than running them (``docs/architecture.md``,
"The hot loop"). ``torch.cuda.graph`` records the kernels once; replaying the recording
launches them all with one call. PyTorch gives the capture and the replay; what it does
not give, and this module adds, is a training step that stays correct when replayed:

- The step gathers its own batch. A device counter says where in the epoch's
  permutation the step starts; the graph reads the rows from there and advances the
  counter, so every replay trains on the next batch with no host work in between.
- What the host must do per step (a per-batch learning-rate schedule, step counts) runs
  in Python after each replay, and learning rates reach the fused optimizer kernel as
  device tensors (:meth:`~trainwell.train.update.FlatUpdate.use_tensor_lr`).
- The first steps run eagerly on a side stream (PyTorch's recipe: it lets cuBLAS, cuDNN
  and the optimizer create their workspaces and state before capture); they are real
  training steps, not throw-away ones.

Only full-size, unwatched steps replay; watched steps and the ragged last batch run
eagerly on the same parameters and optimizer state. A ``fit_loop`` call frees its graphs
when it returns: they are bound to its tensors and hold a memory pool, so a later call
(``partial_fit``) captures its own.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import torch

#: Take the graph path on any device but run its steps eagerly instead of capturing them
#: (``TRAINWELL_EMULATE_CUDA_GRAPHS=1``): lets a machine without CUDA check the path's
#: bookkeeping (batch positions, learning-rate tensors, step counts, outputs) against the
#: normal loop; the numbers must agree (exactly in float64; in float32 up to the rounding
#: of a learning rate the fused kernel reads as a tensor).
EMULATE = os.environ.get("TRAINWELL_EMULATE_CUDA_GRAPHS") == "1"

Body = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, "torch.Tensor | None"]]


class GraphedSteps:
    """Full-size training steps of one epoch after another, replayed from one CUDA graph.

    Parameters
    ----------
    body : callable
        ``body(xb, yb) -> (loss, scores or None)``: the device work of one step (forward,
        backward, update) with no host-side effects.
    host : callable
        Run after every step (eager or replayed): the host-side part of the step.
    X : Tensor
        Every stored sample, on the GPU; batches are gathered from it by row.
    y_epoch : Tensor
        The epoch's targets in permutation order (row ``i`` belongs to ``perm[i]``).
    batch_size : int
    network_input : callable
        Turns a gathered batch into the network's input (prepare, on-device scaling).
    loss_sum, outputs : Tensor
        Where each step adds ``loss * batch_size`` and writes its predictions (classes or
        outputs) at the batch's positions; ``outputs`` may be ``None``.
    classification : bool
    warmup : int, default=2
        Eager steps before capture.
    before : callable, optional
        Run before every replay: brings what the graph reads from the host up to date
        (:meth:`~trainwell.train.update.FlatUpdate.sync_lr` after a schedule moved the rate).
    w_epoch : Tensor, optional
        The epoch's sample weights in permutation order, gathered like ``y_epoch`` and
        passed to ``body`` as its third argument (weighted runs).

    Notes
    -----
    Call :meth:`start_epoch` with each epoch's permutation, then ``steps(start)`` for
    every full batch that starts at position ``start``.
    """

    def __init__(self, body: Body, host: Callable[[], None], X: torch.Tensor, y_epoch: torch.Tensor,
                 batch_size: int, network_input: Callable[[torch.Tensor], torch.Tensor],
                 loss_sum: torch.Tensor, outputs: torch.Tensor | None, classification: bool,
                 warmup: int = 2, before: Callable[[], None] | None = None,
                 w_epoch: torch.Tensor | None = None) -> None:
        self.body, self.host, self.before = body, host, before
        self.X, self.y_epoch = X, y_epoch
        self.bs = batch_size
        self.network_input = network_input
        self.loss_sum, self.outputs, self.classification = loss_sum, outputs, classification
        self.warmup = warmup
        device = X.device
        self.perm = torch.empty(y_epoch.shape[0], dtype=torch.long, device=device)
        self.position = torch.zeros((), dtype=torch.long, device=device)
        self.offsets = torch.arange(batch_size, device=device)
        self.at = torch.empty(batch_size, dtype=torch.long, device=device)     # positions in the epoch
        self.rows = torch.empty(batch_size, dtype=torch.long, device=device)   # rows of X
        self.xb = torch.empty((batch_size, *X.shape[1:]), dtype=X.dtype, device=device)
        self.yb = torch.empty((batch_size, *y_epoch.shape[1:]), dtype=y_epoch.dtype, device=device)
        # sample weights: gathered with the targets, passed to the body, and weighting the loss sum
        self.w_epoch = w_epoch
        self.wb = None if w_epoch is None else torch.empty(batch_size, dtype=w_epoch.dtype, device=device)
        self.predicted = torch.empty(batch_size, dtype=torch.long, device=device)
        self.graph: torch.cuda.CUDAGraph | _EagerReplay | None = None
        #: Why capture failed (the steps then run eagerly), or ``None``.
        self.failed: str | None = None
        self._expected = -1      # the position the device counter holds, as far as the host knows
        self._eager_steps = 0
        self.replays = 0

    def start_epoch(self, perm: torch.Tensor) -> None:
        """Take the epoch's permutation (positions -> rows of ``X``)."""
        self.perm.copy_(perm)

    def _step(self) -> None:
        """One full step on the device, from the position counter on (captured as the graph)."""
        torch.add(self.offsets, self.position, out=self.at)
        torch.index_select(self.perm, 0, self.at, out=self.rows)
        torch.index_select(self.X, 0, self.rows, out=self.xb)
        torch.index_select(self.y_epoch, 0, self.at, out=self.yb)
        if self.wb is None:
            loss, scores = self.body(self.network_input(self.xb), self.yb)
            self.loss_sum.add_(loss, alpha=self.bs)
        else:
            torch.index_select(self.w_epoch, 0, self.at, out=self.wb)
            loss, scores = self.body(self.network_input(self.xb), self.yb, self.wb)
            self.loss_sum.add_(loss * self.wb.sum())
        if scores is not None and self.outputs is not None:
            if self.classification:
                torch.argmax(scores, 1, out=self.predicted)
                self.outputs.index_copy_(0, self.at, self.predicted)
            else:
                self.outputs.index_copy_(0, self.at, scores.to(self.outputs.dtype))
        self.position.add_(self.bs)

    def __call__(self, start: int) -> None:
        """Train on the full batch at positions ``start .. start + batch_size`` of the epoch."""
        if start != self._expected:
            self.position.fill_(start)
        if self.graph is None and self.failed is None and self._eager_steps < self.warmup:
            self._warm_up()
        elif self.failed is not None:
            self._step()
        else:
            if self.graph is None:
                try:
                    self.graph = capture(self._step, self.X.device)
                except RuntimeError as exc:
                    # e.g. a loss that reads a value on the host mid-step: train on, eagerly
                    self.failed = f"capturing the step failed ({str(exc).splitlines()[0]}); its steps ran eagerly"
            if self.failed is not None:
                self._step()
            else:
                if self.before is not None:
                    self.before()
                self.graph.replay()
                self.replays += 1
        self._expected = start + self.bs
        self.host()

    def _warm_up(self) -> None:
        """One eager step before capture; on CUDA on a side stream, as PyTorch's recipe asks."""
        if self.X.is_cuda:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                self._step()
            torch.cuda.current_stream().wait_stream(side)
        else:
            self._step()
        self._eager_steps += 1


class _EagerReplay:
    """Stands in for a CUDA graph off CUDA (:data:`EMULATE`): a replay runs the step eagerly."""

    def __init__(self, step: Callable[[], None]) -> None:
        self.replay = step


def capture(step: Callable[[], None], device: torch.device) -> torch.cuda.CUDAGraph | _EagerReplay:
    """Record ``step``'s kernels into a new CUDA graph (nothing runs until it is replayed).

    Off CUDA (only under :data:`EMULATE`) the "graph" replays by running ``step``.
    """
    if device.type != "cuda":
        return _EagerReplay(step)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        step()
    return graph


def graph_support(X: torch.Tensor, config, flat, update, distributed: bool) -> str | None:
    """Why training steps cannot be replayed from a CUDA graph here; ``None`` when they can."""
    if getattr(X, "is_sparse_rows", False):
        return "sparse rows are sliced on the host batch by batch, which a graph cannot replay"
    if not X.is_cuda and not EMULATE:
        return "the data is not on a CUDA device"
    if not getattr(config, "cuda_graphs", True):
        return "config.cuda_graphs is off"
    if distributed:
        return "DistributedDataParallel's all-reduce runs on the autograd step outside graphs"
    if flat is None or update is None:
        return "the parameters are not flat (config.fast is off, or the network cannot be flattened)"
    if not update.fused:
        return f"{type(update.optimizer).__name__} has no fused kernel that reads its rate from the device"
    if config.augment is not None:
        return "augmentation draws from the loop's own generator, which a graph would replay unchanged"
    return None


class GraphCache:
    """Steps, buffers and graphs kept under a key that names what they were made for.

    ``fit_loop`` no longer keeps its graphs from one call to the next (it frees them when
    it returns); the class stays for code that imported it. Pickling keeps nothing (a
    graph cannot be pickled): the copy holds no parts.
    """

    def __init__(self, key: tuple, **parts: object) -> None:
        self.key = key
        self.parts = parts

    def __getstate__(self) -> dict:
        return {"key": None, "parts": {}}

    def __setstate__(self, state: dict) -> None:
        self.key, self.parts = state["key"], state["parts"]
