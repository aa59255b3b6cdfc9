"""2 vs 3 vs 5 layers (notes: "Neural networks - Biological motivation")."""

from __future__ import annotations

import numpy as np

from ..estimators import NeuralNetClassifier
from ._common import EpochEval, curve, figure, fit_quietly, images, pct, split, verdict
from ._registry import Outcome, experiment

WIDTH = 128
LAYERS = {"2 layers": (WIDTH,), "3 layers": (WIDTH,) * 2, "5 layers": (WIDTH,) * 4}
COLORS = {"2 layers": "tab:gray", "3 layers": "tab:blue", "5 layers": "tab:purple"}


@experiment(
    "depth",
    title="2 vs 3 vs 5 layers: does depth pay?",
    chapter="Neural networks",
    claim="In practice, 3-layer neural networks (2 hidden layers + 1 output layer) will often outperform 2-layer "
          "nets, but going even deeper (4,5,6-layer) rarely helps much more.",
)
def depth(quick: bool = False, seed: int = 0) -> Outcome:
    """Train networks with 1, 2 and 4 hidden layers of 128 units (the output layer makes 2, 3
    and 5 layers) with trainwell's defaults and early stopping, on two seeds, and compare
    their test accuracy."""
    X, y, data_name = images(quick)
    seeds = [seed] if quick else [seed, seed + 1]
    epochs = 2 if quick else 15
    acc: dict[str, list[float]] = {k: [] for k in LAYERS}
    curves: dict[str, list[float]] = {}
    params: dict[str, int] = {}
    for s in seeds:
        X_train, X_test, y_train, y_test = split(X, y, test_size=0.2, seed=s)
        for label, hidden in LAYERS.items():
            est = NeuralNetClassifier(hidden=hidden, max_epochs=epochs, patience=5, random_state=s)
            est.callbacks = [EpochEval(est, X_test, y_test)]
            fit_quietly(est, X_train, y_train)
            acc[label].append(float(est.score(X_test, y_test)))
            params[label] = sum(p.numel() for p in est.network_.parameters())
            if s == seed:
                curves[label] = curve(est.history_, "test_accuracy")
    mean = {k: float(np.mean(v)) for k, v in acc.items()}
    gain_3_over_2 = mean["3 layers"] - mean["2 layers"]
    gain_5_over_3 = mean["5 layers"] - mean["3 layers"]
    # "often outperform": 3 layers ahead; "rarely helps much more": 5 layers gain less than 3 did (and < 1 point)
    holds = gain_3_over_2 > 0 and gain_5_over_3 < max(gain_3_over_2, 0.01)

    fig, (ax1, ax2) = figure(2, width=5.0)
    for label, c in curves.items():
        ax1.plot(range(1, len(c) + 1), c, marker=".", color=COLORS[label], label=f"{label} ({params[label]:,} weights)")
    ax1.set(xlabel="epoch", ylabel="test accuracy", title=f"learning curves, seed {seed}")
    ax1.legend(fontsize=8)
    for i, label in enumerate(LAYERS):
        ax2.scatter([i] * len(acc[label]), acc[label], color=COLORS[label], zorder=3)
        ax2.hlines(mean[label], i - 0.25, i + 0.25, color="k")
    ax2.set_xticks(range(len(LAYERS)), list(LAYERS))
    ax2.set(ylabel="test accuracy (dots: seeds, line: mean)", title="final test accuracy")

    summary = (
        f"On {data_name}, averaged over {len(seeds)} seed(s), 2-layer nets reached {pct(mean['2 layers'])} test accuracy, "
        f"3-layer {pct(mean['3 layers'])} ({100 * gain_3_over_2:+.1f} points) and 5-layer {pct(mean['5 layers'])} "
        f"({100 * gain_5_over_3:+.1f} points more): {verdict(holds)}."
    )
    numbers = {"data": data_name, "seeds": seeds, "max_epochs": epochs, "patience": 5, "width": WIDTH,
               "test_accuracy": acc, "mean_test_accuracy": mean, "parameters": params,
               "gain_3_over_2": gain_3_over_2, "gain_5_over_3": gain_5_over_3, "test_accuracy_by_epoch": curves}
    return Outcome(numbers, fig, summary, holds)
