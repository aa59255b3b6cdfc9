"""The sanity checks: the loss at initialisation, and overfitting 20 examples (notes: "Sanity checks")."""

from __future__ import annotations

import math

import numpy as np

from ..estimators import NeuralNetClassifier
from ..train.optim import decayed_parameters
from ._common import FirstStepLoss, digits, figure, fit_quietly, num, per_class, verdict
from ._registry import Outcome, experiment

EXPECTED = math.log(10)  # -ln(0.1) = 2.302...


class _InitialState(FirstStepLoss):
    """The first batch's loss, and the sum of squared weights (those L2 applies to) before the first update."""

    squared_weights: float = math.nan

    def on_step_begin(self, run) -> None:
        self.squared_weights = float(sum((p.detach() ** 2).sum() for p in decayed_parameters(run.net)[0]))


def _first_loss(X, y, seed: int, **params) -> tuple[float, float]:
    """(loss of the first training batch, sum of squared weights at initialisation), regularisation off."""
    probe = _InitialState()
    est = NeuralNetClassifier(l2=0.0, dropout=0.0, max_epochs=1, early_stopping=False, random_state=seed,
                              callbacks=[probe], **params)
    fit_quietly(est, X, y)
    return probe.loss, probe.squared_weights


@experiment(
    "sanity-checks",
    title="The sanity checks: loss at initialisation = ln 10 for 10 classes; overfitting 20 examples",
    chapter="Sanity checks",
    claim="For a softmax classifier with 10 classes we expect the initial loss to be -ln(0.1) = 2.302 (regularisation "
          "off); increasing the regularisation strength should increase the loss; you should be able to overfit a "
          "tiny subset (e.g. 20 examples) to zero loss.",
)
def sanity_checks(quick: bool = False, seed: int = 0) -> Outcome:
    """Measure the loss of the very first training batch (regularisation off) over several
    seeds, for trainwell's default initialisation and for a badly scaled one; add the L2
    penalty those initial weights carry at growing strengths; then train on 20 examples
    with regularisation off and watch the training loss go to zero."""
    X, y = digits()
    seeds = list(range(seed, seed + (2 if quick else 5)))
    default = [_first_loss(X, y, s) for s in seeds]
    bad = [_first_loss(X, y, s, init=("normal", 1.0)) for s in seeds]
    first = [loss for loss, _ in default]
    bad_first = [loss for loss, _ in bad]
    sq = default[0][1]
    penalised = {l2: first[0] + l2 / 2 * sq for l2 in (0.0, 1e-4, 1e-3, 1e-2)}

    idx = per_class(y, 2, seed)
    epochs = 40 if quick else 100
    est = NeuralNetClassifier(l2=0.0, dropout=0.0, batch_size=20, lr=0.01, max_epochs=epochs, early_stopping=False,
                              random_state=seed)
    fit_quietly(est, X[idx], y[idx])
    tiny_loss = [row["train_loss"] for row in est.history_]
    reached = next((i + 1 for i, v in enumerate(tiny_loss) if v < 0.01), None)

    mean_first = float(np.mean(first))
    init_ok = abs(mean_first - EXPECTED) < 0.05
    reg_raises = all(b > a for a, b in zip(list(penalised.values()), list(penalised.values())[1:], strict=False))
    overfits = tiny_loss[-1] < 0.01
    holds = init_ok and reg_raises and overfits

    fig, (ax1, ax2) = figure(2, width=5.0)
    ax1.scatter(np.zeros(len(first)), first, color="tab:blue", label="trainwell default init")
    ax1.scatter(np.ones(len(bad_first)), bad_first, color="tab:red", label="N(0, 1) weights")
    ax1.axhline(EXPECTED, color="k", ls="--", lw=0.8, label="ln 10 = 2.303")
    ax1.set_yscale("log")
    ax1.set_xticks([0, 1], ["default", "N(0, 1)"])
    ax1.set(xlim=(-0.5, 1.5), ylabel="loss of the first batch (log)", title=f"loss at initialisation, {len(seeds)} seeds")
    ax1.legend(fontsize=8)
    ax2.semilogy(range(1, len(tiny_loss) + 1), np.maximum(tiny_loss, 1e-8), color="tab:blue")
    ax2.axhline(0.01, color="k", ls=":", lw=0.8)
    ax2.set(xlabel="epoch", ylabel="training loss (log)", title="20 examples, regularisation off, lr 0.01")

    summary = (
        f"On load_digits (10 classes) the first batch's loss with regularisation off was {num(mean_first)} on "
        f"average over {len(seeds)} seeds (range {num(min(first))} to {num(max(first))}; expected ln 10 = 2.303), and "
        f"{num(float(np.mean(bad_first)))} for a network drawn with N(0, 1) weights, which the check flags. Adding the "
        f"L2 penalty of those initial weights gives {', '.join(f'{num(v)} at l2={k:g}' for k, v in penalised.items())}. "
        f"On 20 examples the training loss fell to {num(tiny_loss[-1])} after {len(tiny_loss)} epochs "
        f"({'below 0.01 from epoch ' + str(reached) if reached else 'never below 0.01'}): {verdict(holds)}."
    )
    numbers = {"data": "load_digits", "expected_initial_loss": EXPECTED, "first_batch_loss": first,
               "first_batch_loss_mean": mean_first, "first_batch_loss_normal_1": bad_first,
               "sum_squared_weights_at_init": sq, "penalised_initial_loss": {str(k): v for k, v in penalised.items()},
               "tiny_set_size": int(len(idx)), "tiny_set_final_loss": tiny_loss[-1], "tiny_set_epoch_below_0_01": reached,
               "tiny_set_loss": tiny_loss, "initial_loss_ok": init_ok, "regularisation_raises_loss": reg_raises,
               "overfits_tiny_set": overfits}
    return Outcome(numbers, fig, summary, holds)
