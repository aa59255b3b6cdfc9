"""Errors that trainwell raises for bad input, each with a one-sentence message.

Every message says what is wrong and how to fix it. The classes subclass the
built-in ``ValueError`` / ``TypeError`` so that scikit-learn users and tools that
catch those keep working.
"""

from __future__ import annotations

from typing import Any


class TrainwellError(Exception):
    """Base class of every error trainwell raises on purpose."""


class DataError(TrainwellError, ValueError):
    """The data given to trainwell cannot be used as it is."""


class ConfigError(TrainwellError, ValueError):
    """A parameter has a value trainwell cannot use."""


class ModelFileError(TrainwellError, ValueError):
    """A model folder is missing, damaged, or does not match its own description."""


def _not_fitted_class() -> type:
    from sklearn.exceptions import NotFittedError

    class NotFitted(TrainwellError, NotFittedError):
        """The estimator is used before it was fitted."""

    NotFitted.__module__, NotFitted.__qualname__ = __name__, "NotFitted"
    return NotFitted


def __getattr__(name: str) -> Any:
    # NotFitted subclasses scikit-learn's NotFittedError (its tools catch that), and importing
    # scikit-learn costs ~0.6 s: it is built on first use, so ``trainwell --help`` and the
    # other errors stay cheap to import.
    if name == "NotFitted":
        cls = _not_fitted_class()
        globals()["NotFitted"] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ConfigError", "DataError", "ModelFileError", "NotFitted", "TrainwellError"]  # noqa: F822 (NotFitted: module __getattr__)
