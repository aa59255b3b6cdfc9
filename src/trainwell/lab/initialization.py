"""He vs Xavier vs zero vs too-large initialisation, and the notes' Xavier slip
(notes: "Weight initialization")."""

from __future__ import annotations

import math

import numpy as np
import torch

from ..estimators import NeuralNetClassifier
from ..nn import NetworkSpec, build_network, parse_init
from ._common import (
    digits,
    figure,
    fit_quietly,
    hidden_outputs,
    num,
    pct,
    saturated_fraction,
    split,
    verdict,
)
from ._registry import Outcome, experiment

WIDTH = 64  # = the 64 pixels of load_digits, so every layer has fan-in n = 64
SLIP_STD = 1.0 / math.sqrt(1.0 / WIDTH)  # the notes' randn(n) / sqrt(1.0/n): std sqrt(n) = 8
XAVIER_STD = math.sqrt(1.0 / WIDTH)  # the correct randn(n) * sqrt(1/n): std 1/sqrt(n) = 0.125

# (label, activation, init)
CONFIGS = (
    ("ReLU + He", "relu", "he"),
    ("ReLU + Xavier", "relu", "xavier"),
    ("ReLU + N(0, 1)", "relu", ("normal", 1.0)),
    ("ReLU + zeros", "relu", "zeros"),
    ("tanh + Xavier", "tanh", "xavier"),
    ("tanh + slip", "tanh", ("normal", SLIP_STD)),
)


def _standardised(X: np.ndarray, X_ref: np.ndarray) -> torch.Tensor:
    mean, std = X_ref.mean(0), X_ref.std(0)
    std[std == 0] = 1.0
    return torch.from_numpy(((X - mean) / std).astype(np.float32))


def _init_stats(activation: str, init, depth: int, X: torch.Tensor, seed: int) -> tuple[list[float], list[float]]:
    """Standard deviation and saturated share of every hidden layer's output at initialisation."""
    name, param = parse_init(init, activation)
    spec = NetworkSpec(kind="mlp", input_shape=(X.shape[1],), n_outputs=10, hidden=(WIDTH,) * depth,
                       activation=activation, init=name, init_param=param, batchnorm=False)
    net = build_network(spec, generator=torch.Generator().manual_seed(seed))
    outs = hidden_outputs(net, X)
    return [float(o.std()) for o in outs], [saturated_fraction(o, activation) for o in outs]


def _distinct_units(est) -> int:
    """Distinct incoming weight vectors among the first hidden layer's units (to 5 decimals)."""
    w = est.network_.features[0].weight.detach().cpu().numpy()
    return int(np.unique(np.round(w, 5), axis=0).shape[0])


@experiment(
    "init",
    title="He vs Xavier vs zero vs too-large initialisation: activations by layer, symmetry, and the notes' Xavier slip",
    chapter="Weight initialization",
    claim="When every weight is initialized with 0 the network has zero chance to learn anything; large weights "
          "lead to saturation; use randn(n) * sqrt(2.0/n) (He) with ReLU; Xavier randn(n) / sqrt(1.0/n) is a good "
          "place to start.",
)
def initialization(quick: bool = False, seed: int = 0) -> Outcome:
    """Draw a six-hidden-layer network (64 units, no batch norm) under each initialisation,
    measure the spread and saturation of every layer's output on real digits, then train
    each for a few epochs and count how many distinct units the first layer ends with."""
    X, y = digits()
    X_train, X_test, y_train, y_test = split(X, y, test_size=0.25, seed=seed)
    depth = 6
    probe = _standardised(X_train[:500], X_train)
    epochs = 3 if quick else 20
    rows = {}
    for label, act, init in CONFIGS:
        std_by_layer, sat_by_layer = _init_stats(act, init, depth, probe, seed)
        est = NeuralNetClassifier(hidden=(WIDTH,) * depth, activation=act, init=init, batchnorm=False, dropout=0.0,
                                  max_epochs=epochs, early_stopping=False, random_state=seed)
        fit_quietly(est, X_train, y_train)
        diverged = not math.isfinite(est.history_[-1]["train_loss"])
        rows[label] = {
            "activation": act, "init": list(init) if isinstance(init, tuple) else init,
            "std_by_layer": std_by_layer, "saturated_by_layer": sat_by_layer,
            "test_accuracy": float("nan") if diverged else float(est.score(X_test, y_test)),
            "distinct_first_layer_units": _distinct_units(est),
        }

    acc = {k: v["test_accuracy"] for k, v in rows.items()}
    he, xavier_relu = rows["ReLU + He"], rows["ReLU + Xavier"]
    large, zeros = rows["ReLU + N(0, 1)"], rows["ReLU + zeros"]
    tanh_x, slip = rows["tanh + Xavier"], rows["tanh + slip"]
    he_growth = he["std_by_layer"][-1] / he["std_by_layer"][0]
    xavier_growth = xavier_relu["std_by_layer"][-1] / xavier_relu["std_by_layer"][0]
    zero_symmetric = zeros["distinct_first_layer_units"] == 1
    zero_fails = acc["ReLU + zeros"] < 0.2
    large_bad = not acc["ReLU + N(0, 1)"] >= acc["ReLU + He"] - 0.02
    slip_saturates = float(np.mean(slip["saturated_by_layer"])) > 0.5
    # The notes' claim for He is about the spread at initialisation (it keeps a ReLU net's
    # activations at one scale through the layers); accuracy after Adam with batch norm is
    # reported beside it but not judged: on this data it is a tie within a point either way.
    he_best_relu = abs(math.log(he_growth)) < abs(math.log(xavier_growth))
    holds = zero_symmetric and zero_fails and large_bad and he_best_relu

    fig, (ax1, ax2, ax3) = figure(3, width=4.6)
    layers = np.arange(1, depth + 1)
    for label in ("ReLU + He", "ReLU + Xavier", "ReLU + N(0, 1)"):
        ax1.semilogy(layers, rows[label]["std_by_layer"], marker="o", label=label)
    ax1.set(xlabel="hidden layer", ylabel="std of the layer's output (log)", title="ReLU net at initialisation")
    ax1.legend(fontsize=8)
    ax2.plot(layers, tanh_x["saturated_by_layer"], marker="o", label=f"Xavier: std 1/sqrt(n) = {XAVIER_STD:.3f}")
    ax2.plot(layers, slip["saturated_by_layer"], marker="s", label=f"notes' slip: std sqrt(n) = {SLIP_STD:.0f}")
    ax2.set(xlabel="hidden layer", ylabel="share of saturated tanh outputs", ylim=(-0.02, 1.02),
            title="tanh net: the Xavier formula, right and as written")
    ax2.legend(fontsize=8)
    labels = list(rows)
    ax3.barh(labels, [0 if math.isnan(a) else a for a in acc.values()], color="tab:blue")
    for i, a in enumerate(acc.values()):
        ax3.text(0.01, i, "diverged" if math.isnan(a) else pct(a), va="center", color="white", fontsize=8)
    ax3.invert_yaxis()
    ax3.set(xlabel=f"test accuracy after {epochs} epochs (Adam)", xlim=(0, 1), title="after training")

    summary = (
        f"At initialisation, the output spread of a 6-layer ReLU net changes by {num(he_growth)}x from layer 1 to "
        f"layer 6 with He, {num(xavier_growth)}x with Xavier and "
        f"{num(large['std_by_layer'][-1] / large['std_by_layer'][0])}x with N(0, 1) weights; the notes' Xavier formula "
        f"as written (std sqrt(n) = {SLIP_STD:.0f} instead of 1/sqrt(n)) saturates "
        f"{pct(float(np.mean(slip['saturated_by_layer'])))} of tanh outputs against "
        f"{pct(float(np.mean(tanh_x['saturated_by_layer'])))} with the correct one. After {epochs} epochs the test "
        f"accuracy was {pct(acc['ReLU + He'])} (He), {pct(acc['ReLU + Xavier'])} (Xavier), "
        f"{'diverged' if math.isnan(acc['ReLU + N(0, 1)']) else pct(acc['ReLU + N(0, 1)'])} (N(0, 1)), "
        f"{pct(acc['ReLU + zeros'])} (zeros, {zeros['distinct_first_layer_units']} distinct unit(s) of {WIDTH} in "
        f"layer 1) and {pct(acc['tanh + Xavier'])} / {pct(acc['tanh + slip'])} for tanh with Xavier / the "
        f"slip: {verdict(holds)}."
    )
    numbers = {
        "data": "load_digits", "depth": depth, "width": WIDTH, "epochs": epochs, "configs": rows,
        "std_growth_layer1_to_6": {"he": he_growth, "xavier": xavier_growth},
        "slip_std": SLIP_STD, "xavier_std": XAVIER_STD,
        "zero_init_symmetric": zero_symmetric, "zero_init_fails": zero_fails, "too_large_hurts": large_bad,
        "slip_saturates_tanh": slip_saturates, "he_best_for_relu": he_best_relu,
    }
    return Outcome(numbers, fig, summary, holds)
