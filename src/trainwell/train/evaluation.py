"""The validation pass, and R²'s denominator: the epoch's numbers on data the steps did not train on.

:func:`evaluate` runs the network in evaluation mode over stored batches and returns its
mean loss and accuracy (or R²) as one device tensor, read with the rest of the epoch's
numbers in the epoch's one host synchronisation (:mod:`.epoch`). With sample weights the
three are weighted, as scikit-learn weights them.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

__all__ = ["evaluate", "weighted_sst"]


@torch.no_grad()
def evaluate(net: nn.Module, loss_fn, X: torch.Tensor, y: torch.Tensor, classification: bool,
             batch_size: int = 8192, prepare: Callable[[torch.Tensor], torch.Tensor] | None = None,
             channels_last: bool = False, weight: torch.Tensor | None = None,
             forward: Callable[[torch.Tensor], torch.Tensor] | None = None,
             sst: torch.Tensor | None = None) -> torch.Tensor:
    """Mean loss and accuracy (or R²) of ``net`` on ``(X, y)``, as a 2-element device tensor.

    ``prepare`` turns each stored batch into the network's input (see :class:`TrainConfig`);
    ``channels_last`` passes images in channels-last layout. ``weight`` (one sample weight
    per row) makes all three weighted, as scikit-learn's ``sample_weight`` does: the loss
    is the weighted mean over all rows, the accuracy the weighted share of hits, R²
    ``1 - sum(w (y - p)²) / sum(w (y - mean_w(y))²)``. ``forward``: the network's
    evaluation-mode output computed without switching its modules' mode (the fast MLP
    step's :meth:`~trainwell.train.fast_mlp.FastMLPStep.inference`); ``net``'s own forward
    in ``eval()`` mode when ``None``. ``sst``: :func:`weighted_sst` of ``(y, weight)`` when the
    caller keeps it (a loop evaluates the same rows every epoch).
    """
    was_training = net.training
    if forward is None:
        net.eval()
        forward = net
    batch_size = min(batch_size, getattr(X, "max_dense_rows", batch_size))  # sparse rows: a bounded dense chunk
    # sums start at the first batch's (0 + x is x): three fewer ops an epoch on a small set
    loss_sum = hits = sse = None
    for start in range(0, X.shape[0], batch_size):
        xb, yb = X[start:start + batch_size], y[start:start + batch_size]
        if prepare is not None:
            xb = prepare(xb)
        if xb.ndim == 4 and channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        scores = forward(xb)
        if weight is None:
            loss_sum = _plus(loss_sum, loss_fn(scores, yb) * xb.shape[0])
            if classification:
                hits = _plus(hits, (scores.argmax(1) == yb).sum().float())
            else:
                sse = _plus(sse, ((scores - yb) ** 2).sum())
            continue
        wb = weight[start:start + batch_size]
        loss_sum = _plus(loss_sum, loss_fn(scores, yb, wb) * wb.sum())
        if classification:
            hits = _plus(hits, ((scores.argmax(1) == yb) * wb).sum())
        else:
            sse = _plus(sse, (((scores - yb) ** 2).reshape(len(wb), -1).sum(1) * wb).sum())
    if forward is net:
        net.train(was_training)
    n = X.shape[0] if weight is None else weight.sum().clamp_min(torch.finfo(loss_sum.dtype).tiny)
    if classification:
        metric = hits / n
    else:
        metric = 1 - sse / (weighted_sst(y, weight) if sst is None else sst)
    return torch.stack([loss_sum / n, metric])


def _plus(total: torch.Tensor | None, part: torch.Tensor) -> torch.Tensor:
    return part if total is None else total + part


def weighted_sst(y: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    """R²'s denominator: the (weighted) sum of squares of ``y`` about its (weighted) mean."""
    if weight is None:
        return ((y - y.mean(0)) ** 2).sum().clamp_min(1e-12)
    w = weight.reshape(-1, *([1] * (y.ndim - 1)))
    mean = (y * w).sum(0) / weight.sum().clamp_min(1e-30)
    return (((y - mean) ** 2) * w).sum().clamp_min(1e-12)
