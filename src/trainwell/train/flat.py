"""Every parameter and every gradient of a network as a view of one flat buffer.

With the weights that L2/L1 apply to laid out first and everything else after them, the
optimizer sees two tensors instead of one per layer: its update is two fused kernel calls
per step whatever the depth, and regularising the weights is one operation on a
contiguous slice. The module's ``nn.Parameter`` objects stay in place and keep working
(``state_dict``, ``load_state_dict``, saving, evaluation, hooks): only their storage moves
into the flat buffer, and their ``.grad`` is a view of the flat gradient buffer.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .optim import decayed_parameters


@dataclass(frozen=True)
class Slot:
    """Where one parameter lives in the flat buffers."""

    param: nn.Parameter
    offset: int
    numel: int
    #: A 4-D weight stored as (out, height, width, in): channels-last strides.
    channels_last: bool = False


class FlatParameters:
    """Move ``net``'s trainable parameters into one buffer and their gradients into another.

    Parameters
    ----------
    net : nn.Module
        Every trainable parameter is moved; they must share one device and dtype.
    channels_last : bool, default=False
        Lay out 4-D weights (2-D convolutions) in channels-last order, so that they keep
        that memory format as views of the flat buffer (``module.to(memory_format=...)``
        cannot act on a view).

    Attributes
    ----------
    data, grad : Tensor
        The flat parameter and gradient buffers (1-D).
    decay, rest : nn.Parameter
        Aliases of ``data[:n_decay]`` (the weights L2/L1 apply to) and ``data[n_decay:]``
        (biases, batch-norm and PReLU parameters); what the optimizer updates. Their
        ``.grad`` are the matching slices of ``grad``.
    n_decay : int
        Number of decayed weights.
    """

    def __init__(self, net: nn.Module, channels_last: bool = False) -> None:
        decay, rest = decayed_parameters(net)
        params = decay + rest
        first = params[0]
        self.n_decay = sum(p.numel() for p in decay)
        total = sum(p.numel() for p in params)
        self.data = torch.empty(total, dtype=first.dtype, device=first.device)
        self.grad = torch.zeros(total, dtype=first.dtype, device=first.device)
        self.slots: list[Slot] = []
        offset = 0
        for p in params:
            self.slots.append(Slot(p, offset, p.numel(), channels_last and p.ndim == 4))
            offset += p.numel()
        self.bind()
        # Parameters made from a slice alias its storage (``_make_subclass`` detaches, it
        # does not copy); the optimizer only ever sees these two.
        self.decay = nn.Parameter(self.data[: self.n_decay])
        self.rest = nn.Parameter(self.data[self.n_decay:])
        self.decay.grad = self.grad[: self.n_decay]
        self.rest.grad = self.grad[self.n_decay:]

    @staticmethod
    def supports(net: nn.Module) -> str | None:
        """Why ``net``'s parameters cannot be flattened, or ``None`` when they can."""
        params = list(net.parameters())
        if not params:
            return "the network has no parameters"
        if any(not p.requires_grad for p in params):
            return "some parameters are frozen"
        if len({(p.device, p.dtype) for p in params}) != 1:
            return "the parameters do not share one device and dtype"
        if not params[0].dtype.is_floating_point:
            return "the parameters are not floating point"
        decay, rest = decayed_parameters(net)
        if len({id(p) for p in decay + rest}) != len(params):
            return "some parameters are shared between layers"
        return None

    def view(self, slot: Slot, buffer: torch.Tensor) -> torch.Tensor:
        """The part of ``buffer`` (``data`` or ``grad``) that holds ``slot``'s parameter."""
        part = buffer[slot.offset: slot.offset + slot.numel]
        if slot.channels_last:
            out, inp, h, w = slot.param.shape
            return part.view(out, h, w, inp).permute(0, 3, 1, 2)
        return part.view(slot.param.shape)

    @torch.no_grad()
    def bind(self) -> None:
        """Copy every parameter's current values into the flat buffer and make it a view there."""
        for slot in self.slots:
            data = self.view(slot, self.data)
            data.copy_(slot.param)
            slot.param.data = data
            slot.param.grad = self.view(slot, self.grad)

    def intact(self) -> bool:
        """Whether every parameter still lives in the flat buffers.

        ``module.to(...)``, ``param.data = ...`` or ``zero_grad(set_to_none=True)``
        outside the loop break the link; :meth:`bind` restores it.
        """
        base, gbase = self.data.data_ptr(), self.grad.data_ptr()
        size = self.data.element_size()
        for slot in self.slots:
            p = slot.param
            if p.data_ptr() != base + slot.offset * size or p.grad is None:
                return False
            if p.grad.data_ptr() != gbase + slot.offset * size:
                return False
        return True

    def restore_grads(self) -> None:
        """Make every ``.grad`` a view of the flat gradient buffer again, keeping its values.

        Autograd accumulates into an existing ``.grad`` in place, so this is a no-op after
        a normal ``backward()``; it repairs a gradient some hook replaced.
        """
        gbase = self.grad.data_ptr()
        size = self.grad.element_size()
        for slot in self.slots:
            p = slot.param
            if p.grad is None or p.grad.data_ptr() != gbase + slot.offset * size:
                view = self.view(slot, self.grad)
                if p.grad is None:
                    view.zero_()
                else:
                    view.copy_(p.grad)
                p.grad = view
