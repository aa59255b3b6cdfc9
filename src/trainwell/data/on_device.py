"""Raw 8-bit images kept on the device, scaled per batch with the training statistics.

A data set of images is a quarter of its float32 size as ``uint8``; trainwell keeps it
resident in that form and turns each gathered batch into the network's float input on the
device, with exactly the arithmetic of :meth:`FeatureTransform.transform` (so training on
the device and predicting on the host see the same numbers).
"""

from __future__ import annotations

import numpy as np
import torch

from .features import FeatureTransform


def keeps_raw_bytes(X: object, transform: FeatureTransform) -> bool:
    """Whether ``X`` can stay resident as ``uint8``: a plain uint8 array with no categories
    and no piecewise-linear bins (the device applies the mean and scale only)."""
    return isinstance(X, np.ndarray) and X.dtype == np.uint8 and not transform.categories and not transform.bins


def full_statistics(transform: FeatureTransform) -> tuple[np.ndarray, np.ndarray]:
    """The training mean and scale broadcast to one whole sample (float32 arrays)."""
    sample = transform.sample_shape
    mean, scale = transform.mean, transform.scale
    if transform.per_channel:
        shape = (-1,) + (1,) * (len(sample) - 1) if mean.size > 1 else (1,) * len(sample)
        mean, scale = mean.reshape(shape), scale.reshape(shape)
    return (np.array(np.broadcast_to(mean, sample), dtype=np.float32),  # copies: writable, contiguous
            np.array(np.broadcast_to(scale, sample), dtype=np.float32))


def scaled_black(transform: FeatureTransform, channels: int) -> tuple[float, ...]:
    """The scaled value of a black (zero) pixel per channel: what random shifts pad with."""
    mean, scale = full_statistics(transform)
    values = (np.float32(0) - mean) / scale
    return tuple(float(v) for v in values.reshape(channels, -1)[:, 0])


class DeviceScaler:
    """``(x - mean) / scale`` on the device for batches of raw ``uint8`` samples.

    Parameters
    ----------
    transform : FeatureTransform
        Fitted on the training data; its per-channel or per-feature statistics are
        broadcast here to one full sample, as :meth:`FeatureTransform.transform` does.
    input_shape : tuple of int
        The network's input shape (the sample shape reshaped, e.g. flat for an MLP).
    device : torch.device
    """

    def __init__(self, transform: FeatureTransform, input_shape: tuple[int, ...], device: torch.device) -> None:
        mean, scale = full_statistics(transform)
        self.mean = torch.from_numpy(mean).reshape(input_shape).to(device)
        self.scale = torch.from_numpy(scale).reshape(input_shape).to(device)
        # scaling="robust": the numeric columns are clipped smoothly after scaling, as on the host
        self.clip = (torch.from_numpy(~transform._binary_mask()).reshape(input_shape).to(device)
                     if transform.scaling == "robust" else None)

    #: The training loop may pass ``out=`` to reuse one buffer from step to step.
    supports_out = True

    def __call__(self, xb: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """The float32 network input for the raw batch ``xb`` (written into ``out`` if given)."""
        if out is None:
            return self._clip((xb.to(torch.float32) - self.mean) / self.scale)
        # the same two roundings as above, into ``out`` with no temporary
        if xb.dtype == torch.float32:
            torch.sub(xb, self.mean, out=out)
        else:
            out.copy_(xb).sub_(self.mean)
        return self._clip(out.div_(self.scale))

    def _clip(self, x: torch.Tensor) -> torch.Tensor:
        """:func:`~trainwell.data.statistics.smooth_clip` of the numeric columns (robust scaling only)."""
        if self.clip is None:
            return x
        clipped = x / torch.sqrt(1 + torch.square(x / 3))
        return x.copy_(torch.where(self.clip, clipped, x))  # back into x: a caller's out= buffer stays the result
