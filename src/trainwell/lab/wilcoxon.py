"""Wilcoxon over folds vs a single run when comparing two configurations
(notes: "Hyperparameter optimization")."""

from __future__ import annotations

import numpy as np
from scipy import stats
from sklearn.model_selection import StratifiedKFold

from ..estimators import NeuralNetClassifier
from ._common import digits, figure, fit_quietly, pct
from ._registry import Outcome, experiment

CONFIGS = {"ReLU": {"activation": "relu"}, "tanh": {"activation": "tanh"}}


@experiment(
    "wilcoxon",
    title="Comparing two configurations: the Wilcoxon signed-rank test over folds vs a single run",
    chapter="Hyperparameter optimization",
    claim="Use statistical hypothesis testing to compare model performance with different hyperparameters (the "
          "Wilcoxon signed-rank test): assess the model performance repeatedly, to see that the model you want to "
          "pick is doing better consistently over multiple experiments.",
)
def wilcoxon(quick: bool = False, seed: int = 0) -> Outcome:
    """Score ReLU and tanh networks on the same 10 folds of load_digits (paired: same rows,
    same seed), run the Wilcoxon signed-rank test on the paired accuracies, and count how
    often a single run (one fold) would have picked each."""
    X, y = digits()
    n_folds = 5 if quick else 10
    epochs = 4 if quick else 15
    folds = StratifiedKFold(n_folds, shuffle=True, random_state=seed)
    scores: dict[str, list[float]] = {k: [] for k in CONFIGS}
    for i, (train, test) in enumerate(folds.split(X, y)):
        for name, params in CONFIGS.items():
            est = NeuralNetClassifier(hidden=(64, 64), batch_size=64, max_epochs=epochs, early_stopping=False,
                                      random_state=seed + i, **params)
            fit_quietly(est, X[train], y[train])
            scores[name].append(float(est.score(X[test], y[test])))
    a, b = np.array(scores["ReLU"]), np.array(scores["tanh"])
    diff = a - b
    test = stats.wilcoxon(a, b, zero_method="zsplit")
    p = float(test.pvalue)
    single = {"ReLU": int((diff > 0).sum()), "tanh": int((diff < 0).sum()), "tie": int((diff == 0).sum())}
    mean_winner = "ReLU" if diff.mean() > 0 else "tanh"
    disagree = single["tanh" if mean_winner == "ReLU" else "ReLU"] + single["tie"]
    # The notes' point: one run is not enough to pick a configuration. It shows when single
    # runs disagree with each other (some folds pick the other one, or tie).
    holds = disagree > 0

    fig, (ax1, ax2) = figure(2, width=5.0)
    for i in range(n_folds):
        ax1.plot([0, 1], [a[i], b[i]], "-o", color="tab:blue" if diff[i] > 0 else "tab:red" if diff[i] < 0 else "0.5",
                 alpha=0.7)
    ax1.set_xticks([0, 1], list(CONFIGS))
    ax1.set(xlim=(-0.3, 1.3), ylabel="test accuracy on the fold", title=f"{n_folds} folds, paired (blue: ReLU won)")
    ax2.bar(range(1, n_folds + 1), 100 * diff, color=["tab:blue" if d > 0 else "tab:red" for d in diff])
    ax2.axhline(100 * diff.mean(), color="k", ls="--", lw=0.8, label=f"mean {100 * diff.mean():+.2f} points")
    ax2.set(xlabel="fold = one single run", ylabel="ReLU minus tanh (points)", title=f"Wilcoxon p = {p:.3g}")
    ax2.legend()

    significant = p < 0.05
    summary = (
        f"Over {n_folds} folds of load_digits, ReLU averaged {pct(a.mean(), 2)} and tanh {pct(b.mean(), 2)} "
        f"(mean difference {100 * diff.mean():+.2f} points); the Wilcoxon signed-rank test gives p = {p:.3g}, "
        f"{'a consistent difference' if significant else 'no evidence of a consistent difference'} at the 5 % level. "
        f"A single run (one fold) would have picked ReLU {single['ReLU']} times, tanh {single['tanh']} times and tied "
        f"{single['tie']} times: "
        + ("single runs disagree, so the notes' claim that one must compare over repeated runs holds on this data."
           if holds else "every single run agreed, so here one run would have been enough and the notes' claim "
           "does not hold here.")
    )
    numbers = {"data": "load_digits", "folds": n_folds, "epochs": epochs, "configs": CONFIGS,
               "accuracy": scores, "mean_accuracy": {"ReLU": float(a.mean()), "tanh": float(b.mean())},
               "mean_difference": float(diff.mean()), "wilcoxon_statistic": float(test.statistic), "p_value": p,
               "single_run_picks": single, "single_runs_disagreeing_with_mean": disagree}
    return Outcome(numbers, fig, summary, holds)
