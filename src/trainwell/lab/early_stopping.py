"""Early stopping on the validation loss (notes: "Test set, validation set, and overfitting")."""

from __future__ import annotations

import math

import numpy as np

from ..estimators import NeuralNetClassifier
from ._common import (
    EpochEval,
    curve,
    digits,
    figure,
    fit_quietly,
    num,
    pct,
    per_class,
    split,
    verdict,
)
from ._registry import Outcome, experiment

PATIENCE = 20  # trainwell's default


def _stop_epoch(val_loss: list[float], patience: int, min_delta: float = 1e-4) -> tuple[int, int]:
    """(best epoch, stopping epoch) of trainwell's EarlyStopping rule replayed on a validation curve."""
    best, best_epoch, wait = math.inf, 0, 0
    for epoch, value in enumerate(val_loss, start=1):
        if value < best - min_delta * abs(best if math.isfinite(best) else value):
            best, best_epoch, wait = value, epoch, 0
        else:
            wait += 1
            if wait >= patience:
                return best_epoch, epoch
    return best_epoch, len(val_loss)


@experiment(
    "early-stopping",
    title="Early stopping on validation: where to stop, and what training on costs",
    chapter="Test set, validation set, and overfitting",
    claim="You should stop the training process as soon as you start overfitting the network; validation data is "
          "used to estimate the training efficiency at the end of each epoch.",
)
def early_stopping(quick: bool = False, seed: int = 0) -> Outcome:
    """Train an unregularised network on a small training set for many epochs, watching the
    validation loss (which early stopping uses) and a test set (which nothing chooses on);
    then replay trainwell's early-stopping rule (patience 20) on the validation curve and
    compare the test numbers at the stopping point with those at the end."""
    X, y = digits()
    rest, X_test, rest_y, y_test = split(X, y, test_size=0.4, seed=seed)
    idx = per_class(rest_y, 10 if quick else 30, seed)
    X_small, y_small = rest[idx], rest_y[idx]
    epochs = 15 if quick else 100
    # patience = epochs: the run never stops, so the whole curve is seen; the rule is replayed below
    est = NeuralNetClassifier(hidden=(256, 256), l2=0.0, dropout=0.0, batch_size=16, max_epochs=epochs, patience=epochs,
                              validation_fraction=0.25, random_state=seed)
    est.callbacks = [EpochEval(est, X_test, y_test)]
    fit_quietly(est, X_small, y_small)
    h = est.history_
    val_loss, train_loss = curve(h, "val_loss"), curve(h, "train_loss")
    test_loss, test_acc = curve(h, "test_loss"), curve(h, "test_accuracy")
    best, stop = _stop_epoch(val_loss, min(PATIENCE, epochs // 3))
    at_best = {"test_loss": test_loss[best - 1], "test_accuracy": test_acc[best - 1]}
    at_end = {"test_loss": test_loss[-1], "test_accuracy": test_acc[-1]}
    overfits = val_loss[-1] > 1.2 * min(val_loss)
    # A tie (test loss within 5 %, accuracy within a point) is reported as one, not as the claim holding.
    tie = (abs(at_end["test_loss"] - at_best["test_loss"]) < 0.05 * at_end["test_loss"]
           and abs(at_end["test_accuracy"] - at_best["test_accuracy"]) < 0.01)
    holds = None if not overfits or tie else (
        at_best["test_loss"] < at_end["test_loss"] and at_best["test_accuracy"] >= at_end["test_accuracy"] - 0.01)

    fig, (ax1, ax2) = figure(2, width=5.2)
    ep = np.arange(1, len(h) + 1)
    ax1.semilogy(ep, train_loss, color="0.6", label="training")
    ax1.semilogy(ep, val_loss, color="tab:blue", label="validation (early stopping watches it)")
    ax1.semilogy(ep, test_loss, color="tab:red", ls="--", label="test (never used to choose)")
    ax1.axvline(best, color="tab:green", lw=1, label=f"best validation epoch {best}")
    ax1.axvline(stop, color="tab:green", lw=1, ls=":", label=f"stops at epoch {stop} (patience {min(PATIENCE, epochs // 3)})")
    ax1.set(xlabel="epoch", ylabel="loss (log)", title="loss curves")
    ax1.legend(fontsize=7)
    ax2.plot(ep, curve(h, "val_accuracy"), color="tab:blue", label="validation")
    ax2.plot(ep, test_acc, color="tab:red", ls="--", label="test")
    ax2.axvline(best, color="tab:green", lw=1)
    ax2.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    ax2.legend(fontsize=8)

    summary = (
        f"Trained on {len(idx) - est.n_val_} digits (validation {est.n_val_}) for {len(h)} epochs, the validation loss "
        f"was lowest at epoch {best} ({num(min(val_loss))}) and ended at {num(val_loss[-1])}; the early-stopping rule "
        f"stops at epoch {stop}. With the weights of epoch {best} the test loss is {num(at_best['test_loss'])} and "
        f"test accuracy {pct(at_best['test_accuracy'])}, after all {len(h)} epochs {num(at_end['test_loss'])} and "
        f"{pct(at_end['test_accuracy'])}: "
        + ("the validation loss never rose, so there was no overfitting for early stopping to stop here." if not overfits
           else f"a tie: stopping at epoch {stop} saved {len(h) - stop} epochs but changed the test result by "
                f"less than its noise." if tie else verdict(holds) + ".")
    )
    numbers = {"data": "load_digits", "train_rows": int(est.n_train_), "validation_rows": int(est.n_val_),
               "epochs": len(h), "best_epoch": best, "stop_epoch": stop, "patience": min(PATIENCE, epochs // 3),
               "at_best_epoch": at_best, "at_end": at_end, "validation_loss_rose": overfits, "tie": tie,
               "curves": {"train_loss": train_loss, "val_loss": val_loss, "test_loss": test_loss, "test_accuracy": test_acc}}
    return Outcome(numbers, fig, summary, holds)
