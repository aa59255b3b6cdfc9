"""Random vs grid search with the same budget (notes: "Hyperparameter optimization")."""

from __future__ import annotations

import numpy as np

from ._common import figure, num, pct, verdict
from ._registry import Outcome, experiment

# Search ranges, on the log10 scale as the notes advise.
LR_RANGE = (-5.0, -1.0)  # learning rate 1e-5 .. 1e-1
L2_RANGE = (-6.0, -2.0)  # L2 strength 1e-6 .. 1e-2


def validation_error(log_lr: np.ndarray, log_l2: np.ndarray, best_lr: float, best_l2: float,
                     l2_matters: bool = False) -> np.ndarray:
    """A cheap stand-in for a validation error: sharp in the learning rate, nearly flat in L2.

    Shaped like the learning-rate experiment's curve (a narrow valley about one decade wide
    around the best rate), with a twenty times weaker dependence on L2: the situation random
    search is built for, where one hyperparameter matters far more than the other.
    ``l2_matters=True`` gives L2 the same sharp valley (the control case).
    """
    if l2_matters:
        return 0.02 + 0.25 * (2 - np.exp(-((log_lr - best_lr) ** 2) / 0.5) - np.exp(-((log_l2 - best_l2) ** 2) / 0.5))
    return 0.02 + 0.5 * (1 - np.exp(-((log_lr - best_lr) ** 2) / 0.5)) + 0.025 * ((log_l2 - best_l2) / 4) ** 2


def _grid(k: int) -> tuple[np.ndarray, np.ndarray]:
    a = np.linspace(*LR_RANGE, k)
    b = np.linspace(*L2_RANGE, k)
    g1, g2 = np.meshgrid(a, b)
    return g1.ravel(), g2.ravel()


@experiment(
    "search",
    title="Random vs grid search with the same budget of trials",
    chapter="Hyperparameter optimization",
    claim="Search for good hyperparameters with random search, not grid search: randomly chosen trials are more "
          "efficient for hyperparameter optimization than trials on a grid.",
)
def search(quick: bool = False, seed: int = 0) -> Outcome:
    """On many randomly placed copies of a validation-error surface where the learning rate
    matters and L2 barely does, give grid search and random search the same number of trials
    (9 and 16) and compare how far the best trial of each lands from the true optimum."""
    rng = np.random.default_rng(seed)
    repeats = 200 if quick else 2000
    budgets = (9, 16)
    regret: dict[int, dict[str, np.ndarray]] = {}
    for budget in budgets:
        k = int(round(budget ** 0.5))
        g_lr, g_l2 = _grid(k)
        best_lr = rng.uniform(*LR_RANGE, repeats)
        best_l2 = rng.uniform(*L2_RANGE, repeats)
        floor = validation_error(best_lr, best_l2, best_lr, best_l2)
        grid_best = validation_error(g_lr[None, :], g_l2[None, :], best_lr[:, None], best_l2[:, None]).min(1)
        r_lr = rng.uniform(*LR_RANGE, (repeats, budget))
        r_l2 = rng.uniform(*L2_RANGE, (repeats, budget))
        random_best = validation_error(r_lr, r_l2, best_lr[:, None], best_l2[:, None]).min(1)
        regret[budget] = {"grid": grid_best - floor, "random": random_best - floor}
    # control: both hyperparameters matter equally, 9 trials
    best_lr, best_l2 = rng.uniform(*LR_RANGE, repeats), rng.uniform(*L2_RANGE, repeats)
    floor = validation_error(best_lr, best_l2, best_lr, best_l2, l2_matters=True)
    g_lr, g_l2 = _grid(3)
    r_lr, r_l2 = rng.uniform(*LR_RANGE, (repeats, 9)), rng.uniform(*L2_RANGE, (repeats, 9))
    control = {
        "grid": float(np.median(validation_error(g_lr[None, :], g_l2[None, :], best_lr[:, None], best_l2[:, None],
                                                 True).min(1) - floor)),
        "random": float(np.median(validation_error(r_lr, r_l2, best_lr[:, None], best_l2[:, None], True).min(1)
                                  - floor)),
    }
    med = {b: {m: float(np.median(v)) for m, v in r.items()} for b, r in regret.items()}
    wins = {b: float(np.mean(r["random"] < r["grid"])) for b, r in regret.items()}
    holds = all(med[b]["random"] < med[b]["grid"] for b in budgets)

    fig, (ax1, ax2) = figure(2, width=5.0)
    # one instance: the surface, the grid's 9 trials and 9 random ones
    best_lr, best_l2 = -3.3, -4.0
    gx, gy = np.meshgrid(np.linspace(*LR_RANGE, 200), np.linspace(*L2_RANGE, 200))
    ax1.contourf(gx, gy, validation_error(gx, gy, best_lr, best_l2), levels=20, cmap="Greys")
    g_lr, g_l2 = _grid(3)
    show = np.random.default_rng(seed + 1)
    r_lr, r_l2 = show.uniform(*LR_RANGE, 9), show.uniform(*L2_RANGE, 9)
    ax1.scatter(g_lr, g_l2, marker="s", color="tab:orange", label="grid: 3 distinct learning rates")
    ax1.scatter(r_lr, r_l2, marker="o", color="tab:blue", label="random: 9 distinct learning rates")
    ax1.plot(g_lr, np.full_like(g_lr, L2_RANGE[0] + 0.05), "|", color="tab:orange", ms=12)
    ax1.plot(r_lr, np.full_like(r_lr, L2_RANGE[0] + 0.05), "|", color="tab:blue", ms=12)
    ax1.scatter([best_lr], [best_l2], marker="*", s=120, color="tab:red", label="optimum")
    ax1.set(xlabel="log10 learning rate (matters)", ylabel="log10 L2 (barely matters)", title="9 trials each")
    ax1.legend(fontsize=7, loc="upper right")
    data = [regret[b][m] for b in budgets for m in ("grid", "random")]
    ax2.boxplot(data, showfliers=False)
    ax2.set_xticks(range(1, 2 * len(budgets) + 1), [f"{m}\n{b} trials" for b in budgets for m in ("grid", "random")])
    ax2.set(ylabel="best trial's error above the optimum", title=f"{repeats} random placements of the optimum")

    summary = (
        f"Over {repeats} placements of the optimum, the best of 9 grid trials was {num(med[9]['grid'])} above the "
        f"optimum's error (median) and the best of 9 random trials {num(med[9]['random'])}; with 16 trials "
        f"{num(med[16]['grid'])} vs {num(med[16]['random'])}. Random search came closer in {pct(wins[9])} of the "
        f"9-trial and {pct(wins[16])} of the 16-trial searches, because it tries as many distinct learning rates as it "
        f"has trials, the grid only 3 or 4. When both hyperparameters matter equally (control, 9 trials) the "
        f"medians are {num(control['grid'])} (grid) and {num(control['random'])} (random): "
        f"{verdict(holds).replace('this data', 'this objective')}."
    )
    numbers = {"objective": "synthetic validation error (sharp in learning rate, flat in L2)", "repeats": repeats,
               "budgets": list(budgets), "median_regret": {str(b): v for b, v in med.items()},
               "random_better_share": {str(b): v for b, v in wins.items()},
               "control_both_matter_median_regret_9_trials": control}
    return Outcome(numbers, fig, summary, holds)
