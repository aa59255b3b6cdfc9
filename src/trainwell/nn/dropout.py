"""Dropout whose mask costs a third of ``nn.Dropout``'s on the CPU.

``nn.Dropout`` on the CPU draws its mask with ``bernoulli_`` (about 5.5 ns an element,
measured on a 2-core EPYC with torch 2.13) and then divides it by the keep probability:
on the small tables trainwell trains with dropout (batch 16, two hidden layers) that was a
quarter of the whole training step. :func:`dropout_noise` draws 16 random bits an element
instead (one 64-bit draw for four elements, about 1.3 ns), keeps an element when its bits
fall under the keep probability (rounded to 1/65,536), and writes the kept elements' scale
in one product: the same distribution, to within that rounding, at a fraction of the cost.
torch has no cheaper Bernoulli draw on the CPU, hence this file.

:class:`Dropout` is ``nn.Dropout`` with that mask on the CPU; on other devices (CUDA's fused
kernel is already fast) and in evaluation mode it is ``nn.Dropout`` itself. The fast MLP
step (:mod:`trainwell.train.fast_mlp`) draws the same noise from the same generator, so a
step trains alike on either path.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["Dropout", "draw_noise", "dropout_noise", "keep_threshold"]

#: Devices where :class:`Dropout` draws its mask from random bits (elsewhere: ``nn.Dropout``).
BIT_MASK_DEVICES = ("cpu",)


def keep_threshold(p: float) -> tuple[int, float]:
    """The 16-bit threshold under which an element is kept, and the kept elements' scale.

    The keep probability ``1 - p`` rounded to a multiple of 1/65,536 (at least one step,
    at most 65,535 steps), and ``1 / that probability``, so the expected output is the input.
    """
    steps = min(65535, max(1, round((1.0 - p) * 65536)))
    return steps - 32768, 65536.0 / steps


def draw_noise(bits: torch.Tensor, sixteen: torch.Tensor, threshold: int | torch.Tensor, scale: torch.Tensor,
               mask: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """The recipe on kept buffers: fill ``bits`` (int64), keep where ``sixteen`` (``bits`` seen
    as one int16 per element, shaped like the activations) is under ``threshold`` (a number or
    a 0-d int16 tensor), and write ``mask * scale`` (``scale``: a 0-d tensor of ``out``'s
    dtype) into ``out``.

    The one place the draw is written: :func:`dropout_noise` (the module) and the fast MLP step
    (its buffers kept from step to step) both call it, so both draw the same masks.
    """
    # the whole 64-bit range: random_() alone leaves the sign bit 0, and every fourth 16-bit part biased
    bits.random_(-(2 ** 63), None)
    torch.lt(sixteen, threshold, out=mask)
    # the mask as 0/1 in ``dtype``, times the scale (a 0-d tensor of ``dtype``, rounded to it
    # once): ``torch.mul(mask, scale)`` computes the same, but casts the mask into a new tensor first
    return out.copy_(mask).mul_(scale)


def dropout_noise(shape: torch.Size | tuple[int, ...], p: float, dtype: torch.dtype,
                  device: torch.device) -> torch.Tensor:
    """Dropout's multiplier for a tensor of ``shape``: 0 where dropped, ``1 / keep`` where kept.

    Draws from torch's default generator of ``device``, as ``nn.Dropout`` does.
    """
    numel = math.prod(shape)
    bits = torch.empty((numel + 3) // 4, dtype=torch.int64, device=device)
    threshold, value = keep_threshold(p)
    return draw_noise(bits, bits.view(torch.int16)[:numel].view(shape), threshold,
                      torch.tensor(value, dtype=dtype, device=device),
                      torch.empty(shape, dtype=torch.bool, device=device), torch.empty(shape, dtype=dtype, device=device))


class Dropout(nn.Dropout):
    """``nn.Dropout`` whose CPU training mask comes from :func:`dropout_noise` (see the module).

    Parameters
    ----------
    p : float
        Probability of dropping an element, in [0, 1).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0 or x.device.type not in BIT_MASK_DEVICES:
            return super().forward(x)
        noise = dropout_noise(x.shape, self.p, x.dtype, x.device)
        return x.mul_(noise) if self.inplace else x * noise
