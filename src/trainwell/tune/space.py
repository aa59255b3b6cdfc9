"""The search space as plain data, and its translation into Optuna distributions.

A space is a dict from estimator parameter names to

- a tuple ``(low, high)`` or ``(low, high, "log")``: a range, linear unless marked ``"log"``
  (integers when both ends are integers);
- a list ``[a, b, ...]``: a set of choices (any values, e.g. ``hidden=[(128,), (256, 128)]``);
- anything else: a fixed value, not searched.

On the command line the same space is written ``lr=1e-5:1e-1:log``, ``dropout=0:0.5``,
``hidden=128|256,128`` (see :func:`parse_space_strings`).

The notes ("Hyperparameter optimization"): search the learning rate and regularisation
strengths on a log scale, the rest linearly or as choices.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from ..exceptions import ConfigError

__all__ = [
    "DEFAULT_SPACE",
    "Choice",
    "Range",
    "parse_space",
    "parse_space_strings",
    "space_from_plain",
    "space_to_plain",
    "suggest",
]

# The defaults: lr 1e-5 … 1e-1 and L2 1e-6 … 1e-1 on log scales, dropout linear,
# depth and width as choices.
DEFAULT_SPACE: dict[str, Any] = {
    "lr": (1e-5, 1e-1, "log"),
    "l2": (1e-6, 1e-1, "log"),
    "dropout": (0.0, 0.5),
    "hidden": [(128,), (256, 128), (512, 256)],
}


@dataclass(frozen=True)
class Range:
    """A numeric interval, searched uniformly on a linear or a log scale."""

    name: str
    low: float
    high: float
    log: bool = False
    integer: bool = False

    def distribution(self) -> BaseDistribution:
        """The Optuna distribution of this range."""
        if self.integer:
            return IntDistribution(int(self.low), int(self.high), log=self.log)
        return FloatDistribution(float(self.low), float(self.high), log=self.log)

    def position(self, value: float) -> float:
        """Where ``value`` lies in the interval, 0 at ``low`` and 1 at ``high`` (on the log scale for log ranges)."""
        lo, hi, v = self.low, self.high, value
        if self.log:
            lo, hi, v = math.log10(lo), math.log10(hi), math.log10(v)
        return (v - lo) / (hi - lo)

    def width(self) -> float:
        """Width of the interval on its own scale (decades for a log range)."""
        if self.log:
            return math.log10(self.high) - math.log10(self.low)
        return self.high - self.low

    def describe(self) -> str:
        """``1e-05 … 0.1 (log)``: the range in words."""
        return f"{_fmt(self.low)} … {_fmt(self.high)}" + (" (log)" if self.log else "")


@dataclass(frozen=True)
class Choice:
    """A set of values; Optuna sees them as text labels (it accepts only scalars as choices)."""

    name: str
    choices: tuple[Any, ...]

    @property
    def labels(self) -> tuple[str, ...]:
        """The text label Optuna stores for each choice."""
        return tuple(_label(c) for c in self.choices)

    def distribution(self) -> BaseDistribution:
        """The Optuna distribution of this choice."""
        return CategoricalDistribution(self.labels)

    def value(self, label: str) -> Any:
        """The choice whose label is ``label``."""
        return self.choices[self.labels.index(label)]

    def describe(self) -> str:
        """``128 | 256,128``: the choices in words."""
        return " | ".join(self.labels)


Param = Range | Choice

# Parameters whose values are themselves tuples: a tuple for them is a fixed value, not a range.
TUPLE_VALUED = ("hidden", "conv")


def _fmt(x: float) -> str:
    return f"{x:g}"


def _label(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return ",".join(_label(v) for v in value)
    return str(value)


def _is_number(x: Any) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _parse_range(name: str, spec: tuple) -> Range:
    if len(spec) not in (2, 3) or (len(spec) == 3 and spec[2] not in ("log", "linear")):
        raise ConfigError(
            f"The range for {name!r} is {spec!r}; write (low, high) or (low, high, 'log'), e.g. (1e-5, 1e-1, 'log')."
        )
    low, high = spec[0], spec[1]
    if not (_is_number(low) and _is_number(high)) or not (math.isfinite(low) and math.isfinite(high)):
        raise ConfigError(f"The range for {name!r} is {spec!r}; both ends must be finite numbers.")
    if not low < high:
        raise ConfigError(f"The range for {name!r} is {spec!r}; its low end must be below its high end.")
    log = len(spec) == 3 and spec[2] == "log"
    if log and low <= 0:
        raise ConfigError(f"The log range for {name!r} starts at {low}; a log scale needs a low end above 0.")
    integer = isinstance(low, numbers.Integral) and isinstance(high, numbers.Integral)
    return Range(name, low, high, log, integer)


def parse_space(space: Mapping[str, Any] | None, valid_names: Any = None) -> tuple[dict[str, Param], dict[str, Any]]:
    """Split a plain-data space into searched parameters and fixed values.

    Parameters
    ----------
    space : mapping or None
        ``{name: (low, high[, "log"]) | [choices] | value}``; ``None`` means :data:`DEFAULT_SPACE`.
    valid_names : collection of str, optional
        The estimator's parameter names; others are refused.

    Returns
    -------
    searched : dict of str to Range or Choice
    fixed : dict of str to value
    """
    if space is None:
        space = DEFAULT_SPACE
    if not isinstance(space, Mapping):
        raise ConfigError(f"space must be a dict such as {{'lr': (1e-5, 1e-1, 'log')}}, not {type(space).__name__}.")
    searched: dict[str, Param] = {}
    fixed: dict[str, Any] = {}
    for name, spec in space.items():
        if valid_names is not None and name not in valid_names:
            known = ", ".join(sorted(n for n in valid_names if n != "callbacks"))
            raise ConfigError(f"The space names {name!r}, which is not a parameter of the estimator; use one of: {known}.")
        if name == "callbacks":
            raise ConfigError("callbacks cannot be searched; pass them to the estimator instead.")
        if isinstance(spec, (Range, Choice)):
            searched[name] = spec
        elif isinstance(spec, tuple) and (name not in TUPLE_VALUED or spec[-1:] in (("log",), ("linear",))):
            searched[name] = _parse_range(name, spec)
        elif isinstance(spec, list):
            if not spec:
                raise ConfigError(f"The choices for {name!r} are an empty list; give at least one value.")
            choice = Choice(name, tuple(tuple(c) if isinstance(c, list) else c for c in spec))
            if len(set(choice.labels)) != len(choice.labels):
                raise ConfigError(f"The choices for {name!r} repeat a value ({choice.describe()}); list each once.")
            searched[name] = choice
        else:
            fixed[name] = spec
    return searched, fixed


def _parse_value(text: str) -> Any:
    """``"128"`` -> 128, ``"0.5"`` -> 0.5, ``"256,128"`` -> (256, 128), ``"true"`` -> True, else the text."""
    text = text.strip()
    if "," in text:
        return tuple(_parse_value(t) for t in text.split(",") if t.strip())
    lower = text.lower()
    if lower in ("true", "false"):
        return lower == "true"
    if lower == "none":
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def parse_space_strings(items: list[str]) -> dict[str, Any]:
    """Turn command-line ``NAME=SPEC`` strings into a plain-data space.

    ``lr=1e-5:1e-1:log`` is a log range, ``dropout=0:0.5`` a linear range, ``hidden=128|256,128``
    the choices ``[(128,), (256, 128)]`` (for ``hidden`` a single size is a one-layer tuple),
    ``optimizer=adam|sgd`` text choices, ``patience=10`` a fixed value.
    """
    space: dict[str, Any] = {}
    for item in items:
        name, sep, spec = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not name or not spec.strip():
            raise ConfigError(f"--space {item!r} must look like NAME=LOW:HIGH[:log], NAME=A|B|C or NAME=VALUE.")
        if ":" in spec:
            parts = spec.split(":")
            scale = parts[2].strip().lower() if len(parts) == 3 else "linear"
            if len(parts) not in (2, 3) or scale not in ("log", "linear"):
                raise ConfigError(f"--space {item!r}: a range is LOW:HIGH or LOW:HIGH:log, e.g. lr=1e-5:1e-1:log.")
            low, high = _parse_value(parts[0]), _parse_value(parts[1])
            if not (_is_number(low) and _is_number(high)):
                raise ConfigError(f"--space {item!r}: both ends of a range must be numbers.")
            space[name] = (low, high, scale)
        elif "|" in spec:
            values = [_parse_value(v) for v in spec.split("|")]
            if name == "hidden":
                values = [v if isinstance(v, tuple) else (v,) for v in values]
            space[name] = values
        else:
            value = _parse_value(spec)
            space[name] = (value,) if name == "hidden" and not isinstance(value, tuple) else value
    return space


def suggest(trial: Any, searched: Mapping[str, Param]) -> dict[str, Any]:
    """Ask ``trial`` (an Optuna trial) for a value of every searched parameter.

    Returns the estimator's values: choices come back as the original objects (tuples
    for ``hidden``), not as the labels Optuna stores.
    """
    params: dict[str, Any] = {}
    for name, p in searched.items():
        if isinstance(p, Choice):
            params[name] = p.value(trial.suggest_categorical(name, p.labels))
        elif p.integer:
            params[name] = trial.suggest_int(name, int(p.low), int(p.high), log=p.log)
        else:
            params[name] = trial.suggest_float(name, float(p.low), float(p.high), log=p.log)
    return params


def decode(searched: Mapping[str, Param], stored: Mapping[str, Any]) -> dict[str, Any]:
    """Estimator values from the parameters Optuna stored for a trial (labels -> choices)."""
    out: dict[str, Any] = {}
    for name, value in stored.items():
        p = searched.get(name)
        out[name] = p.value(value) if isinstance(p, Choice) and value in p.labels else value
    return out


def space_to_plain(searched: Mapping[str, Param]) -> dict[str, Any]:
    """JSON-friendly form of a parsed space (kept in the study so that a resumed run can check it)."""
    plain: dict[str, Any] = {}
    for name, p in searched.items():
        if isinstance(p, Range):
            plain[name] = {"low": p.low, "high": p.high, "log": p.log, "integer": p.integer}
        else:
            plain[name] = {"choices": [list(c) if isinstance(c, tuple) else c for c in p.choices]}
    return plain


def space_from_plain(plain: Mapping[str, Any]) -> dict[str, Param]:
    """Inverse of :func:`space_to_plain`."""
    searched: dict[str, Param] = {}
    for name, d in plain.items():
        if "choices" in d:
            searched[name] = Choice(name, tuple(tuple(c) if isinstance(c, list) else c for c in d["choices"]))
        else:
            searched[name] = Range(name, d["low"], d["high"], bool(d["log"]), bool(d["integer"]))
    return searched
