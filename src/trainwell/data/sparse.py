"""Sparse input (``scipy.sparse``, e.g. ``TfidfVectorizer`` output): kept sparse, densified per batch.

A TF-IDF matrix of 100,000 documents over a 50,000-word vocabulary is about 0.1 % non-zero:
a few hundred MB as CSR, 20 GB as dense float32. trainwell keeps such a matrix as CSR on the
host and gives the training loop :class:`SparseRows`, which the loop gathers from like a
tensor: each batch's rows are sliced out of the CSR matrix (scipy's row indexing) and only
they are densified, on the device. The matrix is never dense as a whole.

Scaling keeps zeros at zero: each column is divided by its standard deviation and not
centred, as ``StandardScaler(with_mean=False)`` does (centring would make every zero a
non-zero and the matrix dense). :func:`sparse_scale` computes those statistics with
scikit-learn's ``mean_variance_axis``.
"""

from __future__ import annotations

import sys
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import scipy.sparse
    import torch

# scipy.sparse and torch are imported where they are used: features.py imports this module, and
# `trainwell predict` reads features without either (trainwell.predictor).

__all__ = ["DENSE_CHUNK_VALUES", "SparseRows", "as_csr", "dense_chunk_rows", "is_sparse", "sparse_scale"]

#: Values of one densified chunk outside training steps (validation, prediction): 64 MB of float32.
DENSE_CHUNK_VALUES = 1 << 24


def dense_chunk_rows(n_features: int, limit: int) -> int:
    """Rows densified at a time when sparse rows are evaluated or predicted: ``limit``, fewer for wide rows."""
    return max(1, min(limit, DENSE_CHUNK_VALUES // max(1, n_features)))


def is_sparse(X: Any) -> bool:
    """Whether ``X`` is a ``scipy.sparse`` matrix or array (none can exist before scipy.sparse is imported)."""
    sparse = sys.modules.get("scipy.sparse")
    return sparse is not None and sparse.issparse(X)


def as_csr(X: Any) -> scipy.sparse.csr_matrix:
    """Any ``scipy.sparse`` matrix or array as a CSR matrix (row slicing is what training does)."""
    import scipy.sparse

    return scipy.sparse.csr_matrix(X)


def sparse_scale(X: scipy.sparse.csr_matrix, scaling: str, sample_weight: np.ndarray | None = None) -> np.ndarray:
    """The per-column scale of uncentred sparse columns (``StandardScaler(with_mean=False).scale_``).

    ``scaling="feature"`` (and ``"auto"``): each column's standard deviation (weighted by
    ``sample_weight``); ``"global"``: one deviation of all values; ``"none"``: 1. A constant
    column keeps scale 1.
    """
    from sklearn.utils.sparsefuncs import mean_variance_axis

    d = X.shape[1]
    if scaling == "none":
        return np.ones(d)
    Xd = X.astype(np.float64)
    if scaling == "global":
        # the variance of all n*d values, from the column means and variances (zeros included)
        means, variances = mean_variance_axis(Xd, axis=0, weights=sample_weight)
        grand = means.mean()
        scale = np.full(d, np.sqrt(np.mean(variances + (means - grand) ** 2)))
    else:
        _, variances = mean_variance_axis(Xd, axis=0, weights=sample_weight)
        scale = np.sqrt(variances)
    scale[scale < 10 * np.finfo(np.float64).eps] = 1.0  # constant columns: left as they are
    return scale


class SparseRows:
    """CSR rows on the host that the training loop gathers like a device tensor.

    The loop reads ``shape``, ``dtype``, ``device`` and slices (``X[a:b]``, ``X[index_tensor]``)
    and gathers batches with :meth:`take_rows`; each returns a dense float32 tensor of just
    those rows on ``device``.

    Parameters
    ----------
    X : scipy.sparse.csr_matrix
        The prepared (scaled) rows, float32.
    device : torch.device
        Where batches are densified: on CUDA the batch's CSR parts are copied there and
        densified by ``torch``; on the CPU scipy's ``toarray`` writes the dense batch.
    """

    #: What :func:`trainwell.train.cuda_graph.graph_support` and the fast step look for.
    is_sparse_rows = True

    def __init__(self, X: scipy.sparse.csr_matrix, device: torch.device) -> None:
        import torch

        self.csr = X.astype(np.float32) if X.dtype != np.float32 else X
        self.shape = torch.Size(X.shape)
        self.dtype = torch.float32
        self.device = torch.device(device)
        self.is_cuda = self.device.type == "cuda"
        self.ndim = 2
        #: At most this many rows are densified at once by the validation pass (:func:`dense_chunk_rows`).
        self.max_dense_rows = dense_chunk_rows(X.shape[1], 1 << 30)

    def __len__(self) -> int:
        return self.shape[0]

    def _dense(self, part: scipy.sparse.csr_matrix, out: torch.Tensor | None = None) -> torch.Tensor:
        import torch

        if self.is_cuda:
            # the batch's CSR arrays go to the GPU (a fraction of the dense batch) and are densified there
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
                batch = torch.sparse_csr_tensor(torch.from_numpy(part.indptr.astype(np.int64)),
                                                torch.from_numpy(part.indices.astype(np.int64)),
                                                torch.from_numpy(part.data), size=part.shape,
                                                check_invariants=False).to(self.device).to_dense()
        else:
            batch = torch.from_numpy(part.toarray())
        if out is None:
            return batch
        return out.copy_(batch)

    def take_rows(self, rows: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """The dense rows ``rows`` (a tensor of row numbers), written into ``out`` when given."""
        return self._dense(self.csr[rows.cpu().numpy()], out)

    def __getitem__(self, key: Any) -> torch.Tensor:
        import torch

        if isinstance(key, torch.Tensor):
            return self.take_rows(key)
        return self._dense(self.csr[key])
