"""SGD vs momentum vs Nesterov vs Adagrad vs Adadelta vs RMSprop vs Adam (notes: "Optimizers")."""

from __future__ import annotations

import numpy as np
import torch

from ..estimators import NeuralNetClassifier
from ._common import EpochEval, curve, figure, fit_quietly, images, num, pct, split
from ._registry import Outcome, experiment

# Each optimizer at the learning rate its libraries ship as the default (Keras / PyTorch):
# a fair start for a user who has not tuned it yet.
DEFAULT_LR = {"sgd": 0.01, "momentum": 0.01, "nesterov": 0.01, "adagrad": 0.01, "adadelta": 1.0,
              "rmsprop": 0.001, "adam": 0.001}
COLORS = {"sgd": "tab:gray", "momentum": "tab:brown", "nesterov": "tab:orange", "adagrad": "tab:purple",
          "adadelta": "tab:pink", "rmsprop": "tab:green", "adam": "tab:blue"}


def _taco(steps: int) -> dict[str, np.ndarray]:
    """Paths of every optimizer on the "taco shell" f(x, y) = x^2 / 2 + 10 y^2, from (-4, 1).

    SGD's rate 0.07 makes it zigzag across the steep direction (each step overshoots y by 40 %);
    momentum 0.5 keeps Nesterov stable at that rate (at 0.9 it would diverge here).
    """
    torch_opt = {
        "sgd": lambda p: torch.optim.SGD(p, lr=0.07),
        "momentum": lambda p: torch.optim.SGD(p, lr=0.07, momentum=0.5),
        "nesterov": lambda p: torch.optim.SGD(p, lr=0.07, momentum=0.5, nesterov=True),
        "adagrad": lambda p: torch.optim.Adagrad(p, lr=0.9),
        "rmsprop": lambda p: torch.optim.RMSprop(p, lr=0.07),
        "adam": lambda p: torch.optim.Adam(p, lr=0.3),
    }
    paths = {}
    for name, make in torch_opt.items():
        xy = torch.tensor([-4.0, 1.0], requires_grad=True)
        opt = make([xy])
        path = [xy.detach().clone()]
        for _ in range(steps):
            opt.zero_grad()
            (xy[0] ** 2 / 2 + 10 * xy[1] ** 2).backward()
            opt.step()
            path.append(xy.detach().clone())
        paths[name] = torch.stack(path).numpy()
    return paths


def _steps_to(path: np.ndarray, radius: float = 0.1) -> int | None:
    inside = np.flatnonzero(np.linalg.norm(path, axis=1) < radius)
    return int(inside[0]) if inside.size else None


@experiment(
    "optimizers",
    title="SGD, momentum, Nesterov, Adagrad, Adadelta, RMSprop and Adam on the same problem",
    chapter="Optimizers",
    claim="Adam is currently recommended as the default algorithm to use; Nesterov momentum works slightly better "
          "than standard momentum; Adagrad's monotonic decrease in learning rate usually stops learning too early.",
)
def optimizers(quick: bool = False, seed: int = 0) -> Outcome:
    """Train one network with each optimizer at its usual default learning rate and compare
    the training loss and test accuracy per epoch; and follow each optimizer on a 2-D
    "taco shell" surface where plain SGD zigzags."""
    X, y, data_name = images(quick)
    X_train, X_test, y_train, y_test = split(X, y, test_size=0.2, seed=seed)
    epochs = 2 if quick else 8
    runs = {}
    for name, lr in DEFAULT_LR.items():
        est = NeuralNetClassifier(hidden=(128, 64), batchnorm=False, optimizer=name, lr=lr, momentum=0.9, l2=0.0,
                                  dropout=0.0, batch_size=64, max_epochs=epochs, early_stopping=False,
                                  random_state=seed)
        est.callbacks = [EpochEval(est, X_test, y_test)]
        fit_quietly(est, X_train, y_train)
        runs[name] = {"lr": lr, "train_loss": curve(est.history_, "train_loss"),
                      "test_accuracy": curve(est.history_, "test_accuracy")}
    final = {k: v["test_accuracy"][-1] for k, v in runs.items()}
    loss = {k: v["train_loss"][-1] for k, v in runs.items()}
    best = max(final, key=final.get)
    ranking = sorted(final, key=final.get, reverse=True)
    adam_top = final["adam"] >= final[best] - 0.01
    nesterov_ge_momentum = final["nesterov"] >= final["momentum"] - 0.005
    # "Adagrad stops learning too early": how many times the training loss still fell over the
    # second half of the epochs; below 1.5x counts as stalled.
    half = epochs // 2
    late_drop = {k: v["train_loss"][half - 1] / max(v["train_loss"][-1], 1e-12) for k, v in runs.items()}
    adagrad_stalls = late_drop["adagrad"] < 1.5
    parts = {"Adam as default": adam_top, "Nesterov slightly better than momentum": nesterov_ge_momentum,
             "Adagrad stops learning too early": adagrad_stalls}
    holds = all(parts.values())

    taco = _taco(steps=60)
    taco_steps = {k: _steps_to(v) for k, v in taco.items()}

    fig, (ax1, ax2, ax3) = figure(3, width=4.5)
    for name, r in runs.items():
        ax1.semilogy(range(1, epochs + 1), r["train_loss"], marker=".", color=COLORS[name], label=f"{name} (lr {r['lr']:g})")
        ax2.plot(range(1, epochs + 1), r["test_accuracy"], marker=".", color=COLORS[name], label=name)
    ax1.set(xlabel="epoch", ylabel="training loss (log)", title=f"training loss, {data_name.split(' (')[0]}")
    ax1.legend(fontsize=7)
    ax2.set(xlabel="epoch", ylabel="test accuracy", title="test accuracy")
    gx, gy = np.meshgrid(np.linspace(-4.5, 1.5, 120), np.linspace(-1.5, 1.5, 80))
    ax3.contour(gx, gy, gx**2 / 2 + 10 * gy**2, levels=np.geomspace(0.02, 40, 12), colors="0.8", linewidths=0.6)
    for name, path in taco.items():
        ax3.plot(path[:, 0], path[:, 1], ".-", ms=2, lw=0.8, color=COLORS[name], label=name)
    ax3.set(xlim=(-4.5, 1.5), ylim=(-1.5, 1.5), title="taco shell x²/2 + 10y², 60 steps (momentum 0.5)", xlabel="x", ylabel="y")
    ax3.legend(fontsize=7)

    def steps(name: str) -> str:
        return f"{taco_steps[name]} steps" if taco_steps[name] is not None else "not within 60 steps"

    summary = (
        f"After {epochs} epochs on {data_name}, each at its usual default learning rate, the test accuracy ranked "
        + ", ".join(f"{k} {pct(final[k])}" for k in ranking)
        + f" (final training loss: Adam {num(loss['adam'])}, SGD {num(loss['sgd'])}, Adagrad {num(loss['adagrad'])}). "
        f"Nesterov {'matched or beat' if nesterov_ge_momentum else 'trailed'} plain momentum "
        f"({pct(final['nesterov'])} vs {pct(final['momentum'])}). On the taco shell, reaching the minimum took SGD "
        f"{steps('sgd')}, momentum {steps('momentum')}, Nesterov {steps('nesterov')}, Adam {steps('adam')}. Over "
        f"the second half of training the loss still fell {num(late_drop['adagrad'])}x with Adagrad "
        f"({num(late_drop['adam'])}x with Adam). "
        + ("The notes' claims hold on this data." if holds else
           "Of the notes' claims, " + ", ".join(f"'{k}' {'holds' if v else 'does not hold'}" for k, v in parts.items())
           + " here.")
    )
    numbers = {
        "data": data_name, "epochs": epochs, "hidden": [128, 64], "batch_size": 64, "runs": runs,
        "final_test_accuracy": final, "final_train_loss": loss, "ranking": ranking, "best": best,
        "adam_within_1_point_of_best": adam_top, "nesterov_at_least_momentum": nesterov_ge_momentum,
        "loss_drop_factor_second_half": late_drop, "claims": parts, "taco_steps_to_minimum": taco_steps,
    }
    return Outcome(numbers, fig, summary, holds)
