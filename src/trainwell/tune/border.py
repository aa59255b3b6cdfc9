"""The border check: is the best value of a parameter at the edge of the range searched?

The notes ("Hyperparameter optimization"): "Careful with best values on border. If the
final learning rate is at the edge of the interval, you may be missing more optimal
hyperparameter setting beyond the interval." A value counts as on the border when it
lies in the outer 10 % of its interval, measured on the log scale for log ranges (so for
lr in 1e-5 … 1e-1, below 10^-4.6 ≈ 2.5e-5 or above 10^-1.4 ≈ 0.04). The suggested range
extends that side by half the range's width, on its own scale, never past the limits a
parameter has by nature (a dropout probability stays below 1).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .space import Param, Range

__all__ = ["BORDER_MARGIN", "BorderWarning", "check_borders", "widen"]

BORDER_MARGIN = 0.1

# Limits a parameter has by nature: a range is never widened past them, and a best value at
# such a limit is no border problem (there is nothing beyond it to try).
NATURAL_LIMITS: dict[str, tuple[float | None, float | None]] = {
    "dropout": (0.0, 0.9),
    "momentum": (0.0, 0.999),
    "validation_fraction": (0.05, 0.5),
    "l2": (0.0, None),
    "l1": (0.0, None),
    "lr": (0.0, None),
    "batch_size": (1, None),
    "patience": (1, None),
    "max_epochs": (1, None),
}


@dataclass(frozen=True)
class BorderWarning:
    """A best value in the outer part of its range, with the widened range to try."""

    param: str
    value: float
    side: Literal["low", "high"]
    position: float
    current: tuple[float, float]
    suggested: tuple[float, float]
    log: bool
    message: str

    def __str__(self) -> str:
        return self.message


def _widened(p: Range, side: str) -> tuple[float, float]:
    lo_limit, hi_limit = NATURAL_LIMITS.get(p.name, (None, None))
    if p.log:
        a, b = math.log10(p.low), math.log10(p.high)
        half = (b - a) / 2
        new_lo, new_hi = (10 ** (a - half), p.high) if side == "low" else (p.low, 10 ** (b + half))
    else:
        half = (p.high - p.low) / 2
        new_lo, new_hi = (p.low - half, p.high) if side == "low" else (p.low, p.high + half)
    if lo_limit is not None:
        new_lo = max(new_lo, lo_limit)
        if p.log and new_lo <= 0:
            new_lo = p.low
    if hi_limit is not None:
        new_hi = min(new_hi, hi_limit)
    if p.integer:
        new_lo, new_hi = math.floor(new_lo), math.ceil(new_hi)
        if p.log:
            new_lo = max(new_lo, 1)
    else:
        new_lo, new_hi = float(f"{new_lo:.3g}"), float(f"{new_hi:.3g}")
    return new_lo, new_hi


def _around(p: Range, value: float, side: str) -> tuple[float, float]:
    """A range that reaches past ``value`` (which lies outside ``p``) by half of ``p``'s width."""
    lo_limit, hi_limit = NATURAL_LIMITS.get(p.name, (None, None))
    if p.log and value > 0:
        half = (math.log10(p.high) - math.log10(p.low)) / 2
        lo, hi = ((10 ** (math.log10(value) - half), p.high) if side == "low"
                  else (p.low, 10 ** (math.log10(value) + half)))
    else:
        half = (p.high - p.low) / 2
        lo, hi = (value - half, p.high) if side == "low" else (p.low, value + half)
    if lo_limit is not None and (lo < lo_limit or (p.log and lo <= 0)):
        lo = max(lo_limit, min(value, p.low)) if not p.log else min(value, p.low)
    if hi_limit is not None:
        hi = min(hi, hi_limit)
    if p.integer:
        return max(math.floor(lo), 1 if p.log else math.floor(lo)), math.ceil(hi)
    return float(f"{lo:.3g}"), float(f"{hi:.3g}")


def check_borders(best_params: Mapping[str, Any], searched: Mapping[str, Param],
                  margin: float = BORDER_MARGIN) -> list[BorderWarning]:
    """Border warnings for the numeric parameters of ``best_params``.

    Parameters
    ----------
    best_params : mapping
        The best configuration found.
    searched : mapping of str to Range or Choice
        The ranges each parameter was searched over (choices are never on a border).
    margin : float, default=0.1
        Share of the interval, at each end, that counts as the border.

    Returns
    -------
    list of BorderWarning
        One per parameter on a border that can be widened; empty when none is.
    """
    warnings: list[BorderWarning] = []
    for name, p in searched.items():
        if not isinstance(p, Range) or name not in best_params:
            continue
        try:
            value = float(best_params[name])
        except (TypeError, ValueError):
            continue  # e.g. dropout="auto" of a baseline that won
        pos = p.position(value)
        if margin <= pos <= 1 - margin:
            continue
        side: Literal["low", "high"] = "low" if pos < margin else "high"
        if pos < 0 or pos > 1:
            # the baseline trial (the estimator's own settings) won with a value the search never tried
            suggested = _around(p, value, side)
            too = "high" if side == "low" else "low"
            message = (
                f"Your starting {name} ({value:.3g}), outside the searched range {p.describe()}, beat every "
                f"value in it: the range is too {too}. Search {suggested[0]:g} … {suggested[1]:g} instead"
            )
        else:
            suggested = _widened(p, side)
            if suggested == (p.low, p.high):
                continue  # at a natural limit: nothing lies beyond it
            scale = " of its log range" if p.log else " of its range"
            where = "lowest" if side == "low" else "highest"
            beyond = "below" if side == "low" else "above"
            message = (
                f"The best {name} ({value:.3g}) lies in the {where} {margin:.0%}{scale} {p.describe()}, "
                f"so better values may lie {beyond} it: widen the range to {suggested[0]:g} … {suggested[1]:g}"
            )
        message += " (or rerun with --extend-borders / extend_borders=True)."
        warnings.append(BorderWarning(name, value, side, pos, (p.low, p.high), suggested, p.log, message))
    return warnings


def widen(searched: Mapping[str, Param], warnings: list[BorderWarning]) -> dict[str, Param]:
    """The space with each warned-about range replaced by its suggested widening."""
    out = dict(searched)
    for w in warnings:
        p = out[w.param]
        assert isinstance(p, Range)
        out[w.param] = Range(p.name, w.suggested[0], w.suggested[1], p.log, p.integer)
    return out
