"""Errors that trainwell raises for bad input, each with a one-sentence message.

Every message says what is wrong and how to fix it. The classes subclass the
built-in ``ValueError`` / ``TypeError`` so that scikit-learn users and tools that
catch those keep working.
"""

from __future__ import annotations

from sklearn.exceptions import NotFittedError


class TrainwellError(Exception):
    """Base class of every error trainwell raises on purpose."""


class DataError(TrainwellError, ValueError):
    """The data given to trainwell cannot be used as it is."""


class ConfigError(TrainwellError, ValueError):
    """A parameter has a value trainwell cannot use."""


class ModelFileError(TrainwellError, ValueError):
    """A model folder is missing, damaged, or does not match its own description."""


class NotFitted(TrainwellError, NotFittedError):
    """The estimator is used before it was fitted."""


__all__ = ["ConfigError", "DataError", "ModelFileError", "NotFitted", "TrainwellError"]
