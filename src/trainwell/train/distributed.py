"""Training under ``torchrun``: DistributedDataParallel with no launcher or RPC of our own.

``torchrun --nproc_per_node N -m trainwell fit ...`` (or a script that builds an estimator)
starts N copies of the same program. Each copy finds the ``RANK`` / ``WORLD_SIZE`` /
``LOCAL_RANK`` variables torchrun sets, joins the process group (NCCL on CUDA, Gloo on
CPU; an already initialised group is used as it is) and trains on CUDA device
``LOCAL_RANK`` or on the CPU. With one process (``WORLD_SIZE=1`` or no torchrun) nothing
here is used.

How a run is shared between the ranks (the choices, and why):

- ``batch_size`` is the **global** batch: every rank draws the same permutation from the
  same seeded generator, and rank ``r`` of ``W`` takes the ``r``-th slice of
  ``batch_size // W`` rows of every batch. DistributedDataParallel averages the
  gradients over the ranks, which is the mean over the global batch, so N processes with
  per-rank batch ``B / N`` train like one process with batch ``B`` (exactly so without
  dropout or unsynchronised batch norm; see :class:`Shard`).
- Gradients are all-reduced by :class:`torch.nn.parallel.DistributedDataParallel`: the
  loss object's ``batch(net, x, y)`` runs inside a DDP-wrapped module
  (:class:`DistributedLoss`), so every loss, the hierarchical softmax included, goes
  through DDP's forward and backward hooks. The hand-derived fast MLP step bypasses
  autograd, so a distributed run trains on the autograd step (``TrainConfig.fast`` off).
- Callbacks, diagnostics and saving see the plain network (``net.features``,
  ``net.head``), never the wrapper.
- At the end of an epoch the training sums are all-reduced, rank 0's batch-norm
  statistics are copied to every rank, and rank 0's epoch numbers (validation included:
  every rank evaluates the full validation set) are broadcast, so all ranks hold the
  same history and take the same early-stopping decisions; numbers that callbacks add
  to the row (the diagnostics) are averaged over the ranks, and rank 0's stop decision
  is the one every rank follows.
- Only rank 0 writes files (checkpoints, run folders, reports, TensorBoard); every
  rank reads a checkpoint to resume.
"""

from __future__ import annotations

import atexit
import gc
import inspect
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from ..exceptions import ConfigError

#: Variables torchrun sets in every process it starts.
TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


def launched_by_torchrun() -> bool:
    """Whether torchrun (or another launcher using its variables) started this process."""
    return all(name in os.environ for name in TORCHRUN_VARIABLES)


def is_distributed() -> bool:
    """Whether a process group of more than one process is up."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's rank: the process group's, else torchrun's ``RANK`` (before the group is
    joined), else 0."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return int(os.environ.get("RANK", "0")) if launched_by_torchrun() else 0


def is_main_process() -> bool:
    """True on rank 0 and in a single process: the one process that writes files."""
    return rank() == 0


def barrier() -> None:
    """Wait for every rank (nothing without a process group)."""
    if is_distributed():
        dist.barrier()


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` on every rank (``obj`` itself without a process group)."""
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


@dataclass
class Shard:
    """One rank's part of a distributed run.

    Parameters
    ----------
    rank : int
        This process's rank.
    world_size : int
        Number of processes.
    """

    rank: int
    world_size: int
    #: (full batches, rows per rank per batch, rows per rank of the last batch), set by :meth:`plan`
    layout: tuple[int, int, int] = (0, 0, 0)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    # ------------------------------------------------------------ the epoch's rows
    def plan(self, n: int, batch_size: int, min_rows: int = 1) -> tuple[int, int, int]:
        """Rows per epoch and batch size of this rank, and steps per epoch (equal on every rank).

        Every rank takes ``batch_size // world_size`` rows of each global batch; a
        ``batch_size`` that is no multiple of the world size is rounded down to one (with
        a warning), because ranks with unequal slices would weigh their rows unequally in
        DDP's gradient mean. The epoch's last, partial batch is cut to a multiple of the
        world size (at most ``world_size - 1`` rows sit out that epoch, other ones each
        epoch) and is left out when a rank's slice would have fewer than ``min_rows``
        rows (batch norm cannot normalise one row in training mode).

        Parameters
        ----------
        n : int
            Training rows (all ranks together).
        batch_size : int
            Global batch size.
        min_rows : int, default=1
            Fewest rows of a rank's slice of the last batch.

        Returns
        -------
        (rows, batch, steps) : tuple of int
            This rank's rows per epoch, this rank's batch size, steps per epoch.
        """
        w = self.world_size
        per_rank = batch_size // w
        if per_rank < 1 or n < w:
            raise ConfigError(
                f"batch_size={batch_size} with {n} training rows cannot be shared by {w} processes; "
                f"use a batch_size and a data set of at least {w} rows (one per process), or fewer processes."
            )
        if batch_size % w and self.is_main:
            warnings.warn(
                f"batch_size={batch_size} is the global batch and is no multiple of the {w} processes; "
                f"training uses a global batch of {per_rank * w} ({per_rank} rows per process).",
                UserWarning, stacklevel=3,
            )
        n_full, remainder = divmod(n, per_rank * w)
        last = remainder // w
        if last < min_rows and n_full > 0:
            last = 0
        self.layout = (n_full, per_rank, last)
        return n_full * per_rank + last, per_rank, n_full + int(last > 0)

    def take(self, perm: torch.Tensor) -> torch.Tensor:
        """This rank's rows of the epoch's global permutation, in step order (after :meth:`plan`)."""
        n_full, per_rank, last = self.layout
        w, r = self.world_size, self.rank
        full = n_full * per_rank * w
        parts = [perm[:full].view(n_full, w, per_rank)[:, r].reshape(-1)]
        if last:
            parts.append(perm[full:full + last * w].view(w, last)[r])
        return torch.cat(parts)

    # ------------------------------------------------------------ end of epoch
    def epoch_totals(self, net: nn.Module, loss_sum: torch.Tensor, score_sum: torch.Tensor,
                     seen: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        """The whole run's training sums, and rank 0's batch-norm statistics on every rank.

        ``seen`` needs no communication: every rank trains on the same number of rows.
        """
        totals = torch.stack([loss_sum, score_sum.to(loss_sum.dtype)])
        dist.all_reduce(totals)
        sync_buffers(net)
        return totals[0], totals[1], seen * self.world_size

    def same_numbers(self, stats: torch.Tensor) -> torch.Tensor:
        """Rank 0's epoch numbers on every rank, so every rank takes the same decisions."""
        stats = stats.contiguous()
        dist.broadcast(stats, src=0)
        return stats

    def agree(self, run: Any) -> None:
        """After the epoch's callbacks: average what they added to the row, follow rank 0's stop."""
        row = run.history[-1]
        gathered: list[Any] = [None] * self.world_size
        dist.all_gather_object(gathered, (row, run.stop_requested, run.stop_reason))
        row.update(_mean_numbers([g[0] for g in gathered]))
        run.stop_requested, run.stop_reason = gathered[0][1], gathered[0][2]

    # ------------------------------------------------------------ gradients
    def wrap(self, net: nn.Module, loss_fn: Any) -> DistributedLoss:
        """``loss_fn`` whose ``batch(net, x, y)`` runs through DistributedDataParallel."""
        return DistributedLoss(net, loss_fn)


def _mean_numbers(values: list[Any]) -> Any:
    """Element-wise mean over ranks of numbers (nested in dicts); anything else from rank 0."""
    first = values[0]
    if isinstance(first, dict):
        if not all(isinstance(v, dict) for v in values):
            return first
        return {k: _mean_numbers([v.get(k, first[k]) for v in values]) for k in first}
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    if not numeric or all(v == first for v in values):
        return first
    return sum(float(v) for v in values) / len(values)


def sync_buffers(net: nn.Module) -> None:
    """Copy rank 0's buffers (batch-norm running statistics) to every rank."""
    for buffer in net.buffers():
        dist.broadcast(buffer, src=0)


# The name of DDP's per-forward buffer broadcast switch: ``forward_sync_buffers`` since
# torch 2.13 (``broadcast_buffers`` is deprecated there), ``broadcast_buffers`` before.
_SYNC_BUFFERS = ("forward_sync_buffers"
                 if "forward_sync_buffers" in inspect.signature(nn.parallel.DistributedDataParallel).parameters
                 else "broadcast_buffers")


class _LossModule(nn.Module):
    """The network and the loss as one module, so DDP sees the loss object's whole forward."""

    def __init__(self, net: nn.Module, loss_fn: Any) -> None:
        super().__init__()
        self.net = net
        self.loss_fn = loss_fn

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.loss_fn.batch(self.net, x, y)


class DistributedLoss:
    """A trainwell loss whose ``batch`` runs through DistributedDataParallel.

    Everything else (``__call__``, ``name``, ``scores_to_proba``, ...) is the wrapped
    loss's. Building it broadcasts rank 0's parameters and buffers to every rank.

    Parameters
    ----------
    net : nn.Module
        The plain network (on this rank's device).
    loss_fn : trainwell.nn.Loss
    """

    def __init__(self, net: nn.Module, loss_fn: Any) -> None:
        self.loss = loss_fn
        self.net = net
        device = next(net.parameters()).device
        ids = [device] if device.type == "cuda" else None
        # forward_sync_buffers=False: DDP would otherwise send rank 0's batch-norm statistics
        # before every forward (a broadcast and a wait for the slowest rank each step); they are
        # sent once per epoch instead (Shard.epoch_totals), with the same outcome: rank 0's
        # statistics, which DDP's per-step broadcast never overwrites either.
        no_buffer_sync = {_SYNC_BUFFERS: False}
        self.ddp = nn.parallel.DistributedDataParallel(_LossModule(net, loss_fn), device_ids=ids,
                                                       gradient_as_bucket_view=True, **no_buffer_sync)

    def batch(self, net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Mean loss over this rank's rows and the scores; gradients get all-reduced in backward."""
        if net is not self.net:  # another network (a callback's experiment): no DDP
            return self.loss.batch(net, x, y)
        return self.ddp(x, y)

    def __call__(self, scores: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.loss(scores, y)

    def __getattr__(self, name: str) -> Any:
        if name == "loss":  # not set yet (a copy being built): no recursion
            raise AttributeError(name)
        return getattr(self.loss, name)


def release_ddp(run: Any, loss_fn: DistributedLoss) -> None:
    """Free the run's DistributedDataParallel now, while the process group is still up.

    DDP's reducer holds the Gloo process group. Kept alive by the fitted estimator (its
    ``run_.loss_fn``), it was freed only when the estimator was, after the program had
    destroyed the group, and Gloo's destructor then waited forever for its threads
    (seen as a hung rank in tests/test_distributed.py). The run keeps the plain loss.
    """
    run.loss_fn = loss_fn.loss
    loss_fn.ddp = None
    gc.collect()  # DDP's module and hooks may sit in a reference cycle: free them here, not later


# ---------------------------------------------------------------- joining the group
def setup(device: torch.device) -> tuple[Shard | None, torch.device]:
    """Join the process group when torchrun started this process; this rank's device.

    Parameters
    ----------
    device : torch.device
        The device asked for (``cuda`` without an index means ``cuda:LOCAL_RANK``).

    Returns
    -------
    (shard, device)
        ``shard`` is ``None`` for a single process (no torchrun, ``WORLD_SIZE=1``).
    """
    if not dist.is_available():
        return None, device
    if not dist.is_initialized():
        if not launched_by_torchrun() or int(os.environ["WORLD_SIZE"]) < 2:
            return None, device
        if device.type == "cuda" and device.index is None:
            device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        atexit.register(_leave)
    elif device.type == "cuda" and device.index is None:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", torch.cuda.current_device())))
    if dist.get_world_size() < 2:
        return None, device
    backend = dist.get_backend()
    if device.type == "cpu" and backend == "nccl":
        raise ConfigError("The process group uses NCCL, which needs CUDA tensors; train with device='cuda' or start it with Gloo.")
    return Shard(dist.get_rank(), dist.get_world_size()), device


def _leave() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


@contextmanager
def synchronised_batchnorm(net: nn.Module, enabled: bool, device: torch.device) -> Iterator[None]:
    """Batch norm over the global batch while training (``nn.SyncBatchNorm``), plain afterwards.

    The plain modules go back in place when training ends; they share their parameters
    and statistics with the synchronised ones, so the trained values carry over and the
    fitted network is the same kind of module as after a single-process fit.
    """
    if not enabled:
        yield
        return
    if device.type != "cuda":
        raise ConfigError(
            "sync_batchnorm=True needs CUDA (PyTorch's SyncBatchNorm runs on GPUs only); on CPU leave it False "
            "(each process then normalises its own slice of the batch)."
        )
    originals = {name: m for name, m in net.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)}
    converted = nn.SyncBatchNorm.convert_sync_batchnorm(net)
    if converted is not net:
        raise ConfigError("sync_batchnorm=True needs batch norm inside the network, not as the network itself.")
    try:
        yield
    finally:
        for name, original in originals.items():
            parent_name, _, child = name.rpartition(".")
            parent = net.get_submodule(parent_name) if parent_name else net
            original.load_state_dict(getattr(parent, child).state_dict())
            original.train(net.training)
            setattr(parent, child, original)
