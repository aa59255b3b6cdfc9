"""L2 vs L1 vs dropout against overfitting (notes: "Test set, validation set, and overfitting")."""

from __future__ import annotations

import numpy as np

from ..estimators import NeuralNetClassifier
from ._common import figure, fit_quietly, images, pct, per_class, split
from ._registry import Outcome, experiment

# Each regulariser gets the best of a few strengths, chosen on a validation split.
STRENGTHS = {
    "none": [{}],
    "L2": [{"l2": v} for v in (1e-3, 1e-2, 1e-1)],
    "L1": [{"l1": v} for v in (1e-4, 1e-3)],
    "dropout": [{"dropout": v} for v in (0.2, 0.5)],
}
COLORS = {"none": "tab:gray", "L2": "tab:blue", "L1": "tab:orange", "dropout": "tab:green"}


def _fit(params: dict, X, y, epochs: int, seed: int) -> NeuralNetClassifier:
    base = {"l2": 0.0, "l1": 0.0, "dropout": 0.0}
    # No batch norm: behind batch norm a layer's weight scale does not change its output, so
    # L2 on those weights would only change their effective step size, not regularise.
    est = NeuralNetClassifier(hidden=(256, 256), batchnorm=False, batch_size=50, max_epochs=epochs,
                              early_stopping=False, random_state=seed, **{**base, **params})
    return fit_quietly(est, X, y)


@experiment(
    "regularisation",
    title="L2 vs L1 vs dropout against overfitting, on a training set small enough to memorise",
    chapter="Test set, validation set, and overfitting",
    claim="Use as big a network as your budget allows and control overfitting with regularisation; L2 is expected "
          "to give superior performance over L1; L1 leads the weight vectors to become sparse.",
)
def regularisation(quick: bool = False, seed: int = 0) -> Outcome:
    """Train a wide two-hidden-layer network on 50 images per class, with no regularisation
    and with L2, L1 or dropout (each at the strength that did best on a validation split),
    and compare training and test accuracy and the sparsity of the first layer's weights."""
    X, y, data_name = images(quick)
    n_per_class = 20 if quick else 50
    rest_train, X_test, rest_y, y_test = split(X, y, test_size=0.3, seed=seed)
    idx = per_class(rest_y, n_per_class, seed)
    X_small, y_small = rest_train[idx], rest_y[idx]
    X_fit, X_val, y_fit, y_val = split(X_small, y_small, test_size=0.2, seed=seed)
    epochs = 8 if quick else 30
    sweep: dict[str, list[dict]] = {}
    for name, options in STRENGTHS.items():
        sweep[name] = []
        for params in options:
            est = _fit(params, X_fit, y_fit, epochs, seed)
            w = est.network_.features[0].weight.detach().abs()
            sweep[name].append({
                "params": params, "train_accuracy": float(est.score(X_fit, y_fit)),
                "validation_accuracy": float(est.score(X_val, y_val)),
                "test_accuracy": float(est.score(X_test, y_test)),
                "near_zero_weights": float((w < 1e-3).float().mean()),
            })
    # each regulariser at the strength that did best on the validation rows; its test number is reported
    rows = {name: max(runs, key=lambda r: r["validation_accuracy"]) for name, runs in sweep.items()}
    for row in rows.values():
        row["gap"] = row["train_accuracy"] - row["test_accuracy"]
    test = {k: v["test_accuracy"] for k, v in rows.items()}
    gap = {k: v["gap"] for k, v in rows.items()}
    sparse = {k: v["near_zero_weights"] for k, v in rows.items()}
    parts = {
        "regularisation reduces overfitting": all(gap[k] < gap["none"] and test[k] >= test["none"]
                                                  for k in ("L2", "L1", "dropout")),
        "L2 beats L1": test["L2"] >= test["L1"],
        "L1 gives sparse weights": sparse["L1"] > max(sparse["L2"], sparse["none"]) + 0.05,
    }
    holds = all(parts.values())

    fig, (ax1, ax3, ax2) = figure(3, width=4.4)
    names = list(rows)
    xs = np.arange(len(names))
    ax1.bar(xs - 0.2, [rows[k]["train_accuracy"] for k in names], 0.4, color="0.75", label="training")
    ax1.bar(xs + 0.2, [rows[k]["test_accuracy"] for k in names], 0.4, color=[COLORS[k] for k in names], label="test")
    ax1.set_xticks(xs, [f"{k}\n{', '.join(f'{a} {b:g}' for a, b in rows[k]['params'].items())}" for k in names],
                   fontsize=8)
    lo = min(test.values()) - 0.05
    ax1.set(ylabel="accuracy", ylim=(max(0.0, lo), 1.0), title="chosen strength: training vs test")
    ax1.legend(loc="lower right")
    for name in ("L2", "L1", "dropout"):
        values = [next(iter(r["params"].values())) for r in sweep[name]]
        ax3.semilogx(values, [r["test_accuracy"] for r in sweep[name]], "o-", color=COLORS[name], label=f"{name}: test")
    ax3.axhline(test["none"], color=COLORS["none"], ls="--", label="none: test")
    ax3.set(xlabel="strength (L2, L1: penalty; dropout: probability)", ylabel="test accuracy",
            title="every strength tried")
    ax3.legend(fontsize=7)
    ax2.bar(names, [sparse[k] for k in names], color=[COLORS[k] for k in names])
    ax2.set(ylabel="share of |w| < 1e-3, first layer", title="sparsity of the first layer's weights")

    def params_text(name: str) -> str:
        return ", ".join(f"{a} {b:g}" for a, b in rows[name]["params"].items())

    summary = (
        f"Trained on {len(y_fit)} images of {data_name} for {epochs} epochs (no batch norm, Adam), the unregularised net reached "
        f"{pct(rows['none']['train_accuracy'])} training and {pct(test['none'])} test accuracy (gap "
        f"{100 * gap['none']:.1f} points); L2 ({params_text('L2')}) {pct(test['L2'])} (gap {100 * gap['L2']:.1f}), "
        f"L1 ({params_text('L1')}) {pct(test['L1'])} (gap {100 * gap['L1']:.1f}), dropout ({params_text('dropout')}) "
        f"{pct(test['dropout'])} (gap {100 * gap['dropout']:.1f}); first-layer weights below 1e-3: "
        f"{pct(sparse['L1'])} with L1, {pct(sparse['L2'])} with L2, {pct(sparse['none'])} without. "
        + ("The notes' claims hold on this data." if holds else
           "Of the notes' claims, " + ", ".join(f"'{k}' {'holds' if v else 'does not hold'}" for k, v in parts.items())
           + " here.")
    )
    numbers = {"data": data_name, "train_images": len(y_fit), "epochs": epochs, "hidden": [256, 256],
               "validation_rows": len(y_val), "sweep": sweep, "chosen": rows, "claims": parts}
    return Outcome(numbers, fig, summary, holds)
