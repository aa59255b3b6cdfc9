"""The lab's registry: every experiment by name, and the result object each one returns.

An experiment is a function ``f(quick=False, seed=0) -> Outcome`` registered with
:func:`experiment`; the registered (public) function returns a :class:`LabResult` that
adds the experiment's name, title, the notes' claim it tests and how long it took.
"""

from __future__ import annotations

import functools
import importlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

from ..exceptions import ConfigError


@dataclass
class Outcome:
    """What an experiment measured: its numbers, its plot and the sentence they support."""

    numbers: dict[str, Any]
    figure: Figure
    summary: str
    holds: bool | None


@dataclass
class LabResult:
    """The result of one lab experiment.

    Attributes
    ----------
    name : str
        The experiment's name (``trainwell lab NAME``).
    title : str
        One line saying what the experiment does.
    chapter : str
        The chapter of the notes the claim comes from.
    claim : str
        The notes' claim, in the notes' words.
    numbers : dict
        Everything the experiment measured (JSON-serialisable: numbers, lists, dicts, strings).
    figure : matplotlib.figure.Figure
        The experiment's plot (drawn without pyplot, on the Agg canvas).
    summary : str
        A plain-words sentence generated from ``numbers``, ending with whether the notes'
        claim held on this data.
    holds : bool or None
        Whether the claim held; ``None`` where the experiment only demonstrates.
    seconds : float
        Wall-clock time of the run.
    quick : bool
        Whether it ran in the fast mode (fewer samples and epochs, for tests).
    """

    name: str
    title: str
    chapter: str
    claim: str
    numbers: dict[str, Any]
    figure: Figure
    summary: str
    holds: bool | None
    seconds: float = 0.0
    quick: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Everything but the figure, as plain JSON-serialisable data."""
        return {
            "name": self.name, "title": self.title, "chapter": self.chapter, "claim": self.claim,
            "summary": self.summary, "holds": self.holds, "seconds": round(self.seconds, 2),
            "quick": self.quick, "numbers": _plain(self.numbers),
        }

    def save(self, out_dir: str | Path, dpi: int = 110) -> dict[str, Path]:
        """Write ``NAME.png`` (the figure) and ``NAME.json`` (numbers and summary) into ``out_dir``.

        Returns
        -------
        dict
            ``{"png": path, "json": path}``.
        """
        out = Path(out_dir)
        if out.exists() and not out.is_dir():
            raise ConfigError(f"--out {out} is a file; give a folder to write the results into.")
        out.mkdir(parents=True, exist_ok=True)
        png, js = out / f"{self.name}.png", out / f"{self.name}.json"
        self.figure.savefig(png, dpi=dpi)
        js.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return {"png": png, "json": js}

    def __str__(self) -> str:
        return f"{self.name}: {self.summary}"


def _plain(value: Any) -> Any:
    """Numbers as Python floats (rounded to 6 significant digits), NaN/inf as None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if hasattr(value, "item"):  # numpy and torch scalars
        value = value.item()
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return float(f"{value:.6g}") if math.isfinite(value) else None
    return str(value)


@dataclass(frozen=True)
class Experiment:
    """A registered experiment."""

    name: str
    title: str
    chapter: str
    claim: str
    func: Callable[..., LabResult] = field(repr=False)


_REGISTRY: dict[str, Experiment] = {}


def experiment(name: str, *, title: str, chapter: str, claim: str) -> Callable:
    """Register ``f(quick=False, seed=0) -> Outcome`` as the experiment ``name``.

    The decorated function returns a :class:`LabResult`.
    """

    def register(func: Callable[..., Outcome]) -> Callable[..., LabResult]:
        @functools.wraps(func)
        def wrapper(quick: bool = False, seed: int = 0) -> LabResult:
            start = time.perf_counter()
            outcome = func(quick=quick, seed=seed)
            return LabResult(name=name, title=title, chapter=chapter, claim=claim, numbers=outcome.numbers,
                             figure=outcome.figure, summary=outcome.summary, holds=outcome.holds,
                             seconds=time.perf_counter() - start, quick=quick)

        _REGISTRY[name] = Experiment(name, title, chapter, claim, wrapper)
        return wrapper

    return register


#: The experiment modules, in the order of the notes' chapters.
_MODULES = ("depth", "learning_rate", "optimizers", "activations", "initialization", "batchnorm",
            "regularisation", "early_stopping", "transfer", "sanity", "search", "wilcoxon")


def load_experiments() -> None:
    """Import the experiment modules (once): each registers its experiments on import."""
    for module in _MODULES:
        importlib.import_module(f"{__package__}.{module}")


def list_experiments() -> list[Experiment]:
    """Every experiment, in the order of the notes' chapters."""
    load_experiments()
    return list(_REGISTRY.values())


def get(name: str) -> Experiment:
    """The experiment ``name``; an unknown name fails with the list of known ones."""
    load_experiments()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"Unknown experiment {name!r}; choose one of {', '.join(_REGISTRY)}.") from None


def run(name: str, quick: bool = False, seed: int = 0) -> LabResult:
    """Run the experiment ``name`` and return its :class:`LabResult`.

    Parameters
    ----------
    name : str
        One of the names :func:`list_experiments` gives.
    quick : bool, default=False
        Fewer samples and epochs (a few seconds each): for tests, not for conclusions.
    seed : int, default=0
        Seed of the data splits and of every network's initial weights.
    """
    return get(name).func(quick=quick, seed=seed)
