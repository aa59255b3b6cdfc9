"""Batch norm rescuing a bad initialisation (notes: "Batch normalization")."""

from __future__ import annotations

import math

import numpy as np
import torch

from ..estimators import NeuralNetClassifier
from ..nn import NetworkSpec, build_network, parse_init
from ..train import Callback
from ._common import (
    EpochEval,
    UpdateRatio,
    curve,
    digits,
    figure,
    fit_quietly,
    hidden_outputs,
    num,
    pct,
    split,
)
from ._registry import Outcome, experiment

DEPTH, WIDTH = 6, 64
INITS = {"He (good)": "he", "N(0, 1) (too large)": ("normal", 1.0), "N(0, 0.01) (too small)": ("normal", 0.01)}


class _SmallHead(Callback):
    """Redraw the output layer the way trainwell's He/Xavier draws it (std 0.1 / sqrt(fan_in)),
    leaving the hidden layers as they were initialised."""

    def on_fit_begin(self, run) -> None:
        head = run.net.head
        with torch.no_grad():  # in place: the weights stay views of the loop's flat buffer
            head.weight.normal_(0.0, 0.1 / math.sqrt(head.weight.shape[1]))


def _spread_at_init(init, batchnorm: bool, X: torch.Tensor, seed: int) -> list[float]:
    name, param = parse_init(init, "relu")
    spec = NetworkSpec(kind="mlp", input_shape=(X.shape[1],), n_outputs=10, hidden=(WIDTH,) * DEPTH,
                       init=name, init_param=param, batchnorm=batchnorm)
    net = build_network(spec, generator=torch.Generator().manual_seed(seed))
    return [float(o.std()) for o in hidden_outputs(net, X, train_mode=True)]


@experiment(
    "batchnorm",
    title="Batch norm rescuing a bad initialisation: the same deep net with and without it",
    chapter="Batch normalization",
    claim="Batch normalization makes neural networks significantly more robust to bad initialization.",
)
def batchnorm(quick: bool = False, seed: int = 0) -> Outcome:
    """Train a six-hidden-layer ReLU network from a good, a too-large and a too-small
    initialisation, each without and with batch norm, and compare test accuracy and the
    spread of the layers' outputs at initialisation."""
    X, y = digits()
    X_train, X_test, y_train, y_test = split(X, y, test_size=0.25, seed=seed)
    mean, std = X_train.mean(0), X_train.std(0)
    std[std == 0] = 1.0
    probe = torch.from_numpy(((X_train[:500] - mean) / std).astype(np.float32))
    epochs = 3 if quick else 15
    rows: dict[str, dict[str, dict]] = {}
    for label, init in INITS.items():
        rows[label] = {}
        for bn in (False, True):
            est = NeuralNetClassifier(hidden=(WIDTH,) * DEPTH, init=init, batchnorm=bn, dropout=0.0, max_epochs=epochs,
                                      early_stopping=False, random_state=seed)
            est.callbacks = [EpochEval(est, X_test, y_test), UpdateRatio()]
            fit_quietly(est, X_train, y_train)
            acc = curve(est.history_, "test_accuracy")
            ratios = [r for r in curve(est.history_, "update_ratio") if math.isfinite(r)]
            rows[label]["on" if bn else "off"] = {
                "test_accuracy": acc[-1] if acc and math.isfinite(acc[-1]) else float("nan"),
                "test_accuracy_by_epoch": acc,
                "std_by_layer_at_init": _spread_at_init(init, bn, probe, seed),
                "first_layer_update_ratio": float(np.median(ratios)) if ratios else float("nan"),
            }

    # Batch norm normalises every hidden layer, but nothing normalises the output layer's
    # too-large weights: the same run with only the output layer drawn small again tells
    # which of the two held training back.
    est = NeuralNetClassifier(hidden=(WIDTH,) * DEPTH, init=INITS["N(0, 1) (too large)"], batchnorm=True, dropout=0.0,
                              max_epochs=epochs, early_stopping=False, random_state=seed)
    est.callbacks = [EpochEval(est, X_test, y_test), _SmallHead(), UpdateRatio()]
    fit_quietly(est, X_train, y_train)
    head_fixed = curve(est.history_, "test_accuracy")
    head_fixed_ratio = float(np.median([r for r in curve(est.history_, "update_ratio") if math.isfinite(r)]))

    def final(label: str, key: str) -> float:
        return rows[label][key]["test_accuracy"]

    bad = [k for k in INITS if k != "He (good)"]
    gains = {k: final(k, "on") - final(k, "off") for k in bad}
    rescued = {k: final(k, "on") >= final("He (good)", "on") - 0.03 for k in bad}
    holds = all(g > 0.02 for g in gains.values()) and all(rescued.values())
    head_explains = head_fixed[-1] >= final("He (good)", "on") - 0.03

    fig, (ax1, ax2, ax3) = figure(3, width=4.5)
    labels = list(INITS)
    xs = np.arange(len(labels))
    off = [final(k, "off") for k in labels]
    on = [final(k, "on") for k in labels]
    ax1.bar(xs - 0.27, np.nan_to_num(off), 0.27, label="no batch norm", color="tab:gray")
    ax1.bar(xs, np.nan_to_num(on), 0.27, label="batch norm", color="tab:green")
    ax1.bar([1.27], [head_fixed[-1]], 0.27, label="batch norm + small output layer", color="tab:olive")
    ax1.set_xticks(xs, [k.replace(" (", "\n(") for k in labels], fontsize=8)
    ax1.set(ylabel=f"test accuracy after {epochs} epochs", ylim=(0, 1.3), title="final accuracy")
    ax1.set_yticks(np.linspace(0, 1, 6))
    ax1.legend(fontsize=7, loc="upper center", ncols=2)
    for k, style in zip(bad, ("-", "--"), strict=True):
        for key, color in (("off", "tab:gray"), ("on", "tab:green")):
            ax2.plot(range(1, epochs + 1), rows[k][key]["test_accuracy_by_epoch"], style, color=color,
                     label=f"{k.split(' (')[0]}, BN {key}")
    ax2.plot(range(1, epochs + 1), head_fixed, "-", color="tab:olive", label="N(0, 1), BN on, small output layer")
    ax2.set(xlabel="epoch", ylabel="test accuracy", title="learning curves from a bad init", ylim=(0, 1))
    ax2.legend(fontsize=7)
    layers = np.arange(1, DEPTH + 1)
    for k, marker in zip(bad, ("o", "s"), strict=True):
        for key, color in (("off", "tab:gray"), ("on", "tab:green")):
            ax3.semilogy(layers, rows[k][key]["std_by_layer_at_init"], marker=marker, color=color,
                         label=f"{k.split(' (')[0]}, BN {key}")
    ax3.set(xlabel="hidden layer", ylabel="std of the layer's output (log)", title="activations at initialisation")
    ax3.legend(fontsize=7)

    parts = "; ".join(
        f"{k.split(' (')[0]} weights: {pct(final(k, 'off'))} without batch norm, {pct(final(k, 'on'))} with it"
        for k in bad
    )
    summary = (
        f"After {epochs} epochs on load_digits (6 hidden ReLU layers), {parts}; a good He initialisation reached "
        f"{pct(final('He (good)', 'off'))} without and {pct(final('He (good)', 'on'))} with batch norm. "
        f"With N(0, 1) weights and batch norm but the output layer (which batch norm does not normalise) drawn "
        f"small again: {pct(head_fixed[-1])}. "
        + ("The notes' claim holds on this data." if holds else
           "The notes' claim holds for too-small weights but not fully for too-large ones: batch norm does not "
           "normalise the output layer, and it makes a layer's output independent of its weights' scale, so "
           "large weights take proportionally smaller steps (median update/weight ratio per step in layer 1: "
           f"{num(head_fixed_ratio)} with N(0, 1) weights against {num(rows['He (good)']['on']['first_layer_update_ratio'])} "
           "with He).")
    )
    numbers = {"data": "load_digits", "depth": DEPTH, "width": WIDTH, "epochs": epochs, "runs": rows,
               "gain_from_batchnorm": gains, "rescued_within_3_points_of_he": rescued,
               "too_large_bn_small_output_layer": {"test_accuracy": head_fixed[-1], "test_accuracy_by_epoch": head_fixed},
               "output_layer_explains_the_gap": head_explains,
               "too_large_bn_small_output_layer_update_ratio": head_fixed_ratio}
    return Outcome(numbers, fig, summary, holds)
