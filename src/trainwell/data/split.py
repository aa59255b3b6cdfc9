"""Train / validation / test splits, stratified for classification where possible."""

from __future__ import annotations

import numpy as np


def split_indices(n: int, fraction: float, y_codes: np.ndarray | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(keep, held_out)`` with ``fraction`` of ``n`` samples held out.

    Stratified on ``y_codes`` when every class has at least two members and the
    held-out part can hold one of each; a plain random split otherwise.
    """
    idx = np.arange(n)
    n_out = max(1, int(round(fraction * n)))
    stratify = None
    if y_codes is not None:
        counts = np.bincount(y_codes)
        counts = counts[counts > 0]
        if counts.min() >= 2 and n_out >= len(counts) and n - n_out >= len(counts):
            stratify = y_codes
    from sklearn.model_selection import train_test_split  # lazily, as everywhere in data/

    keep, out = train_test_split(idx, test_size=n_out, random_state=seed, stratify=stratify)
    return np.sort(keep), np.sort(out)
