"""The per-epoch record of a run: the one channel between the loop and its observers."""

from __future__ import annotations

from typing import Any


class History(list):
    """A list of per-epoch rows (dicts), e.g. ``history[-1]["val_loss"]``.

    Every row has ``epoch``, ``train_loss``, ``val_loss`` (when there is a validation
    split), ``train_accuracy``/``val_accuracy`` (classifiers) or ``train_r2``/``val_r2``
    (regressors), ``lr`` and ``seconds``. Observers may add their own keys.
    """

    def column(self, key: str) -> list[Any]:
        """Values of one key over the epochs (``None`` where an epoch lacks it)."""
        return [row.get(key) for row in self]

    def to_frame(self):
        """The scalar columns as a :class:`pandas.DataFrame`, one row per epoch."""
        import pandas as pd

        rows = [{k: v for k, v in row.items() if isinstance(v, (int, float, str, bool)) or v is None} for row in self]
        return pd.DataFrame(rows)
