"""Transfer learning with few examples (notes: "Test set, validation set, and overfitting")."""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from ..estimators import NeuralNetClassifier
from ._common import figure, fit_quietly, images, network_input, pct, per_class, verdict
from ._registry import Outcome, experiment

HIDDEN = (128, 64)


def _has_pretrained() -> bool:
    return "pretrained" in NeuralNetClassifier().get_params()


def _head_on_body(source: NeuralNetClassifier, X, y, X_test, y_test, epochs: int, seed: int) -> float:
    """Plain PyTorch: the source's trained body, frozen, under a new linear head trained on (X, y).

    Used where the estimator has no ``pretrained=`` option: the body's outputs are computed
    once (it is frozen, in evaluation mode) and the head is fitted on them with Adam.
    """
    body = copy.deepcopy(source.network_.features).eval().requires_grad_(False)
    classes = np.unique(y)
    with torch.no_grad():
        h = body(network_input(source, X))
        h_test = body(network_input(source, X_test))
    torch.manual_seed(seed)
    head = nn.Linear(h.shape[1], len(classes)).to(h.device)  # on the body's device, where its outputs are
    opt = torch.optim.Adam(head.parameters(), lr=1e-2)
    target = torch.as_tensor(np.searchsorted(classes, y), device=h.device)
    for _ in range(epochs):
        opt.zero_grad()
        nn.functional.cross_entropy(head(h), target).backward()
        opt.step()
    with torch.no_grad():
        pred = classes[head(h_test).argmax(1).cpu().numpy()]
    return float((pred == y_test).mean())


@experiment(
    "transfer",
    title="Transfer learning with 20 images per class: a body trained on the digits 0-4 reused for the digits 5-9",
    chapter="Test set, validation set, and overfitting",
    claim="You don't have to train your network from scratch: you can use an already trained network, drop the "
          "last layer and train it from that point (transfer learning).",
)
def transfer(quick: bool = False, seed: int = 0) -> Outcome:
    """Train a network on the digits 0-4 of MNIST 5k; then learn the digits 5-9 from 20
    images per class, either from scratch or on top of the trained body (frozen, new head;
    and fine-tuned afterwards where the estimator offers it), over several random draws of
    the 100 training images, and compare test accuracy on the remaining images of 5-9."""
    X, y, data_name = images(quick)
    source_rows = y < 5
    est_source = NeuralNetClassifier(hidden=HIDDEN, max_epochs=5 if quick else 20, random_state=seed)
    fit_quietly(est_source, X[source_rows], y[source_rows])
    source_acc = est_source.history_[-1].get("val_accuracy")
    Xt, yt = X[~source_rows], y[~source_rows]
    draws = 2 if quick else 3
    epochs = 20 if quick else 50
    pretrained = _has_pretrained()
    scores: dict[str, list[float]] = {"from scratch": [], "frozen body + new head": []}
    if pretrained:
        scores["fine-tuned"] = []
    for d in range(draws):
        idx = per_class(yt, 20, seed + d)
        test = np.setdiff1d(np.arange(len(yt)), idx)
        common = {"hidden": HIDDEN, "max_epochs": epochs, "early_stopping": False, "random_state": seed + d}
        scratch = fit_quietly(NeuralNetClassifier(**common), Xt[idx], yt[idx])
        scores["from scratch"].append(float(scratch.score(Xt[test], yt[test])))
        if pretrained:
            head = fit_quietly(NeuralNetClassifier(pretrained=est_source, freeze="features", fine_tune=None, **common),
                               Xt[idx], yt[idx])
            scores["frozen body + new head"].append(float(head.score(Xt[test], yt[test])))
            tuned = fit_quietly(NeuralNetClassifier(pretrained=est_source, freeze="features", fine_tune=0.1,
                                                    **common), Xt[idx], yt[idx])
            scores["fine-tuned"].append(float(tuned.score(Xt[test], yt[test])))
        else:
            scores["frozen body + new head"].append(
                _head_on_body(est_source, Xt[idx], yt[idx], Xt[test], yt[test], 300, seed + d))
    mean = {k: float(np.mean(v)) for k, v in scores.items()}
    best_transfer = max(v for k, v in mean.items() if k != "from scratch")
    holds = best_transfer > mean["from scratch"] + 0.01

    fig, ax = figure(1, width=6.0)
    names = list(scores)
    for i, name in enumerate(names):
        ax.scatter([i] * len(scores[name]), scores[name], color="tab:blue", alpha=0.6, zorder=3)
        ax.hlines(mean[name], i - 0.25, i + 0.25, color="k")
        ax.text(i + 0.28, mean[name], pct(mean[name]), va="center", fontsize=9)
    ax.set_xticks(range(len(names)), names)
    ax.set(xlim=(-0.5, len(names) - 0.2), ylabel="test accuracy on digits 5-9",
           title=f"100 training images (20 per class), {draws} random draws")

    how = ("the estimator's pretrained= option" if pretrained
           else "plain PyTorch on the trained body (the estimator has no pretrained= option in this build)")
    summary = (
        f"A network trained on the digits 0-4 of {data_name} ({pct(source_acc) if source_acc is not None else 'n/a'} validation "
        f"accuracy) was reused for the digits 5-9 with 20 images per class, through {how}. Averaged over {draws} draws "
        f"of the training images, test accuracy was {pct(mean['from scratch'])} from scratch and "
        + ", ".join(f"{pct(v)} {k}" for k, v in mean.items() if k != "from scratch")
        + f": {verdict(holds)}."
    )
    numbers = {"data": f"{data_name}: source 0-4, target 5-9", "source_validation_accuracy": source_acc,
               "target_train_images": 100, "draws": draws, "epochs": epochs, "method": how,
               "test_accuracy": scores, "mean_test_accuracy": mean}
    return Outcome(numbers, fig, summary, holds)
