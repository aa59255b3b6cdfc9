"""Learning rate too low, right and too high (notes: "Optimization")."""

from __future__ import annotations

import math

import numpy as np

from ..estimators import NeuralNetClassifier
from ._common import (
    UpdateRatio,
    curve,
    dead_fraction,
    digits,
    figure,
    fit_quietly,
    hidden_outputs,
    network_input,
    num,
    pct,
    split,
    verdict,
)
from ._registry import Outcome, experiment

RATES = {"too low": 1e-5, "right": 1e-3, "too high": 0.1, "far too high": 1.0}
COLORS = {"too low": "tab:gray", "right": "tab:blue", "too high": "tab:orange", "far too high": "tab:red"}


@experiment(
    "learning-rate",
    title="Learning rate too low, right and too high: the loss curves",
    chapter="Optimization",
    claim="The small value of the learning rate can slow down training; the big value can result in overshooting "
          "the minimum and effectively nullifying the improvements made during earlier iterations.",
)
def learning_rate(quick: bool = False, seed: int = 0) -> Outcome:
    """Train the same network (Adam, no batch norm) at four learning rates from 1e-5 to 1
    and record the training loss per epoch and the per-step update/weight ratio of the first layer."""
    X, y = digits()
    X_train, X_test, y_train, y_test = split(X, y, test_size=0.25, seed=seed)
    epochs = 4 if quick else 25
    runs = {}
    for label, lr in RATES.items():
        est = NeuralNetClassifier(hidden=(128, 64), batchnorm=False, lr=lr, l2=0.0, dropout=0.0, max_epochs=epochs,
                                  early_stopping=False, random_state=seed)
        est.callbacks = [UpdateRatio()]
        fit_quietly(est, X_train, y_train)
        loss = curve(est.history_, "train_loss")
        ratios = [r for r in curve(est.history_, "update_ratio") if math.isfinite(r)]
        diverged = not math.isfinite(loss[-1])
        outs = hidden_outputs(est.network_, network_input(est, X_test))
        runs[label] = {
            "lr": lr, "train_loss": loss, "diverged": diverged,
            "best_train_loss": float(np.nanmin(loss)),
            "test_accuracy": float("nan") if diverged else float(est.score(X_test, y_test)),
            "update_ratio": float(np.median(ratios)) if ratios else float("nan"),
            "dead_units": float(np.mean([dead_fraction(o) for o in outs])),
        }
    final = {k: v["train_loss"][-1] for k, v in runs.items()}
    low, right, high, far = runs["too low"], runs["right"], runs["too high"], runs["far too high"]
    slow = final["too low"] > 2 * final["right"]
    overshoot = high["diverged"] or final["too high"] > 2 * final["right"] or (
        # "nullifying earlier improvements": the loss went back up by more than half of its best value
        max(high["train_loss"][int(np.nanargmin(high["train_loss"])):]) > 1.5 * high["best_train_loss"])
    holds = slow and overshoot

    fig, (ax1, ax2) = figure(2, width=5.2)
    for label, r in runs.items():
        ax1.semilogy(range(1, epochs + 1), r["train_loss"], marker=".", color=COLORS[label],
                     label=f"{label}: lr {r['lr']:g}")
    ax1.set(xlabel="epoch", ylabel="training loss (log)", title="loss curves (Adam, load_digits)")
    ax1.legend()
    labels = list(runs)
    ax2.bar([k.replace(" high", "\nhigh") for k in labels], [max(runs[k]["update_ratio"], 1e-9) for k in labels], color=[COLORS[k] for k in labels])
    ax2.axhline(1e-3, color="k", ls="--", lw=0.8, label="the usual healthy 1e-3")
    ax2.set_yscale("log")
    ax2.set(ylabel="|update| / |weights| per step, layer 1", title="update/weight ratio (median over epochs)")
    ax2.legend()

    def end(label: str) -> str:
        r = runs[label]
        return "diverged" if r["diverged"] else f"{num(final[label])} (test accuracy {pct(r['test_accuracy'])})"

    summary = (
        f"After {epochs} epochs with Adam on load_digits, the training loss was {end('too low')} at lr 1e-5, "
        f"{end('right')} at lr 1e-3, {end('too high')} at lr 0.1 (its best epoch: {num(high['best_train_loss'])}) and "
        f"{end('far too high')} at lr 1, where {pct(far['dead_units'])} of the ReLU units had died; the update/weight "
        f"ratio per step was {num(low['update_ratio'])}, {num(right['update_ratio'])}, {num(high['update_ratio'])} and "
        f"{num(far['update_ratio'])} against the usual healthy 1e-3: {verdict(holds)}."
    )
    numbers = {"data": "load_digits", "epochs": epochs, "optimizer": "adam", "runs": runs, "final_train_loss": final,
               "too_low_is_slow": slow, "too_high_overshoots": overshoot}
    return Outcome(numbers, fig, summary, holds)
