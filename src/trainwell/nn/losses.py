"""Loss functions the notes name: softmax + cross-entropy, multiclass SVM (hinge and
squared hinge, cs231n form), hierarchical softmax for very many classes, and L2 (MSE)
for regression.

A loss is an object with two methods the training loop uses:
``batch(net, x, y) -> (loss, scores)`` for a training step, and
``scores_to_proba(scores)`` for predictions. Keeping the head and the loss together
lets the hierarchical softmax compute only the cluster it needs during training.

Sample weights: ``batch`` and ``__call__`` take an optional ``weight`` (one non-negative
number per row). The loss is then the weighted mean ``sum(c_i * l_i) / sum(c_i)`` with
``c_i = weight_i * class_weight[y_i]``: the product with the class weights, normalised per
batch exactly as PyTorch normalises class weights alone, so integer weights equal repeated
rows in a batch (:func:`weighted_mean`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..exceptions import ConfigError

CLASSIFICATION_LOSSES = ("cross_entropy", "hinge", "squared_hinge", "hierarchical_softmax")
REGRESSION_LOSSES = ("mse",)
LOSSES = CLASSIFICATION_LOSSES + REGRESSION_LOSSES


def weighted_mean(per_sample: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``sum(weight * per_sample) / sum(weight)``; 0 (with zero gradient) for a batch whose weights are all 0.

    The denominator is clamped instead of tested so the step reads nothing on the host
    (a batch may draw only zero-weight rows: its numerator is then 0 as well).
    """
    return (per_sample * weight).sum() / weight.sum().clamp_min(torch.finfo(per_sample.dtype).tiny)


def combined_weight(y: torch.Tensor, class_weight: torch.Tensor | None, weight: torch.Tensor) -> torch.Tensor:
    """Each row's weight in the loss: its sample weight times its class's weight."""
    return weight if class_weight is None else weight * class_weight[y]


class Loss:
    """Base class: a criterion that knows how to turn the network's output into a loss."""

    name = "loss"
    classification = True

    def __init__(self, class_weight: torch.Tensor | None = None) -> None:
        self.class_weight = class_weight

    def batch(self, net: nn.Module, x: torch.Tensor, y: torch.Tensor,
              weight: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Return the (weighted) mean loss over the batch and the scores (or ``None``)."""
        scores = net(x)
        return (self(scores, y) if weight is None else self(scores, y, weight)), scores

    def __call__(self, scores: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def scores_to_proba(self, scores: torch.Tensor) -> torch.Tensor:
        """Class probabilities from scores (softmax)."""
        return torch.softmax(scores, dim=1)

    def to(self, device: torch.device) -> Loss:
        if self.class_weight is not None:
            self.class_weight = self.class_weight.to(device)
        return self


class CrossEntropy(Loss):
    """Softmax + cross-entropy, the notes' default for classification."""

    name = "cross_entropy"

    def __call__(self, scores, y, weight=None):
        if weight is None:
            return F.cross_entropy(scores, y, weight=self.class_weight)
        per_sample = F.cross_entropy(scores, y, reduction="none")
        return weighted_mean(per_sample, combined_weight(y, self.class_weight, weight))


class MulticlassHinge(Loss):
    """Multiclass SVM loss, cs231n form: ``sum_{j != y} max(0, s_j - s_y + 1)``, averaged
    over the batch (``squared=True`` squares each margin).

    Written here because ``torch.nn.MultiMarginLoss`` divides the sum by the number of
    classes, which is not the form the notes (and cs231n) use.
    """

    def __init__(self, class_weight=None, squared: bool = False) -> None:
        super().__init__(class_weight)
        self.squared = squared
        self.name = "squared_hinge" if squared else "hinge"

    def __call__(self, scores, y, weight=None):
        correct = scores.gather(1, y[:, None])
        margins = (scores - correct + 1.0).clamp_min(0.0)
        margins = margins.scatter(1, y[:, None], 0.0)
        if self.squared:
            margins = margins * margins
        per_sample = margins.sum(dim=1)
        if weight is not None:
            return weighted_mean(per_sample, combined_weight(y, self.class_weight, weight))
        if self.class_weight is not None:
            w = self.class_weight[y]
            return (per_sample * w).sum() / w.sum()
        return per_sample.mean()


class MeanSquaredError(Loss):
    """L2 loss for regression: the mean of squared errors over samples and outputs."""

    name = "mse"
    classification = False

    def __call__(self, scores, y, weight=None):
        if weight is None:
            return F.mse_loss(scores, y)
        # per row: the mean over its outputs, so equal weights give F.mse_loss exactly
        per_sample = F.mse_loss(scores, y, reduction="none").reshape(scores.shape[0], -1).mean(1)
        return weighted_mean(per_sample, weight)


class HierarchicalSoftmaxHead(nn.Module):
    """Two-level softmax over ``n_classes`` split into about ``sqrt(n_classes)`` clusters.

    ``p(class) = p(cluster) * p(class | cluster)``. Training evaluates the cluster softmax
    and only the target's cluster (``O(sqrt(C))`` per sample instead of ``O(C)``);
    prediction evaluates all clusters and the probabilities sum to one.
    PyTorch ships only the adaptive softmax (frequency-based, not hierarchical), so this
    head is written here.
    """

    def __init__(self, n_inputs: int, n_classes: int) -> None:
        super().__init__()
        self.n_classes = n_classes
        self.cluster_size = max(1, math.ceil(math.sqrt(n_classes)))
        self.n_clusters = math.ceil(n_classes / self.cluster_size)
        self.cluster = nn.Linear(n_inputs, self.n_clusters)
        # one weight matrix per cluster, stored as one tensor for a batched matmul
        self.weight = nn.Parameter(torch.empty(self.n_clusters, self.cluster_size, n_inputs))
        self.bias = nn.Parameter(torch.zeros(self.n_clusters, self.cluster_size))
        nn.init.normal_(self.weight, 0.0, 0.1 / math.sqrt(n_inputs))
        # slots past n_classes in the last cluster never receive probability
        pad = self.n_clusters * self.cluster_size - n_classes
        mask = torch.zeros(self.n_clusters, self.cluster_size)
        if pad:
            mask[-1, self.cluster_size - pad:] = float("-inf")
        self.register_buffer("pad_mask", mask, persistent=False)

    def log_proba(self, h: torch.Tensor) -> torch.Tensor:
        """Log-probabilities of all classes, shape ``(n, n_classes)``."""
        log_cluster = torch.log_softmax(self.cluster(h), dim=1)  # (n, K)
        within = torch.einsum("nd,kmd->nkm", h, self.weight) + self.bias + self.pad_mask
        log_within = torch.log_softmax(within, dim=2)  # (n, K, M)
        full = (log_cluster[:, :, None] + log_within).reshape(h.shape[0], -1)
        return full[:, : self.n_classes]

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.log_proba(h)

    def nll(self, h: torch.Tensor, y: torch.Tensor, class_weight: torch.Tensor | None = None,
            weight: torch.Tensor | None = None) -> torch.Tensor:
        """Mean negative log-likelihood of the targets, touching only their clusters."""
        k = torch.div(y, self.cluster_size, rounding_mode="floor")
        m = y - k * self.cluster_size
        log_cluster = torch.log_softmax(self.cluster(h), dim=1).gather(1, k[:, None]).squeeze(1)
        w = self.weight[k]  # (n, M, d)
        within = torch.bmm(w, h[:, :, None]).squeeze(2) + self.bias[k] + self.pad_mask[k]
        log_within = torch.log_softmax(within, dim=1).gather(1, m[:, None]).squeeze(1)
        nll = -(log_cluster + log_within)
        if weight is not None:
            return weighted_mean(nll, combined_weight(y, class_weight, weight))
        if class_weight is not None:
            cw = class_weight[y]
            return (nll * cw).sum() / cw.sum()
        return nll.mean()


class HierarchicalSoftmax(Loss):
    """Loss for a network whose head is a :class:`HierarchicalSoftmaxHead`."""

    name = "hierarchical_softmax"

    def batch(self, net, x, y, weight=None):
        h = net.features(x)
        return net.head.nll(h, y, self.class_weight, weight), None

    def __call__(self, scores, y, weight=None):
        # scores are log-probabilities here
        if weight is None:
            return F.nll_loss(scores, y, weight=self.class_weight)
        return weighted_mean(F.nll_loss(scores, y, reduction="none"), combined_weight(y, self.class_weight, weight))

    def scores_to_proba(self, scores):
        return scores.exp()


def make_loss(name: str, class_weight: torch.Tensor | None = None) -> Loss:
    """Return the loss object for ``name``; unknown names fail with the list of valid ones."""
    if name == "cross_entropy":
        return CrossEntropy(class_weight)
    if name == "hinge":
        return MulticlassHinge(class_weight)
    if name == "squared_hinge":
        return MulticlassHinge(class_weight, squared=True)
    if name == "hierarchical_softmax":
        return HierarchicalSoftmax(class_weight)
    if name == "mse":
        return MeanSquaredError()
    raise ConfigError(f"Unknown loss {name!r}; choose one of {', '.join(LOSSES)}.")
