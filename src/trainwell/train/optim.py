"""Optimizers and learning-rate schedules by name, from ``torch.optim``.

L2 regularisation is the optimizer's (coupled) weight decay, applied to the weights of
linear and conv layers only, never to biases, batch-norm or PReLU parameters: the penalty
``l2 / 2 * sum(w ** 2)`` has gradient ``l2 * w``, which is what ``weight_decay=l2`` adds.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from ..exceptions import ConfigError

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "adadelta", "rmsprop", "adam")
SCHEDULES = ("none", "step", "exponential", "cosine", "onecycle", "plateau")


def decayed_parameters(net: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """Split parameters into (weights that L2/L1 apply to, everything else)."""
    decay, no_decay = [], []
    for module in net.modules():
        for name, p in module.named_parameters(recurse=False):
            if not p.requires_grad:
                continue
            is_weight = name == "weight" and p.ndim >= 2 and not isinstance(module, nn.PReLU)
            (decay if is_weight else no_decay).append(p)
    return decay, no_decay


def make_optimizer(name: str, net: nn.Module, lr: float, momentum: float, l2: float) -> torch.optim.Optimizer:
    """Return the optimizer ``name`` over ``net``'s trainable parameters.

    Parameters
    ----------
    name : str
        One of ``sgd, momentum, nesterov, adagrad, adadelta, rmsprop, adam``.
    net : nn.Module
    lr : float
    momentum : float
        Used by ``momentum`` and ``nesterov`` (and as RMSprop's momentum when > 0 there).
    l2 : float
        Weight decay on weights only.
    """
    decay, no_decay = decayed_parameters(net)
    return optimizer_for_groups(name, decay, no_decay, lr, momentum, l2)


def make_flat_optimizer(name: str, flat: Any, lr: float, momentum: float, l2: float) -> torch.optim.Optimizer:
    """The optimizer ``name`` over flat parameters: ``flat.decay`` with weight decay, ``flat.rest`` without.

    ``flat`` is a :class:`trainwell.train.flat.FlatParameters`. Two parameter groups of
    one tensor each: the same update as :func:`make_optimizer` gives per layer.
    """
    return optimizer_for_groups(name, [flat.decay] if flat.n_decay else [], [flat.rest] if flat.rest.numel() else [],
                                lr, momentum, l2)


def optimizer_for_groups(name: str, decay: list[torch.Tensor], no_decay: list[torch.Tensor], lr: float,
                         momentum: float, l2: float) -> torch.optim.Optimizer:
    """The optimizer ``name`` with weight decay ``l2`` on ``decay`` and none on ``no_decay``."""
    groups: list[dict[str, Any]] = [
        {"params": decay, "weight_decay": l2},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    groups = [g for g in groups if g["params"]]
    name = name.lower()  # names in any case: "Adam" is adam
    optim = torch.optim
    if name == "adam":
        return _without_dynamo_import(optim.Adam)(groups, lr=lr, **_fast_kwargs())
    if name == "sgd":
        return _without_dynamo_import(optim.SGD)(groups, lr=lr, **_fast_kwargs())
    if name == "momentum":
        return _without_dynamo_import(optim.SGD)(groups, lr=lr, momentum=momentum, **_fast_kwargs())
    if name == "nesterov":
        return _without_dynamo_import(optim.SGD)(groups, lr=lr, momentum=momentum, nesterov=True, **_fast_kwargs())
    if name == "adagrad":
        return _without_dynamo_import(optim.Adagrad)(groups, lr=lr, foreach=True)
    if name == "adadelta":
        return _without_dynamo_import(optim.Adadelta)(groups, lr=lr, foreach=True)
    if name == "rmsprop":
        return _without_dynamo_import(optim.RMSprop)(groups, lr=lr, foreach=True)
    raise ConfigError(f"Unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}.")


def _add_param_group(self: torch.optim.Optimizer, param_group: dict[str, Any]) -> None:
    """``Optimizer.add_param_group`` itself, without the ``torch._disable_dynamo`` wrapper around it.

    That wrapper imports ``torch._dynamo`` on its first call, in ``Optimizer.__init__``: about
    1 s (1.0-1.5 s on the 2-core EPYC), the whole of the first fit's extra cost in a fresh process
    (``bench/startup.md``), paid by every ``trainwell fit`` of a small table. trainwell never
    compiles, so the wrapper (which keeps ``torch.compile`` from tracing into the method) does
    nothing for it; the function it wraps (``__wrapped__``, set by ``functools.wraps``) does the
    work. Where a torch version has no ``__wrapped__`` there, the wrapper is called as before.
    """
    method = torch.optim.Optimizer.add_param_group
    return getattr(method, "__wrapped__", method)(self, param_group)


_NO_DYNAMO_IMPORT: dict[type, type] = {}


def _without_dynamo_import(cls: type[torch.optim.Optimizer]) -> type[torch.optim.Optimizer]:
    """``cls`` with :func:`_add_param_group` (a subclass: ``isinstance(opt, cls)`` holds, the
    schedulers and ``state_dict`` work as on ``cls``)."""
    sub = _NO_DYNAMO_IMPORT.get(cls)
    if sub is None:
        sub = _NO_DYNAMO_IMPORT[cls] = type(cls.__name__, (cls,), {
            "add_param_group": _add_param_group, "__module__": __name__,
            "__doc__": f"``torch.optim.{cls.__name__}`` whose construction does not import ``torch._dynamo``."})
    return sub


def _fast_kwargs() -> dict[str, bool]:
    # The fused kernels update every parameter in one pass (CPU and CUDA since torch 2.4).
    return {"fused": True}


def parse_schedule(schedule: str | dict | None) -> tuple[str, dict[str, Any]]:
    """Split ``lr_schedule`` (a name or ``{"name": ..., **options}``) into name and options."""
    if schedule is None:
        return "none", {}
    if isinstance(schedule, dict):
        options = dict(schedule)
        name = options.pop("name", None)
    else:
        name, options = schedule, {}
    if isinstance(name, str):
        name = name.lower()  # names in any case: "Step" is step
    if name not in SCHEDULES:
        raise ConfigError(f"Unknown lr_schedule {name!r}; choose one of {', '.join(SCHEDULES)}.")
    return name, options


class OneCycleThenHold(torch.optim.lr_scheduler.OneCycleLR):
    """``OneCycleLR`` that keeps its final rate (and momentum) once its planned steps are done.

    The cycle is planned for ``max_epochs`` epochs, but ``partial_fit`` may train past them
    (or on larger chunks); torch's scheduler then raises, this one holds the end of the cycle.
    """

    def step(self, epoch: int | None = None) -> None:
        if self.last_epoch >= self.total_steps - 1:  # the cycle's last planned rate is in effect
            if not getattr(self, "_held", False):
                self._held = True
                warnings.warn(
                    f"lr_schedule='onecycle' has finished the cycle it planned for max_epochs; training goes on at its "
                    f"final rate {self.get_last_lr()[0]:.3g}. Raise max_epochs to plan a longer cycle.",
                    UserWarning, stacklevel=2)
            return
        super().step(epoch)


def make_scheduler(schedule: str | dict | None, optimizer: torch.optim.Optimizer, max_epochs: int,
                   steps_per_epoch: int) -> tuple[Any, str]:
    """Return ``(scheduler or None, when)`` where ``when`` is ``"epoch"``, ``"batch"`` or ``"plateau"``.

    Defaults: ``step`` halves the rate every ``max(1, max_epochs // 4)`` epochs,
    ``exponential`` multiplies it by 0.95 each epoch, ``cosine`` anneals to 0 over
    ``max_epochs``, ``onecycle`` peaks at ``lr`` (per batch), ``plateau`` halves it after
    5 epochs without validation improvement.
    """
    name, opts = parse_schedule(schedule)
    s = torch.optim.lr_scheduler
    try:
        if name == "none":
            return None, "epoch"
        if name == "step":
            return s.StepLR(optimizer, step_size=opts.get("step_size", max(1, max_epochs // 4)), gamma=opts.get("gamma", 0.5)), "epoch"
        if name == "exponential":
            return s.ExponentialLR(optimizer, gamma=opts.get("gamma", 0.95)), "epoch"
        if name == "cosine":
            return s.CosineAnnealingLR(optimizer, T_max=opts.get("T_max", max_epochs)), "epoch"
        if name == "onecycle":
            max_lr = opts.pop("max_lr", [g["lr"] for g in optimizer.param_groups])
            return OneCycleThenHold(optimizer, max_lr=max_lr, total_steps=max_epochs * steps_per_epoch + 1,
                                    **opts), "batch"
        return s.ReduceLROnPlateau(optimizer, factor=opts.get("factor", 0.5), patience=opts.get("patience", 5)), "plateau"
    except TypeError as exc:
        raise ConfigError(f"lr_schedule options {opts} are not valid for {name!r} ({exc}).") from None


def current_lr(optimizer: torch.optim.Optimizer) -> float:
    """The learning rate of the first parameter group."""
    return float(optimizer.param_groups[0]["lr"])


def all_parameters(groups: Iterable[dict[str, Any]]) -> list[torch.Tensor]:
    """Every parameter of an optimizer's groups, in order."""
    return [p for g in groups for p in g["params"]]
