"""The training steps of a run: the autograd step for every network, the fast MLP step where it applies.

Both update the same parameters through the same optimizer: with flat parameters
(:mod:`.flat`) they share one gradient buffer and one fused update (:mod:`.update`), so a
watched step (autograd, with the network's hooks) in the middle of fast ones continues
the same optimizer state. :func:`make_network_input` turns a gathered batch into what the
steps feed the network (prepared, augmented, laid out channels-last).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from .config import TrainConfig
from .fast_mlp import FastMLPStep, fast_mlp_support
from .flat import FlatParameters
from .optim import decayed_parameters
from .state import RunState
from .update import FlatUpdate

if TYPE_CHECKING:
    from .distributed import Shard


def make_autograd_step(net: nn.Module, loss_fn, optimizer: torch.optim.Optimizer, config: TrainConfig,
                       scheduler: Any, per_batch_schedule: bool, flat: FlatParameters | None = None,
                       update: Callable[[], None] | None = None) -> Callable:
    """The general training step on autograd: forward, backward, regularise, update.

    With ``flat`` and ``update`` (flat parameters), the gradients accumulate into the
    flat gradient buffer and ``update`` applies L1, clipping and the optimizer step, so
    this step and the fast step share parameters and optimizer state exactly.

    Returns a function ``step(xb, yb, wb=None) -> (loss, scores or None)`` whose outputs
    stay on the device; ``wb`` holds the batch's sample weights (the loss is then their
    weighted mean, see :mod:`trainwell.nn.losses`).
    """
    device_type = next(net.parameters()).device.type
    autocast = config.bf16 and device_type in ("cuda", "cpu")

    def forward(xb: torch.Tensor, yb: torch.Tensor, wb: torch.Tensor | None):
        args = (net, xb, yb) if wb is None else (net, xb, yb, wb)  # a loss of one's own may not take weights
        if autocast:
            # no weight-cast cache: a cache entry would outlive a captured graph's replay
            with torch.autocast(device_type, dtype=torch.bfloat16, cache_enabled=False):
                return loss_fn.batch(*args)
        return loss_fn.batch(*args)

    if flat is not None and update is not None:
        def flat_step(xb: torch.Tensor, yb: torch.Tensor, wb: torch.Tensor | None = None):
            loss, scores = forward(xb, yb, wb)
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

    def step(xb: torch.Tensor, yb: torch.Tensor, wb: torch.Tensor | None = None):
        loss, scores = forward(xb, yb, wb)
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

    Both share the flat parameters and the optimizer (the run's loop internals), so a
    watched step in the middle of fast ones continues the same optimizer state.
    """
    per_batch = run._loop.schedule_when == "batch"
    after = run.scheduler.step if per_batch else None
    flat = run._loop.flat
    if flat is None:
        general = make_autograd_step(net, loss_fn, run.optimizer, config, run.scheduler, per_batch)
        return Steps(general, None, "config.fast is off" if not config.fast else FlatParameters.supports(net))
    update = FlatUpdate(flat, run.optimizer, config.l1, config.grad_clip)
    general = make_autograd_step(net, loss_fn, run.optimizer, config, run.scheduler, per_batch, flat, update)
    body = make_autograd_step(net, loss_fn, run.optimizer, config, run.scheduler, False, flat, update)
    sample = train[0][:2] if config.prepare is None else config.prepare(train[0][:2])
    reason = fast_mlp_support(net, loss_fn, sample, train[1], config.bf16)
    fast = FastMLPStep(net, loss_fn, flat, update, after, bf16=config.bf16) if reason is None else None
    return Steps(general, fast, reason, update, body)


def make_network_input(net: nn.Module, config: TrainConfig, shard: Shard | None,
                       generator: torch.Generator | None) -> Callable[..., torch.Tensor]:
    """The function that turns a gathered training batch into the network's input.

    ``network_input(xb, reuse=False)`` prepares the batch (``config.prepare``), augments it
    (``config.augment``, drawing from ``generator``) and lays images out channels-last where
    the network trains so. ``reuse=True`` writes the prepared batch into a buffer kept from
    step to step (no allocation per step); watched steps get a fresh tensor a callback may
    keep. A closure, not an object: it runs every step, and reads its settings from cells
    instead of attributes.
    """
    prepare, augment = config.prepare, config.augment
    channels_last = uses_channels_last(net, config)
    prepared: dict[int, torch.Tensor] = {}  # reused network-input buffers of unwatched steps, by batch size

    def network_input(xb: torch.Tensor, reuse: bool = False) -> torch.Tensor:
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

    return network_input
