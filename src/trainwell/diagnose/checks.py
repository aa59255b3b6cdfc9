"""Sanity checks before training: ``trainwell.check(estimator, X, y)``.

From the notes' "Sanity checks": the untrained network's loss is near ``ln C`` with
regularisation off; raising L2 raises that loss; the model can overfit a tiny subset
(~20 examples) to about zero loss. Plus the data checks of :mod:`.datachecks` and
regression targets the output activation cannot produce. Every check reports a
:class:`Finding`, passing ones at ``info`` severity with their numbers.
"""

from __future__ import annotations

import copy
import math
import warnings
from typing import Any

import numpy as np
import torch
from sklearn.base import is_classifier

from ..data import as_regression_targets, targets_outside_output
from ..train.callbacks import Callback, RunState
from ..train.optim import decayed_parameters, make_optimizer
from ._prepare import Prepared, prepare, quiet_clone, rows
from .advice import CAUSES, USUAL_LR, advise
from .datachecks import (
    class_imbalance,
    column_scaling,
    missing_values,
    numeric_matrix,
    rare_classes,
    train_test_overlap,
)
from .expectations import describe_expectation, expected_initial_loss, init_loss_is_off
from .findings import Finding, fold_symptoms, rank
from .fitted_data import identifier_columns, numbers_as_text
from .monitors import default_monitors
from .probes.layers import find_layers
from .probes.weights import row_spread

#: A subset counts as overfit when its loss is below this fraction of the expected initial loss:
#: ln C for classes; for a regression (targets standardised on the subset, an untrained loss of
#: about 1) that is an R² of 0.95. It was 0.99 for regression, which a healthy one-feature table with
#: a skewed target (cancer rates by county, an unseen table) missed at 0.970 and was told its
#: pipeline was broken; a broken one stays near R² 0.
OVERFIT_LOSS_FRACTION = 0.05
OVERFIT_R2 = 1.0 - OVERFIT_LOSS_FRACTION


def check(estimator: Any, X: Any, y: Any, X_test: Any = None, *, overfit_size: int = 20,
          overfit_epochs: int = 300, random_state: int = 0) -> list[Finding]:
    """Run the sanity and data checks for ``estimator`` on ``(X, y)`` before training it.

    Parameters
    ----------
    estimator : NeuralNetClassifier or NeuralNetRegressor
        Unfitted (it is cloned, never changed).
    X : array-like or DataFrame of shape (n_samples, n_features) or (n_samples, *image_shape)
    y : array-like of shape (n_samples,) or (n_samples, n_targets)
    X_test : array-like or DataFrame, optional
        Test rows, to look for rows shared with ``X``.
    overfit_size : int, default=20
        Rows in the tiny subset the model must be able to overfit (at least one per class).
    overfit_epochs : int, default=300
        Full-batch steps allowed for that.
    random_state : int, default=0
        Chooses the subset and the rows measured.

    Returns
    -------
    list of Finding
        Ranked most serious first; checks that pass appear as ``info`` findings
        (``init_loss_ok``, ``regularization_ok``, ``overfit_small_batch_ok``).
    """
    classification = is_classifier(estimator)
    findings: list[Finding] = []
    try:
        X_num, names = numeric_matrix(X)
    except (TypeError, ValueError):
        X_num, names = None, []  # text in a plain array: the estimator's own validation says so below
    if X_num is not None:
        findings += missing_values(X_num, names, y if not classification else None,
                                   missing=getattr(estimator, "missing", "error"))
        if any(f.severity == "error" for f in findings):
            return rank(findings)  # nothing can be trained on non-finite inputs
    if X_test is not None:
        findings += train_test_overlap(X, X_test)
    if classification:
        findings += class_imbalance(y, getattr(estimator, "class_weight", None))
        findings += rare_classes(y)
    prep = prepare(estimator, X, y, seed=random_state, dropout=0.0)
    # text columns with a value per row, as fit reports them (the transform the clone learned)
    learned = getattr(prep.estimator, "transform_", None)
    findings += identifier_columns(learned, getattr(prep.estimator, "n_train_", None)) + numbers_as_text(learned)
    if X_num is not None:
        seen = prep.X.reshape(prep.X.shape[0], -1).cpu().numpy()
        findings += column_scaling(X_num, names, seen, getattr(estimator, "scaling", None))
    if not classification:
        findings += target_range(prep, y)
    findings += symmetric_init(prep)
    init_loss, init_finding = initial_loss(prep)
    findings.append(init_finding)
    findings += regularization(prep, estimator, init_loss)
    findings += overfit_small_batch(estimator, X, y, size=overfit_size, epochs=overfit_epochs, seed=random_state,
                                    hidden=prep.estimator.spec_.hidden)
    return rank(fold_symptoms(findings))


# ---------------------------------------------------------------------- targets
def target_range(prep: Prepared, y: Any) -> list[Finding]:
    """Regression targets (as scaled for training) outside what the output activation produces."""
    est = prep.estimator
    output = getattr(est, "output_activation", None)
    scaled = est.target_scaler_.transform(as_regression_targets(y))
    problem = targets_outside_output(scaled, output)
    if not problem:
        return []
    return [Finding(
        "targets_out_of_range", "error", problem.split(": the output will saturate")[0] + ": the output "
        "can never reach them, and chasing them saturates it so its gradient vanishes.",
        "Use target_scaling='auto' (maps targets onto 0.01..0.99 of the output's range) or output_activation=None.",
        {"output_activation": output, "target_min": float(scaled.min()), "target_max": float(scaled.max())},
        fix={"target_scaling": "auto"},
    )]


# ------------------------------------------------------------------ init checks
def symmetric_init(prep: Prepared) -> list[Finding]:
    """Layers whose units all start with the same weights (zero or constant initialisation)."""
    same = [layer.name for layer in find_layers(prep.estimator.network_)
            if float(row_spread(layer.weights[0])) < 1e-3]
    if not same:
        return []
    return [Finding(
        "symmetric_weights", "error",
        f"Every unit of {', '.join(same)} starts with the same weights, so they compute the same output, "
        "get the same gradient and stay identical: the network cannot learn (init="
        f"{prep.estimator.init!r}).",
        "Use init='auto' (He for ReLU, Xavier for tanh): small random weights break the symmetry.",
        {"layers": same},
        fix={"init": "auto"},
    )]


@torch.no_grad()
def initial_loss(prep: Prepared) -> tuple[float, Finding]:
    """The untrained network's loss with regularisation off, against its expected value."""
    est = prep.estimator
    net = est.network_
    net.train()  # what the first training step sees (batch statistics in batch norm)
    loss, scores = est.loss_.batch(net, prep.X, prep.y)
    measured = float(loss)
    classification = is_classifier(est)
    n_classes = len(est.classes_) if classification else None
    y_scaled = None if classification else prep.y.cpu().numpy()
    expected = expected_initial_loss(est.loss_.name, n_classes, y_scaled, getattr(est, "output_activation", None))
    evidence: dict[str, Any] = {"measured": measured, "expected": expected}
    if scores is not None:
        evidence["score_std"] = float(scores.float().std())
    if expected is None:
        return measured, Finding("init_loss_ok", "info", f"The untrained network's loss is {measured:.4g}.", "", evidence)
    basis = describe_expectation(est.loss_.name, n_classes)
    if not init_loss_is_off(measured, expected):
        return measured, Finding(
            "init_loss_ok", "info",
            f"The untrained network's loss is {measured:.4g}, close to the expected {expected:.4g} ({basis}).",
            "", evidence,
        )
    if measured > expected or not math.isfinite(measured):
        spread = f" (its output scores have standard deviation {evidence['score_std']:.3g})" if "score_std" in evidence else ""
        message = (
            f"The untrained network's loss is {measured:.4g} but should be about {expected:.4g} ({basis}): "
            f"it starts confidently wrong{spread}. This usually means the initial weights are too large, "
            "the inputs are not scaled, or the labels do not match the loss."
        )
        advice = ("Use init='auto' (small random weights, a small output layer); check the inputs and labels."
                  if est.init != "auto" else "Check the inputs (scaling='auto' standardises them) and the labels.")
    else:
        message = (
            f"The untrained network's loss is {measured:.4g}, far below the expected {expected:.4g} ({basis}): "
            "an untrained network should not know the answers. The labels may leak into the features, or "
            "the loss is not the one the labels need."
        )
        advice = "Look for a feature that encodes the target, and check the loss and the label encoding."
    fix = {"init": "auto"} if measured > expected and est.init != "auto" else {}
    return measured, Finding("init_loss_off", "warning", message, advice, evidence, fix=fix)


# --------------------------------------------------------------- regularisation
def _penalty(net: torch.nn.Module, optimizer: torch.optim.Optimizer, l1: float) -> float:
    """The regularisation the optimizer (L2 as weight decay) and the loop (L1) apply, as a loss term."""
    total = 0.0
    for group in optimizer.param_groups:
        decay = float(group.get("weight_decay", 0.0))
        if decay:
            total += decay / 2 * sum(float((p.detach().float() ** 2).sum()) for p in group["params"])
    if l1:
        total += l1 * sum(float(p.detach().abs().sum()) for p in decayed_parameters(net)[0])
    return total


def _decay_shrinks_weights(net: torch.nn.Module, config: Any) -> bool:
    """One optimizer step with a zero data gradient must shrink the decayed weights."""
    twin = copy.deepcopy(net)
    # at the optimizer's usual rate, not the user's: one step of a far too high rate overshoots
    # (Adam moves every weight by about lr whatever the decay), and a far too low one shrinks the
    # weights less than float32 resolves; either is the learning rate's fault, not the wiring's
    lr = USUAL_LR.get(str(config.optimizer).lower(), 1e-3)
    optimizer = make_optimizer(config.optimizer, twin, lr, config.momentum, config.l2)
    weights = decayed_parameters(twin)[0]
    if not weights:
        return False
    before = float(sum((w.detach().float() ** 2).sum() for w in weights))
    for p in twin.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()
    after = float(sum((w.detach().float() ** 2).sum() for w in weights))
    return after < before


def regularization(prep: Prepared, estimator: Any, data_loss: float) -> list[Finding]:
    """Raising L2 must raise the initial (regularised) loss and shrink the weights."""
    est = prep.estimator
    net = est.network_
    base = float(estimator.l2)
    strength = base * 10 if base > 0 else 1e-3
    # the configs come from the estimator's own plumbing, so a dropped parameter shows up here
    off = est.set_params(l2=0.0).training_config(prep.n_train)
    on = est.set_params(l2=strength).training_config(prep.n_train)
    loss_off = data_loss + _penalty(net, make_optimizer(off.optimizer, net, off.lr, off.momentum, off.l2), off.l1)
    loss_on = data_loss + _penalty(net, make_optimizer(on.optimizer, net, on.lr, on.momentum, on.l2), on.l1)
    if not any(bool(w.detach().any()) for w in decayed_parameters(net)[0]):
        return []  # all-zero weights carry no penalty to measure; symmetric_weights reports them
    shrinks = _decay_shrinks_weights(net, on)
    evidence = {"l2": strength, "loss_without": loss_off, "loss_with": loss_on, "decay_shrinks_weights": shrinks}
    if loss_on > loss_off and shrinks:
        return [Finding(
            "regularization_ok", "info",
            f"Raising L2 to {strength:g} raises the initial loss from {loss_off:.4g} to {loss_on:.4g}, "
            "and the optimizer shrinks the weights: the regulariser is wired in.", "", evidence,
        )]
    return [Finding(
        "regularization_not_effective", "error",
        f"Raising L2 to {strength:g} does not raise the initial loss ({loss_off:.4g} -> {loss_on:.4g})"
        + ("" if shrinks else " and the optimizer does not shrink the weights")
        + ": the regularisation strength never reaches the training.",
        "Check that l2 is passed through to the optimizer's weight decay (or added to the loss).",
        evidence,
    )]


# ------------------------------------------------------------------ overfitting
class _StopWhenFitted(Callback):
    """Stop the overfit check as soon as the subset is fitted."""

    def __init__(self, fitted) -> None:
        self.fitted = fitted

    def on_epoch_end(self, run: RunState) -> None:
        if self.fitted(run.history[-1]):
            run.stop_requested = True
            run.stop_reason = "the subset is fitted"


def _subset(y: Any, size: int, classification: bool, seed: int) -> np.ndarray:
    """``size`` rows, the classes taking turns so each is present (at least one per class)."""
    rng = np.random.default_rng(seed)
    y_arr = np.asarray(y)
    if not classification:
        return np.sort(rng.permutation(len(y_arr))[:size])
    labels = y_arr.ravel()
    per_class = [rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels)]
    picked: list[int] = []
    depth = 0
    while len(picked) < max(size, len(per_class)) and any(depth < len(p) for p in per_class):
        picked += [int(p[depth]) for p in per_class if depth < len(p)]
        depth += 1
    return np.sort(np.array(picked[: max(size, len(per_class))]))


def overfit_small_batch(estimator: Any, X: Any, y: Any, *, size: int = 20, epochs: int = 300,
                        seed: int = 0, hidden: tuple[int, ...] | None = None) -> list[Finding]:
    """Train on ``size`` examples with regularisation off until the loss is about zero.

    Failing this means the model or the data pipeline is broken; when the monitors of that
    little run show why (learning rate, symmetric weights, vanishing gradients...), that
    cause is reported too, as an error (it broke a basic sanity check).

    ``hidden`` fixes the hidden sizes ``hidden="auto"`` would choose on the full data, so the
    subset is fitted by the same architecture.
    """
    classification = is_classifier(estimator)
    index = _subset(y, size, classification, seed)
    X_small = rows(X, index)
    y_small = y.iloc[index] if hasattr(y, "iloc") else np.asarray(y)[index]
    n_classes = len(np.unique(np.asarray(y_small))) if classification else None
    loss_name = estimator.loss if estimator.loss != "auto" else ("cross_entropy" if classification else "mse")
    expected = expected_initial_loss(loss_name, n_classes) if classification else None

    def fitted(row: dict) -> bool:
        if classification:
            accurate = row.get("train_accuracy") in (None, 1.0)
            return accurate and expected is not None and row["train_loss"] <= OVERFIT_LOSS_FRACTION * expected
        return row.get("train_r2", -math.inf) >= OVERFIT_R2

    est = quiet_clone(
        estimator, l2=0.0, l1=0.0, dropout=0.0, augment="none", early_stopping=False, batch_size=len(index),
        max_epochs=epochs, callbacks=[_StopWhenFitted(fitted), *default_monitors()],
    )
    if hidden is not None:
        est.set_params(hidden=tuple(hidden))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X_small, y_small)
    last = est.history_[-1]
    evidence = {"n_examples": len(index), "epochs": len(est.history_), "train_loss": last["train_loss"],
                "train_accuracy" if classification else "train_r2": last.get("train_accuracy", last.get("train_r2"))}
    score = (f"accuracy {last['train_accuracy']:.0%}" if classification and last.get("train_accuracy") is not None
             else f"R² {last.get('train_r2', float('nan')):.3f}" if not classification else "")
    if any(fitted(row) for row in est.history_):
        return [Finding(
            "overfit_small_batch_ok", "info",
            f"The model overfits {len(index)} examples in {len(est.history_)} epochs (loss {last['train_loss']:.3g}, "
            f"{score}) with regularisation off.", "", evidence,
        )]
    causes = [f for f in advise(est, est.run_) if f.code in CAUSES]
    found = [
        Finding(f.code, "error", f"While overfitting {len(index)} examples: {f.message}", f.advice,
                {**f.evidence, "seen_in": "overfit_small_batch"})
        for f in causes
    ]
    because = f" The monitors of that run point at: {', '.join(f.code for f in causes)}." if causes else ""
    found.append(Finding(
        "cannot_overfit_small_batch", "error",
        f"With regularisation off the model cannot overfit {len(index)} examples in {len(est.history_)} epochs "
        f"(loss still {last['train_loss']:.3g}, {score}); a working model and pipeline would reach about zero "
        f"loss.{because}",
        "Check that inputs and labels line up, that the loss suits the labels, and the learning rate and "
        "initialisation.",
        {**evidence, "causes": [f.code for f in causes]},
    ))
    return found
