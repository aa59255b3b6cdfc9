"""The training settings the loop needs besides the network, the loss and the data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch


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
