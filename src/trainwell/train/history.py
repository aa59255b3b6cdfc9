"""The per-epoch record of a run: the one channel between the loop and its observers."""

from __future__ import annotations

from typing import Any


class EpochRecord(dict):
    """One epoch's row: a plain ``dict`` whose printed form leaves out bulky nested values.

    Probes add per-layer statistics and histograms under ``row["layers"]`` (kilobytes per
    epoch); printing a row shows the scalars and names what was left out, so
    ``print(clf.history_[-1])`` stays readable. Nothing is dropped: ``row["layers"]`` and
    ``dict(row)`` hold everything.
    """

    def __repr__(self) -> str:
        parts = []
        for key, value in self.items():
            if isinstance(value, (dict, list, tuple)) and len(value) > 0:
                parts.append(f"{key!r}: <{len(value)} entries, see row[{key!r}]>")
            else:
                parts.append(f"{key!r}: {_plain(value)!r}")
        return "{" + ", ".join(parts) + "}"

    __str__ = __repr__


def _plain(value: Any) -> Any:
    """numpy scalars as Python numbers, so a printed row shows ``0.5``, not ``np.float64(0.5)``."""
    return value.item() if hasattr(value, "item") and getattr(value, "ndim", 1) == 0 else value


class History(list):
    """A list of per-epoch rows (dicts), e.g. ``history[-1]["val_loss"]``.

    Every row has ``epoch``, ``train_loss``, ``val_loss`` (when there is a validation
    split), ``train_accuracy``/``val_accuracy`` (classifiers) or ``train_r2``/``val_r2``
    (regressors), ``lr`` and ``seconds``. Observers may add their own keys.
    """

    def __init__(self, rows: Any = ()) -> None:
        super().__init__(EpochRecord(row) for row in rows)

    def append(self, row: dict[str, Any]) -> None:
        """Add an epoch's row (kept as an :class:`EpochRecord`)."""
        super().append(row if isinstance(row, EpochRecord) else EpochRecord(row))

    def column(self, key: str) -> list[Any]:
        """Values of one key over the epochs (``None`` where an epoch lacks it)."""
        return [row.get(key) for row in self]

    def to_frame(self):
        """The scalar columns as a :class:`pandas.DataFrame`, one row per epoch."""
        import pandas as pd

        rows = [{k: v for k, v in row.items() if isinstance(v, (int, float, str, bool)) or v is None} for row in self]
        return pd.DataFrame(rows)
