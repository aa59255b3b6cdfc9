"""The estimators' parameters: what each may be (constraints as data) and what ``"auto"`` means.

Validation follows scikit-learn's contract: ``__init__`` only stores, ``fit`` validates. The
valid values of every parameter are declared once, in :data:`COMMON_CONSTRAINTS` and each
estimator's ``_parameter_constraints``, as a check and the one sentence shown when it fails
(what is wrong and how to fix it). scikit-learn's own constraint machinery lives in a
private module (``sklearn.utils._param_validation``) and phrases errors its way, so trainwell
keeps a table of its own.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..data import plain
from ..exceptions import ConfigError
from ..nn import ConvBlock, parse_activation, parse_init
from ..train.optim import OPTIMIZERS, parse_schedule

SMALL_DATA = 1000  # rows below which the "auto" defaults adapt to small data
DEFAULT_CONV = (ConvBlock(32, 3, 2), ConvBlock(64, 3, 2), ConvBlock(128, 3, 0))


# ----------------------------------------------------------------------- "auto" rules
def auto_hidden(n_train: int) -> tuple[int, ...]:
    """Hidden sizes for ``hidden="auto"``: the notes' two hidden layers, narrower on small data."""
    if n_train < SMALL_DATA:
        return (128, 64)
    return (256, 128)


def auto_dropout(n_train: int, n_features: int) -> float:
    """Dropout of an MLP for ``dropout="auto"``: 0.2 on small data (fewer than 1,000 rows)
    or few input features (fewer than 100) feeding wide hidden layers, else none.

    Measured here: on load_diabetes (331 rows) dropout 0.2 lifts the mean test R² over five
    seeds from 0.30 to 0.34; on MNIST-1D (40 features) the MLP goes from 63.6 % to 68.9 %;
    on load_digits (64 features) it stays at 98.3 %; on MNIST-5k (784 pixels) it costs
    about 0.5 points, so it stays off there.
    """
    return 0.2 if n_train < SMALL_DATA or n_features < 100 else 0.0


def auto_validation_fraction(n_samples: int) -> float:
    """Validation share for ``validation_fraction="auto"``: 0.2 on small data, else 0.1.

    Early stopping on 33 validation rows (10 % of load_diabetes) follows noise.
    """
    return 0.2 if n_samples < SMALL_DATA else 0.1


def auto_batch_size(n_train: int) -> int:
    """Batch size for ``batch_size="auto"``: 128, smaller on small data so an epoch has
    enough steps (at least ~40) for Adam and batch norm to work with."""
    return int(min(128, max(16, 2 ** math.floor(math.log2(max(n_train // 40, 1))))))


def auto_lr_schedule(kind: str) -> str:
    """``lr_schedule="auto"``: halve the rate on validation plateaus for a CNN, constant for an MLP.

    Measured on MNIST-5k (demo split, seed 0): the default CNN 96.6 % with a constant rate
    (its validation accuracy jumps between epochs), 98.1 % with ``"plateau"``. MLPs keep a
    constant rate: there ``"plateau"`` measured mixed (digits +0.2, demo -0.4 points).
    """
    return "plateau" if kind == "cnn" else "none"


# ------------------------------------------------------------------------ constraints
@dataclass(frozen=True)
class Constraint:
    """What one parameter may be.

    ``check(value)`` returns whether the value is valid (or raises :class:`ConfigError` with
    a sentence of its own); ``message`` is formatted with ``name``, ``value`` and ``estimator``.
    """

    check: Callable[[Any], bool]
    message: str


def _is_bool(value: Any) -> bool:
    return isinstance(value, (bool, np.bool_))


def _positive_int(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, numbers.Integral) and value >= 1


def _real_in(low: float, high: float, *, low_open: bool = False, high_open: bool = True) -> Callable[[Any], bool]:
    def check(value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            return False
        above = value > low if low_open else value >= low
        below = value < high if high_open else value <= high
        return above and below

    return check


def is_auto(value: Any) -> bool:
    """Whether a parameter is ``"auto"`` (in any case: names are not case-sensitive)."""
    return isinstance(value, str) and value.lower() == "auto"


def _or_auto(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: is_auto(value) or check(value)


def one_of(*choices: str | None) -> Callable[[Any], bool]:
    """A check that accepts one of ``choices`` (``None`` among them if listed), in any case.

    The value is stored as given (scikit-learn's clone contract); where it is used it is
    lowered (:mod:`.building`, the parse functions of :mod:`trainwell.nn` and :mod:`trainwell.train`).
    """
    def check(value: Any) -> bool:
        if value is None:
            return None in choices
        return isinstance(value, str) and value.lower() in choices

    return check


def hidden_from_text(text: str) -> tuple[int, ...]:
    """Layer sizes written as on the command line: ``"256,128"`` is ``(256, 128)``, ``"64"`` is ``(64,)``.

    Raises
    ------
    ConfigError
        When the text is not comma-separated whole numbers of at least 1.
    """
    parts = [part.strip() for part in text.split(",")]
    if not all(part.isdigit() for part in parts):
        raise ConfigError(
            f"hidden={text!r} must be comma-separated layer sizes such as '256,128' (or a tuple such as (256, 128), "
            "or 'auto'); for no hidden layer pass hidden=()."
        )
    return tuple(int(part) for part in parts)


def _valid_hidden(value: Any) -> bool:
    if is_auto(value):
        return True
    hidden = (value,) if isinstance(value, numbers.Integral) else value
    if isinstance(hidden, str):  # the command line's form, not a sequence of characters
        hidden = hidden_from_text(hidden)
    try:
        sizes = tuple(hidden)
    except TypeError:
        raise ConfigError(f"hidden={plain(value)!r} must be a tuple of layer sizes such as (256, 128).") from None
    for size in sizes:
        if not _positive_int(size):
            raise ConfigError(
                f"hidden={plain(value)!r} has a layer of size {plain(size)!r}; every hidden layer needs at least 1 unit."
            )
    return True


def _valid_conv(value: Any) -> bool:
    if is_auto(value):
        return True
    try:
        blocks = [b if isinstance(b, ConvBlock) else ConvBlock(*b) for b in value]
    except TypeError:
        return False
    return bool(blocks) and all(
        _positive_int(b.channels) and _positive_int(b.kernel)
        and not isinstance(b.pool, bool) and isinstance(b.pool, numbers.Integral) and b.pool >= 0
        for b in blocks
    )


def _valid_schedule(value: Any) -> bool:
    if not is_auto(value):
        parse_schedule(value)  # raises ConfigError naming the valid schedules
    return True


def _valid_activation(value: Any) -> bool:
    parse_activation(value)  # raises ConfigError naming the valid activations
    return True


def _valid_init(value: Any) -> bool:
    parse_init(value, "relu")  # raises ConfigError naming the valid initialisations
    return True


_NUMBER_GE_0 = Constraint(_real_in(0, math.inf), "{name}={value!r} must be a number >= 0.")
_BOOL = Constraint(_is_bool, "{name}={value!r} must be True or False.")

#: The constraints both estimators share; each estimator adds its own in ``_parameter_constraints``.
COMMON_CONSTRAINTS: dict[str, Constraint] = {
    "kind": Constraint(one_of("auto", "mlp", "cnn"), "Unknown kind {value!r}; choose 'auto', 'mlp' or 'cnn'."),
    "hidden": Constraint(_valid_hidden, "hidden={value!r} must be a tuple of layer sizes such as (256, 128) "
                                        "or text such as '256,128'."),
    "conv": Constraint(_valid_conv, "conv={value!r} must be 'auto' or a sequence of (channels, kernel, pool) "
                                    "blocks such as ((32, 3, 2), (64, 3, 0)): positive channels and kernel, pool >= 0."),
    "activation": Constraint(_valid_activation, "activation={value!r} is not valid."),
    "init": Constraint(_valid_init, "init={value!r} is not valid."),
    "batchnorm": _BOOL,
    "dropout": Constraint(_or_auto(_real_in(0, 1)),
                          "dropout={value!r} must be in [0, 1) or 'auto'; it is the probability of dropping a unit."),
    "optimizer": Constraint(one_of(*OPTIMIZERS),
                            "Unknown optimizer {value!r}; choose one of " + ", ".join(OPTIMIZERS) + "."),
    "lr": Constraint(_real_in(0, math.inf, low_open=True),
                     "{name}={value!r} must be a positive number (the notes' usual range is 1e-5 to 1e-3)."),
    "momentum": _NUMBER_GE_0,
    "l2": _NUMBER_GE_0,
    "l1": _NUMBER_GE_0,
    "lr_schedule": Constraint(_valid_schedule, "lr_schedule={value!r} is not valid."),
    "batch_size": Constraint(_or_auto(_positive_int), "{name}={value!r} must be a positive integer or 'auto'."),
    "max_epochs": Constraint(_positive_int, "{name}={value!r} must be a positive integer."),
    "early_stopping": _BOOL,
    "patience": Constraint(_positive_int, "{name}={value!r} must be a positive integer."),
    "validation_fraction": Constraint(_or_auto(_real_in(0, 1)), "validation_fraction={value!r} must be in [0, 1) or 'auto'."),
    "scaling": Constraint(one_of("auto", "feature", "global", "robust", "none"),
                          "Unknown scaling {value!r}; choose 'auto', 'feature', 'global', 'robust' or 'none'."),
    "numeric_encoding": Constraint(one_of("auto", "piecewise", "none"),
                                   "Unknown numeric_encoding {value!r}; choose 'auto', 'piecewise' or 'none'."),
    "missing": Constraint(one_of("auto", "error"),
                          "Unknown missing {value!r}; choose 'auto' (fill gaps with training medians) or 'error'."),
    "grad_clip": Constraint(lambda v: v is None or _real_in(0, math.inf, low_open=True)(v),
                            "grad_clip={value!r} must be a positive number or None."),
    "bf16": _BOOL,
    "cuda_graphs": _BOOL,
    # exactly "features": the fit compares it as given (base.py, callbacks.py)
    "freeze": Constraint(one_of(None, "features"),
                         "freeze={value!r} must be 'features' (train the new head first) or None."),
    "fine_tune": Constraint(lambda v: v is None or _real_in(0, 1, low_open=True, high_open=False)(v),
                            "fine_tune={value!r} must be a learning-rate factor in (0, 1], e.g. 0.1, or None."),
    "diagnostics": _BOOL,
    "report": Constraint(lambda v: v is None or isinstance(v, (str, os.PathLike)),
                         "report={value!r} must be a folder path (or None for no report)."),
    "tensorboard": Constraint(lambda v: isinstance(v, (bool, str, os.PathLike)),
                              "tensorboard={value!r} must be True, False or a log folder path."),
    "mlflow": Constraint(lambda v: isinstance(v, bool) or (isinstance(v, (str, os.PathLike)) and bool(os.fspath(v))),
                         "mlflow={value!r} must be True (MLFLOW_TRACKING_URI, else MLflow's default store), False, "
                         "or a tracking URI such as 'sqlite:///mlflow.db'."),
    "verbose": Constraint(lambda v: isinstance(v, numbers.Integral),
                          "verbose={value!r} must be 0 (silent) or 1 (a line per epoch)."),
    "sync_batchnorm": _BOOL,
    "threads": Constraint(_or_auto(_positive_int),
                          "threads={value!r} must be a positive integer (intra-op threads) or 'auto'."),
}


def store_params(estimator: Any, params: dict[str, Any]) -> None:
    """``__init__``'s whole job (scikit-learn's contract): keep every parameter as given, unchecked.

    Called as ``store_params(self, locals())`` so the two estimators' ``__init__`` bodies are
    one line each; their signatures stay explicit, as ``get_params`` reads them.
    """
    for name, value in params.items():
        if name != "self":
            setattr(estimator, name, value)


def validate_params(estimator: Any, constraints: Mapping[str, Constraint]) -> None:
    """Check every parameter of ``estimator`` named in ``constraints``.

    Raises
    ------
    ConfigError
        For the first invalid parameter, with one sentence saying what it may be.
    """
    for name, constraint in constraints.items():
        value = getattr(estimator, name)
        if not constraint.check(value):
            # plain(): the message shows lr=0.0, not lr=np.float64(0.0)
            raise ConfigError(constraint.message.format(name=name, value=plain(value), estimator=type(estimator).__name__))
