"""Training straight from a memory-mapped ``.npy`` file, without loading it.

``np.load("X.npy", mmap_mode="r")`` gives an array whose rows the operating system reads
from disk when they are touched. trainwell keeps such an array where it is: the training
tensor is a zero-copy view of the mapping, each batch is gathered from it and scaled on the
fly (:class:`~trainwell.data.on_device.DeviceScaler`), and only the validation rows (a
fraction) and the statistics sample are copied into memory. The process's own memory then
stays small whatever the file's size; the page cache holds what fits.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

#: Rows of a mapped array that the scaling statistics are computed from (a random sample of
#: the training rows: mean and deviation estimates from 100,000 rows are accurate to ~0.3 %).
STATISTICS_ROWS = 100_000

#: Rows read at a time when a mapped array is predicted.
CHUNK_ROWS = 65_536


def is_memory_mapped(X: Any) -> bool:
    """Whether ``X`` is a numeric ``np.memmap`` (what ``np.load(..., mmap_mode="r")`` returns)."""
    return isinstance(X, np.memmap) and X.dtype.kind in "uif"


def statistics_rows(train_idx: np.ndarray, seed: int, limit: int = STATISTICS_ROWS) -> np.ndarray:
    """Sorted training rows to compute the scaling statistics from: all, or ``limit`` at random."""
    if len(train_idx) <= limit:
        return np.sort(train_idx)
    return np.sort(np.random.default_rng(seed).choice(train_idx, size=limit, replace=False))


def mapped_tensor(X: np.ndarray, shape: tuple[int, ...]) -> torch.Tensor:
    """A CPU tensor that shares the mapping's memory (no copy), reshaped to ``shape``."""
    import torch  # here, not above: `trainwell predict` reads CHUNK_ROWS without PyTorch

    array = np.asarray(X)  # the plain ndarray view of the memmap: same memory
    with warnings.catch_warnings():
        # read-only mappings: torch warns that writing would be undefined; nothing writes to it
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(array).reshape(shape)
