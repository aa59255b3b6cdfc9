"""From an estimator's parameters and its data's shape to a network spec and a loop configuration.

Pure functions of the parameters (no fitted state is written here), so the checks in
:mod:`trainwell.diagnose` and the tests can ask what a fit would build.
"""

from __future__ import annotations

import numbers
import warnings
from typing import Any

import numpy as np
import torch

from ..data.features import is_signal_shape
from ..exceptions import ConfigError
from ..nn import ConvBlock, NetworkSpec, parse_activation, parse_init
from ..nn.init import warn_if_symmetric
from ..train import TrainConfig
from ..train.loop import bf16_supported
from .params import (
    DEFAULT_CONV,
    auto_batch_size,
    auto_dropout,
    auto_hidden,
    auto_lr_schedule,
    hidden_from_text,
    is_auto,
)

# Names (kind, optimizer, loss, lr_schedule, device...) are accepted in any case and stored as
# given (scikit-learn's clone contract); they are lowered here, where they are turned into things.


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` means CUDA when present, else CPU."""
    if is_auto(device):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if isinstance(device, str):
        device = device.lower()
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(f"device={device!r} is not a device; use 'auto', 'cpu' or 'cuda'.") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device='cuda' was asked for but no CUDA GPU is available; use device='auto' or 'cpu'.")
    return dev


def hidden_sizes(hidden: Any, n_train: int) -> tuple[int, ...]:
    """The dense hidden layers ``hidden`` asks for (``"auto"``: :func:`auto_hidden`; text such as
    ``"256,128"``, the command line's form, is read as sizes)."""
    if is_auto(hidden):
        return auto_hidden(n_train)
    if isinstance(hidden, str):
        return hidden_from_text(hidden)
    if isinstance(hidden, numbers.Integral):
        return (int(hidden),)
    return tuple(int(h) for h in hidden)


def loss_name(loss: str, classification: bool) -> str:
    """The loss a fit trains with: ``"auto"`` is cross-entropy for a classifier, MSE for a regressor."""
    if is_auto(loss):
        return "cross_entropy" if classification else "mse"
    return loss.lower()


def schedule_name(schedule: Any, kind: str) -> Any:
    """``lr_schedule`` as the loop takes it: ``"auto"`` resolved for ``kind``, names lowered."""
    if is_auto(schedule):
        return auto_lr_schedule(kind)
    if isinstance(schedule, str):
        return schedule.lower()
    if isinstance(schedule, dict) and isinstance(schedule.get("name"), str):
        return {**schedule, "name": schedule["name"].lower()}
    return schedule


def resolve_kind(kind: str, sample_shape: tuple[int, ...]) -> str:
    """``"auto"``: a CNN for image- or signal-shaped samples, an MLP for flat ones."""
    if not is_auto(kind):
        return kind.lower()  # an MLP flattens image- or signal-shaped samples
    return "cnn" if len(sample_shape) > 1 else "mlp"


def image_shape(sample_shape: tuple[int, ...]) -> tuple[int, int, int] | None:
    """``(channels, height, width)`` when the samples are images, else ``None``."""
    if len(sample_shape) == 2 and not is_signal_shape(sample_shape):
        return (1, *sample_shape)
    if len(sample_shape) == 3:
        return sample_shape
    return None


def network_input_shape(sample_shape: tuple[int, ...], kind: str) -> tuple[int, ...]:
    """The shape of one sample as the network takes it (flat for an MLP, with channels for a CNN)."""
    if kind == "mlp":
        return (int(np.prod(sample_shape)),)
    if len(sample_shape) == 1:  # (n, length) signal: one channel
        return (1, sample_shape[0])
    if len(sample_shape) == 2:
        # (n, channels, length) signals with few channels, or (n, height, width) grey images
        return sample_shape if is_signal_shape(sample_shape) else (1, *sample_shape)
    return sample_shape


def make_spec(params: dict[str, Any], sample_shape: tuple[int, ...], n_outputs: int, n_train: int,
              loss: str) -> NetworkSpec:
    """The network a fit with these parameters builds for samples of ``sample_shape``.

    Parameters
    ----------
    params : dict
        The estimator's ``get_params(deep=False)``.
    sample_shape : tuple of int
        One prepared sample's shape.
    n_outputs : int
        Classes, or regression targets.
    n_train : int
        Training rows (the ``"auto"`` rules adapt to it).
    loss : str
        The resolved loss name.
    """
    kind = resolve_kind(params["kind"], sample_shape)
    act, act_param = parse_activation(params["activation"])
    init, init_param = parse_init(params["init"], act)
    warn_if_symmetric(init)
    conv: tuple[ConvBlock, ...] = ()
    if kind == "cnn":
        conv = DEFAULT_CONV if is_auto(params["conv"]) else tuple(
            b if isinstance(b, ConvBlock) else ConvBlock(*b) for b in params["conv"]
        )
    hidden = hidden_sizes(params["hidden"], n_train)
    if kind == "cnn" and is_auto(params["hidden"]):
        hidden = (128,)
    dropout = params["dropout"]
    if is_auto(dropout):
        dropout = auto_dropout(n_train, int(np.prod(sample_shape))) if kind == "mlp" else 0.0
    return NetworkSpec(
        kind=kind,
        input_shape=network_input_shape(sample_shape, kind),
        n_outputs=n_outputs,
        hidden=hidden,
        conv=conv,
        activation=act,
        activation_param=act_param,
        init=init,
        init_param=init_param,
        batchnorm=bool(params["batchnorm"]),
        dropout=float(dropout),
        head="hierarchical_softmax" if loss == "hierarchical_softmax" else "linear",
        output_activation=params["output_activation"].lower() if isinstance(params.get("output_activation"), str)
        else None,
    )


def use_bf16(asked: bool, device: torch.device) -> bool:
    """``bf16`` where it pays: CUDA, or a CPU with native bf16 matrix instructions; else a warning."""
    if not asked:
        return False
    if not bf16_supported(device):
        warnings.warn(
            f"bf16=True is ignored on this {device.type}: it has no native bf16 matrix instructions "
            "(AVX512 or AMX on a CPU), so bf16 products would be emulated and slower than float32; "
            "training in float32.", UserWarning, stacklevel=5)
        return False
    return True


def train_config(params: dict[str, Any], kind: str, n_train: int, device: torch.device,
                 classification: bool) -> TrainConfig:
    """The training loop's configuration for these parameters, a network of ``kind`` and ``n_train`` rows."""
    batch_size = params["batch_size"]
    return TrainConfig(
        optimizer=params["optimizer"].lower(),
        lr=float(params["lr"]),
        momentum=float(params["momentum"]),
        l2=float(params["l2"]),
        l1=float(params["l1"]),
        lr_schedule=schedule_name(params["lr_schedule"], kind),
        batch_size=auto_batch_size(n_train) if is_auto(batch_size) else int(batch_size),
        max_epochs=int(params["max_epochs"]),
        grad_clip=params["grad_clip"],
        bf16=use_bf16(bool(params["bf16"]), device),
        cuda_graphs=bool(params["cuda_graphs"]),
        classification=classification,
    )
