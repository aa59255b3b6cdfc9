"""Advice after training: rules that turn history + monitors + configuration into Findings.

Each rule reads what the probes recorded (:mod:`.probes`) and the estimator's settings,
and returns at most one :class:`Finding`. Rules run in causal order: causes (symmetric
weights, exploding or vanishing gradients, a learning rate far off) before the symptoms
they produce (dead units, divergence, under- or overfitting); a symptom already explained
by a cause found earlier is not reported again. :func:`advise` ranks the result by
severity, keeping that causal order within a severity.

The thresholds are the notes' rules of thumb where they give one (update/weight ratio
near 1e-3, up to 40 % of ReLUs dying), each set or confirmed against the range its statistic
takes on the healthy calibration runs of ``bench/scenarios.py`` (the table:
``docs/diagnosis-thresholds.md``; :func:`.measures.rule_statistics` computes the statistics).
After the rules, :func:`~.findings.fold_symptoms` folds each symptom under the root cause that
explains it (one cause first), and a finding that advises a parameter change carries it in
``Finding.fix``.

Over 400 lines as one module on purpose: it is the rule table, read top to bottom in the
causal order the rules run in; split up, a rule would lose sight of the causes before it.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .datachecks import imbalance_from_counts
from .expectations import (
    INIT_LOSS_BAND,
    INIT_LOSS_BAND_ONE_BATCH_MSE,
    describe_expectation,
    expected_initial_loss,
    init_loss_is_off,
    near_chance,
)
from .findings import Finding, fold_symptoms, rank
from .probes.base import LAYERS_KEY

# ------------------------------------------------------------------ thresholds
SYMMETRIC_SPREAD = 1e-3      # row_spread below this: the units of a layer are identical
EXPLODING_GRAD_RATIO = 10.0  # gradient per weight (rms) more than 10x the weights' own rms
LOSS_EXPLODED = 3.0          # an epoch's training loss above 3x the untrained network's
WEIGHTS_EXPLODED = 100.0     # weight rms grown 100-fold
UPDATE_RATIO_HIGH = 0.1      # healthy is near 1e-3 (cs231n); Adam often runs 1e-2
UPDATE_RATIO_FIRST_EPOCH = 0.25
UPDATE_RATIO_LOW = 1e-4
UPDATE_RATIO_TINY = 1e-5
VANISHING_RATIO = 1e-3       # first layer's gradient rms / output layer's
# Fraction of tanh/sigmoid outputs in the flat tails. Healthy tanh nets without batch norm
# reach 20-31 % in their second layer as they grow confident (digits, wine, breast cancer,
# MNIST, measured); a badly initialised one sits above 50 % from the first epoch.
SATURATED = 0.4
DEAD = 0.4                   # the notes: "up to 40% of ReLU units can irreversibly die"
SHRUNK = 10.0                # weights shrunk 10-fold by regularisation
FIT_ACCURACY = 0.9           # below this training accuracy the model does not fit its data
FIT_R2 = 0.5
FITS_ACCURACY = 0.99         # a model that shrinks its weights this much should still fit this well
FITS_R2 = 0.9
STRONG_DROPOUT = 0.5         # the notes' largest usual dropout; above it a model that underfits is told so

#: Codes that name a reason a model cannot fit even a tiny subset.
CAUSES = frozenset({
    "symmetric_weights", "targets_out_of_range", "exploding_gradients", "lr_too_high",
    "vanishing_gradients", "saturated_units", "lr_too_low", "dead_relu", "diverged", "underfitting",
})


def _finite(values: list[Any]) -> list[float]:
    return [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]


@dataclass
class RunView:
    """What the rules read: the estimator's settings, the history and the probes' records."""

    estimator: Any
    run: Any
    found: list[Finding] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.history = list(self.run.history)
        self._columns: dict[Any, list[Any]] = {}  # column(), stat(): the history does not change under the rules
        self.classification = bool(getattr(self.run.config, "classification", True))
        names: list[str] = []
        self.kinds: dict[str, str | None] = {}
        for row in self.history:
            for name, stats in row.get(LAYERS_KEY, {}).items():
                if name not in names:
                    names.append(name)
                self.kinds.setdefault(name, stats.get("activation"))
        self.layers = names
        self.hidden = [n for n in names if n != "output"]

    # ------------------------------------------------------------- accessors
    def stat(self, layer: str, key: str) -> list[float]:
        """One layer's statistic over the epochs (finite values only)."""
        cached = self._columns.get((layer, key))
        if cached is None:  # the rules read the same few columns many times: each is built once
            cached = self._columns[(layer, key)] = _finite(
                [row.get(LAYERS_KEY, {}).get(layer, {}).get(key) for row in self.history])
        return list(cached)

    def column(self, key: str) -> list[Any]:
        """One history column over the epochs (``None`` where an epoch lacks it)."""
        cached = self._columns.get(key)
        if cached is None:
            cached = self._columns[key] = [row.get(key) for row in self.history]
        return list(cached)

    def has(self, *codes: str) -> bool:
        """Whether an earlier rule already reported one of ``codes``."""
        return any(f.code in codes for f in self.found)

    @property
    def metric(self) -> str:
        return "accuracy" if self.classification else "r2"

    @property
    def n_classes(self) -> int | None:
        classes = getattr(self.estimator, "classes_", None)
        return len(classes) if classes is not None and self.classification else None

    @property
    def chance(self) -> float:
        """Accuracy of always answering the most common training class (1 / classes without counts)."""
        counts = getattr(self.estimator, "class_counts_", None)
        if counts is not None and sum(counts) > 0:
            return float(max(counts) / sum(counts))
        return 1.0 / self.n_classes if self.n_classes else 0.5

    @property
    def initial_loss(self) -> float | None:
        """The untrained network's loss at the first step (TrendProbe), or ``None``."""
        return getattr(self.run, "initial_loss", None)

    @property
    def initial_batch_energy(self) -> float | None:
        """The first batch's mean squared (scaled) target (TrendProbe; regression), or ``None``."""
        return getattr(self.run, "initial_batch_energy", None)

    @property
    def initial_grad_rms(self) -> dict[str, float]:
        """Each layer's gradient rms at the first step (GradientProbe); empty when not recorded."""
        return getattr(self.run, "initial_grad_rms", None) or {}

    @property
    def initial_weight_rms(self) -> dict[str, float]:
        """Each layer's weight rms before training (WeightProbe); empty when not recorded."""
        return getattr(self.run, "initial_weight_rms", None) or {}

    @property
    def diverged(self) -> dict[str, Any] | None:
        """Where the run diverged and which weights DivergenceGuard restored, or ``None``."""
        return getattr(self.run, "diverged", None)

    @property
    def extra(self) -> dict[str, Any]:
        """What users' own callbacks left in ``run.extra``, for rules of their own (trainwell's read none of it)."""
        return getattr(self.run, "extra", None) or {}

    def loss_name(self) -> str:
        return getattr(self.run.loss_fn, "name", "cross_entropy" if self.classification else "mse")

    def expected_initial_loss(self) -> float | None:
        if self.classification:
            return expected_initial_loss(self.loss_name(), self.n_classes)
        scaler = getattr(self.estimator, "target_scaler_", None)
        if scaler is not None and getattr(scaler, "mode", None) == "standard":
            return expected_initial_loss("mse")
        return None


Rule = Callable[[RunView], Finding | None]

#: The usual learning rate of each optimizer (the notes: Adam 1e-3; SGD with momentum a few
#: hundredths on standardised inputs with batch norm): where advice to move lr points when
#: the current rate is more than 10-fold off.
USUAL_LR = {"adam": 1e-3, "adamw": 1e-3, "rmsprop": 1e-3, "adagrad": 1e-2, "adadelta": 1.0, "sgd": 0.05,
            "momentum": 0.05, "nesterov": 0.05}


def _round(x: float) -> float:
    """``x`` to one significant digit (advice names a round number)."""
    return float(f"{x:.0e}")


def lower_lr(lr: float, optimizer: str) -> float:
    """The rate to advise when ``lr`` is too high: 10-fold lower, but never above the optimizer's usual rate."""
    return _round(min(lr / 10, USUAL_LR.get(str(optimizer).lower(), 1e-3)))


def higher_lr(lr: float, optimizer: str) -> float:
    """The rate to advise when ``lr`` is too low: 10-fold higher, at least the optimizer's usual rate."""
    return _round(max(lr * 10, USUAL_LR.get(str(optimizer).lower(), 1e-3)))


def _opt(v: RunView) -> str:
    return str(getattr(v.run.config, "optimizer", "adam"))


def _setting(v: RunView, name: str) -> Any:
    getter = getattr(v.estimator, "get_params", None)
    params = getter(deep=False) if callable(getter) else {}
    return params.get(name, getattr(v.estimator, name, None))


def _options(v: RunView, *options: tuple[str, Any, str]) -> str:
    """Advice options ``(parameter, value, text)``, leaving out those already set that way
    (never advise what is already done); the texts joined with commas and a final "or"."""
    kept = [text for name, value, text in options if name is None or _setting(v, name) != value]
    return kept[0] if len(kept) == 1 else ", ".join(kept[:-1]) + f", or {kept[-1]}" if kept else ""


def _fmt(x: float) -> str:
    return f"{x:.3g}"


# ------------------------------------------------------------------- causes
def symmetric_weights(v: RunView) -> Finding | None:
    """Every unit of a layer has the same weights (zero or constant initialisation)."""
    same = [n for n in v.layers if (s := v.stat(n, "row_spread")) and max(s) < SYMMETRIC_SPREAD]
    if not same:
        return None
    return Finding(
        "symmetric_weights", "error",
        f"Every unit of {', '.join(same)} has the same weights throughout training: units that start "
        "identical compute the same output, get the same gradient and stay identical, so the network "
        "cannot learn.",
        "Use init='auto' (He for ReLU, Xavier for tanh) instead of zeros or a constant.",
        {"layers": same, "row_spread": {n: v.stat(n, "row_spread")[-1] for n in same}},
        fix={"init": "auto"},
    )


def targets_out_of_range(v: RunView) -> Finding | None:
    """Training targets a sigmoid/tanh output cannot produce."""
    outside = _finite(v.column("targets_outside_output"))
    if not outside or max(outside) <= 0:
        return None
    out = getattr(v.estimator, "output_activation", None)
    return Finding(
        "targets_out_of_range", "error",
        f"{max(outside):.0%} of the training targets lie outside what the {out} output can produce: the "
        "network can never fit them, and chasing them saturates the output so its gradient vanishes.",
        "Use target_scaling='auto' (maps targets onto 0.01..0.99 of the output's range) or output_activation=None.",
        {"fraction_outside": max(outside), "output_activation": out},
        fix={"target_scaling": "auto"},
    )


def _exploding_at_start(v: RunView) -> tuple[str, float] | None:
    """The hidden layer whose gradient (rms) at the first step most exceeds its initial weights' rms,
    when that is more than ``EXPLODING_GRAD_RATIO``: the untrained network itself explodes."""
    grads, weights = v.initial_grad_rms, v.initial_weight_rms
    ratios = [(n, grads[n] / weights[n]) for n in v.hidden
              if n in grads and weights.get(n, 0) > 0 and math.isfinite(grads[n])]
    worst = max(ratios, key=lambda t: t[1], default=None)
    return worst if worst is not None and worst[1] > EXPLODING_GRAD_RATIO else None


def exploding_gradients(v: RunView) -> Finding | None:
    """Weight gradients far larger than the weights themselves.

    Gradients are compared per weight (rms) with the larger of the layer's current and
    initial weights, so weights that regularisation shrank do not pass for exploding
    gradients. Gradients that explode only after a too-high learning rate blew up the
    weights are that rule's consequence and are not reported again.
    """
    at_start = _exploding_at_start(v)
    if at_start is None and v.has("lr_too_high"):
        return None
    initial = v.initial_weight_rms
    worst, where, epoch = 0.0, None, None
    for name in v.hidden:
        for i, row in enumerate(v.history):
            stats = row.get(LAYERS_KEY, {}).get(name, {})
            g, w = stats.get("grad_rms"), stats.get("weight_rms")
            if g is None or w is None or not math.isfinite(g):
                continue  # NaN gradients come from a diverged loss: the `diverged` rule's business
            scale = max(w if math.isfinite(w) else 0.0, initial.get(name, 0.0))
            ratio = g / scale if scale > 0 else 0.0
            if ratio > worst:
                worst, where, epoch = ratio, name, i + 1
    if at_start is not None and at_start[1] >= worst:
        where, worst, epoch = at_start[0], at_start[1], 1
    if worst <= EXPLODING_GRAD_RATIO:
        return None
    act = [(n, s[0]) for n in v.hidden if (s := v.stat(n, "act_std"))]
    growth = ""
    if len(act) >= 2 and act[0][1] > 0 and act[-1][1] > 10 * act[0][1]:
        growth = (f" Activations grow layer by layer, from std {_fmt(act[0][1])} in {act[0][0]} to "
                  f"{_fmt(act[-1][1])} in {act[-1][0]}.")
    when = "from the very first step" if at_start is not None else f"in epoch {epoch}"
    return Finding(
        "exploding_gradients", "error",
        f"Gradients are exploding: {when} the gradient of {where} was {_fmt(worst)} times the size of its "
        f"weights, per weight (healthy: well below 1).{growth}",
        _options(v, ("init", "auto", "init='auto' (He/Xavier scale)"), ("batchnorm", True, "batchnorm=True"),
                 ("grad_clip", 1.0, "grad_clip=1.0"), (None, None, "a lower learning rate")) + ".",
        {"layer": where, "epoch": epoch, "grad_to_weight": worst, "at_start": at_start is not None},
        fix={"init": "auto"} if _setting(v, "init") != "auto" else {"batchnorm": True}
        if _setting(v, "batchnorm") is not True else {"grad_clip": 1.0},
    )


def lr_too_high(v: RunView) -> Finding | None:
    """The loss or the weights blow up, or each step rewrites a large part of the weights.

    Not when the untrained network's gradients already explode: then the initialisation,
    not the learning rate, blows the run up (``exploding_gradients``).
    """
    if _exploding_at_start(v) is not None:
        return None
    lr = v.run.config.lr
    losses = v.column("train_loss")
    initial = v.initial_loss
    # The first step's loss is one batch's; an epoch's is the whole table's. A batch of a skewed
    # regression target can score far below the table (cancer rates, skew 3: 0.25 against about 1),
    # so the untrained network's loss is at least what it is expected to score on the whole table.
    expected = v.expected_initial_loss()
    reference = max(initial, expected) if initial and expected else initial
    reasons, severity = [], "warning"
    finite = _finite(losses)
    if reference and finite and max(finite) > LOSS_EXPLODED * reference:
        e = losses.index(max(finite)) + 1
        reasons.append(f"the training loss rose to {_fmt(max(finite))} in epoch {e}, from {_fmt(reference)} untrained")
        severity = "error"
    if any(isinstance(x, float) and not math.isfinite(x) for x in losses):
        reasons.append("the loss became NaN/inf")
        severity = "error"
    grown = []
    for name, start in v.initial_weight_rms.items():
        rms = v.stat(name, "weight_rms")
        if start > 0 and rms and max(rms) > WEIGHTS_EXPLODED * start:
            grown.append((name, max(rms) / start))
    if grown:
        name, factor = max(grown, key=lambda t: t[1])
        reasons.append(f"the weights of {name} grew {_fmt(factor)}-fold")
        severity = "error"
    first = [s[0] for n in v.hidden if (s := v.stat(n, "update_ratio"))]
    typical = _hidden_update_ratio(v)
    if first and max(first) > UPDATE_RATIO_FIRST_EPOCH:
        reasons.append(f"single steps changed the weights by up to {max(first):.0%} in the first epoch")
    elif typical is not None and typical > UPDATE_RATIO_HIGH:
        reasons.append(f"a typical step changes the weights by {typical:.0%}")
    if not reasons or (severity == "warning" and not _struggling(v)):
        return None
    optimizer = getattr(v.run.config, "optimizer", "adam")
    better = lower_lr(lr, optimizer)
    return Finding(
        "lr_too_high", severity,
        f"The learning rate {lr:g} is too high: {'; '.join(reasons)} (a healthy step changes the weights by "
        "about 0.1 %).",
        f"Use lr={better:g} ({optimizer}'s usual rate is {USUAL_LR.get(str(optimizer).lower(), 1e-3):g}; "
        "`trainwell lr-find` reads one off this data).",
        {"lr": lr, "reasons": reasons, "initial_loss": initial, "update_ratio_first_epoch": max(first) if first else None},
        fix={"lr": better},
    )


def _hidden_update_ratio(v: RunView) -> float | None:
    """Median over epochs of the largest hidden-layer update ratio."""
    per_epoch = []
    for row in v.history:
        values = _finite([row.get(LAYERS_KEY, {}).get(n, {}).get("update_ratio") for n in v.hidden])
        if values:
            per_epoch.append(max(values))
    return statistics.median(per_epoch) if per_epoch else None


def _struggling(v: RunView) -> bool:
    """Signs that training suffers: many dead units, or a validation score well below training."""
    dead = [s[-1] for n in v.hidden if (s := v.stat(n, "dead_fraction"))]
    return bool(dead and max(dead) > DEAD) or _gap(v) is not None and _gap(v) > _gap_allowance(v)


def vanishing_gradients(v: RunView) -> Finding | None:
    """The first layer's gradients are a tiny fraction of the output layer's."""
    if not v.hidden or "output" not in v.layers:
        return None
    first, out = v.hidden[0], "output"
    ratios = []
    for row in v.history:
        stats = row.get(LAYERS_KEY, {})
        g1 = stats.get(first, {}).get("grad_rms")
        g_out = stats.get(out, {}).get("grad_rms")
        if g1 is not None and g_out and math.isfinite(g1) and math.isfinite(g_out) and g_out > 0:
            ratios.append(g1 / g_out)
    if not ratios or statistics.median(ratios) >= VANISHING_RATIO:
        return None
    ratio = statistics.median(ratios)
    stuck = (_finite(v.column("loss_vs_first")) or [0.0])[-1] > 0.9
    return Finding(
        "vanishing_gradients", "error" if stuck else "warning",
        f"Gradients vanish on their way back: the first layer ({first}) gets gradients {_fmt(ratio)} times "
        f"the output layer's (per weight, median over epochs), so the early layers barely learn"
        + (" and the loss has hardly moved." if stuck else "."),
        _options(v, ("init", "auto", "init='auto' (weights too small shrink the signal at every layer)"),
                 ("batchnorm", True, "batchnorm=True"), ("activation", "relu", "activation='relu' instead of sigmoid/tanh"),
                 (None, None, "fewer layers")) + ".",
        {"first_to_output_grad": ratio, "layer": first},
        fix={"init": "auto"} if _setting(v, "init") != "auto" else {"batchnorm": True}
        if _setting(v, "batchnorm") is not True else {"activation": "relu"},
    )


def _saturation_fix(v: RunView) -> dict[str, Any]:
    """Xavier-scale weights where they are not, and ReLU instead of sigmoid (the notes: never sigmoid in hidden
    layers), together: well-scaled sigmoid layers still saturate as they stack."""
    fix: dict[str, Any] = {"init": "auto"} if _setting(v, "init") != "auto" else {}
    if v.kinds and any(k == "sigmoid" for k in v.kinds.values()) or _setting(v, "activation") == "sigmoid":
        fix["activation"] = "relu"
    if not fix:
        fix = {"batchnorm": True} if _setting(v, "batchnorm") is not True else {"activation": "relu"}
    return fix


def saturated_units(v: RunView) -> Finding | None:
    """tanh/sigmoid units stuck in their flat tails."""
    worst = [(n, statistics.median(s)) for n in v.hidden if (s := v.stat(n, "saturated_fraction"))]
    worst = [(n, f) for n, f in worst if f > SATURATED]
    if not worst:
        return None
    name, frac = max(worst, key=lambda t: t[1])
    act = v.kinds.get(name) or "tanh/sigmoid"
    return Finding(
        "saturated_units", "error" if frac > 0.5 else "warning",
        f"{frac:.0%} of the {act} outputs of {name} sit in the flat tails (median over epochs; "
        f"{len(worst)} layer(s) above {SATURATED:.0%}), where the gradient is almost zero: those units "
        "barely learn.",
        _options(v, ("init", "auto", "init='auto' (Xavier scale)"), ("batchnorm", True, "batchnorm=True"),
                 ("activation", "relu", "activation='relu'")) + ".",
        {"layers": dict(worst)},
        fix=_saturation_fix(v),
    )


def lr_too_low(v: RunView) -> Finding | None:
    """Tiny steps and a loss that hardly moves."""
    if v.has("lr_too_high", "exploding_gradients", "symmetric_weights", "vanishing_gradients"):
        return None  # tiny relative steps are then a consequence, not the cause
    typical = _hidden_update_ratio(v)
    progress = _finite(v.column("loss_vs_first"))
    if typical is None or typical >= UPDATE_RATIO_LOW or not progress or progress[-1] < 0.5:
        return None
    lr = v.run.config.lr
    better = higher_lr(lr, getattr(v.run.config, "optimizer", "adam"))
    return Finding(
        "lr_too_low", "warning",
        f"The learning rate {lr:g} is too low: a typical step changes the weights by {typical:.1e} of their "
        f"size (healthy: about 1e-3), and after {len(v.history)} epochs the training loss is still "
        f"{progress[-1]:.0%} of the first epoch's.",
        f"Use lr={better:g}; `trainwell lr-find` reads one off this data.",
        {"lr": lr, "update_ratio": typical, "loss_vs_first": progress[-1]},
        fix={"lr": better},
    )


# ----------------------------------------------------------------- symptoms
def diverged(v: RunView) -> Finding | None:
    """The loss became NaN or infinite, or blew up far above its start (the run stopped; the
    last good weights were kept)."""
    info = v.diverged
    bad = [i + 1 for i, x in enumerate(v.column("train_loss")) if isinstance(x, float) and not math.isfinite(x)]
    if not info and not bad:
        return None
    epoch = info["epoch"] if info else bad[0]
    if not info:
        restored = " Training stopped."
    elif info["restored_epoch"]:
        restored = (f" Training stopped and the weights of epoch {info['restored_epoch']}, the last with a sane "
                    "loss, were restored.")
    else:
        restored = " Training stopped and the initial weights were restored."
    loss = info["loss"] if info else math.nan
    how = (f"rose to {_fmt(loss)} (from {_fmt(info['initial_loss'])} untrained)"
           if info and math.isfinite(loss) and info.get("initial_loss") else "became NaN/inf")
    better = lower_lr(v.run.config.lr, _opt(v))
    return Finding(
        "diverged", "error", f"The training loss {how} in epoch {epoch}: the run diverged.{restored}",
        f"Use lr={better:g}, " + _options(v, ("grad_clip", 1.0, "grad_clip=1.0"),
                                          (None, None, "check the inputs for extreme values")) + ".",
        {"epoch": epoch, **(info or {})},
        fix={"lr": better},
    )


def dead_relu(v: RunView) -> Finding | None:
    """ReLU units that never fire on the sampled batches."""
    if v.has("symmetric_weights"):
        return None
    dead = [(n, s[-1]) for n in v.hidden if (s := v.stat(n, "dead_fraction")) and s[-1] > DEAD]
    if not dead:
        return None
    name, frac = max(dead, key=lambda t: t[1])
    # severity means consequence: a network that still fits its training data (a wide one
    # memorising a few hundred rows) lost nothing it needed to the dead units
    score = _train_score(v)
    fits = score is not None and score >= (FITS_ACCURACY if v.classification else FITS_R2)
    return Finding(
        "dead_relu", "info" if fits else "error" if frac >= 0.9 else "warning",
        f"{frac:.0%} of the ReLUs in {name} never fired on the sampled batches of the last epoch (the notes: "
        "up to 40% can die); a dead ReLU gets no gradient and rarely recovers.",
        _options(v, (None, None, f"A lower learning rate (e.g. lr={lower_lr(v.run.config.lr, _opt(v)):g})"),
                          ("batchnorm", True, "batchnorm=True"), ("activation", "leaky_relu", "activation='leaky_relu'")) + ".",
        {"layers": dict(dead)},
        fix={"activation": "leaky_relu"} if _setting(v, "activation") == "relu" else {},
    )


def _weight_shrink(v: RunView) -> tuple[str, float] | None:
    worst = None
    for name, start in v.initial_weight_rms.items():
        rms = v.stat(name, "weight_rms")
        if start > 0 and rms and rms[-1] > 0:
            factor = start / rms[-1]
            if worst is None or factor > worst[1]:
                worst = (name, factor)
    return worst


def _train_score(v: RunView) -> float | None:
    values = _finite(v.column(f"train_{v.metric}"))
    return max(values) if values else None


def _fits_poorly(v: RunView) -> bool:
    score = _train_score(v)
    return score is not None and score < (FIT_ACCURACY if v.classification else FIT_R2)


def regularization_too_strong(v: RunView) -> Finding | None:
    """Weight decay crushes the weights and the model no longer fits its training data."""
    l2, l1 = v.run.config.l2, v.run.config.l1
    if (l2 <= 0 and l1 <= 0) or v.has("vanishing_gradients", "symmetric_weights"):
        return None
    shrink = _weight_shrink(v)
    score = _train_score(v)
    if shrink is None or shrink[1] < SHRUNK or score is None:
        return None
    if score >= (FITS_ACCURACY if v.classification else FITS_R2):
        return None
    name, factor = shrink
    which = f"l1={l1:g}" if l1 > l2 else f"l2={l2:g}"  # the stronger of the two
    fit = (f"the model scores only {score:.0%} on its training rows as it trains" if v.classification
           else f"the training R² is only {score:.2f} as it trains")
    return Finding(
        "regularization_too_strong", "warning",
        f"Regularisation is too strong ({which}): it shrank the weights of {name} {_fmt(factor)}-fold and {fit}.",
        f"Lower it 10- to 100-fold (e.g. {which.split('=')[0]}={max(l2, l1) / 30:g}).",
        {"l2": l2, "l1": l1, "layer": name, "shrink": factor, f"train_{v.metric}": score},
        fix={which.split("=")[0]: _round(max(l2, l1) / 30)},
    )


def _validation_can_tell(n_val: int, chance: float) -> bool:
    """Whether ``n_val`` validation rows could show a model better than always answering the majority.

    A model that makes half the majority answer's errors must score significantly above chance
    (one-sided binomial test, 5 %); with fewer rows no validation accuracy is evidence of "no signal".
    Unseen tables: 5 rows at a 60 % majority (even 5 of 5 right happens 8 % of the time by chance) and
    11 rows at 64 % (9 of 11 happens 19 % of the time) were told their labels might be shuffled, by
    models that then beat logistic regression on their test rows.
    """
    if not n_val:
        return True  # no record of the split: judged as before
    from scipy.stats import binom

    better = math.ceil(n_val * (chance + (1 - chance) / 2))
    return float(binom.sf(better - 1, n_val, chance)) <= 0.05


def validation_at_chance(v: RunView) -> Finding | None:
    """Validation never beats chance (or the untrained network's loss) although nothing
    found so far explains it: the labels or features carry no learnable relation."""
    if not v.classification or v.has(*CAUSES):
        return None
    if not _validation_can_tell(getattr(v.run, "n_val", 0) or 0, v.chance):
        return None
    val_acc = _finite(v.column("val_accuracy"))
    train_acc = _finite(v.column("train_accuracy"))
    val_loss = _finite(v.column("val_loss"))
    if not val_acc or not train_acc:
        return None
    chance = v.chance
    initial = v.initial_loss or v.expected_initial_loss()
    at_chance = near_chance(max(val_acc), chance)
    no_better = initial is not None and val_loss and min(val_loss) >= 0.95 * initial
    if not (at_chance or no_better):
        return None
    learns = max(train_acc) >= chance + 0.2 * (1 - chance)
    # chance is always answering the most common class; "clearly": within a tenth of the way to 100 %
    # counts as chance, so a best a few points above it is not called "never beat"
    if at_chance:
        validation = (f"the validation accuracy never clearly beat chance (best {max(val_acc):.0%}; always "
                      f"answering the most common class scores {chance:.0%})")
    else:  # flagged by the loss: the accuracy may sit well above the majority share
        validation = (f"the validation loss never fell clearly below the untrained network's (best "
                      f"{min(val_loss):.3g} against {initial:.3g})")
    seen = (f"The training accuracy rose to {max(train_acc):.0%} but {validation}: the network memorises the "
            "training rows and learns little that carries over." if learns else
            f"The training accuracy (best {max(train_acc):.0%}) did not get clearly past chance either, and "
            f"{validation}, although the optimisation itself looks healthy.")
    return Finding(
        "validation_at_chance", "warning",
        f"{seen} The labels may not belong to their rows (shuffled or misaligned), or the features carry no "
        "signal about the target.",
        "Check that X and y are aligned row by row (a sort or shuffle applied to one only?) and that the "
        "features can predict the target at all.",
        {"best_val_accuracy": max(val_acc), "best_train_accuracy": max(train_acc), "chance": chance},
    )


def _gap(v: RunView) -> float | None:
    """Training minus validation score at the best validation epoch."""
    val_loss = v.column("val_loss")
    pairs = [(i, x) for i, x in enumerate(val_loss) if isinstance(x, float) and math.isfinite(x)]
    if not pairs:
        return None
    best = min(pairs, key=lambda t: t[1])[0]
    tr, va = v.history[best].get(f"train_{v.metric}"), v.history[best].get(f"val_{v.metric}")
    if tr is None or va is None:
        return None
    return tr - va


def _gap_allowance(v: RunView) -> float:
    """A gap this large can be chance alone: twice the binomial standard error of the validation score."""
    n_val = getattr(v.run, "n_val", 0) or 0
    if not v.classification:
        return 0.15
    val = _finite(v.column("val_accuracy"))
    p = max(val) if val else 0.5
    se = math.sqrt(max(p * (1 - p), 0.01) / n_val) if n_val else 0.5
    return max(0.05, 2 * se)


def _regularised(v: RunView) -> bool:
    spec = getattr(v.estimator, "spec_", None)
    return v.run.config.l2 > 0 or v.run.config.l1 > 0 or float(getattr(spec, "dropout", 0.0) or 0.0) > 0


#: Parameters per training row above which an unregularised network that fits its training
#: data perfectly is presumed to memorise it (every healthy calibration run holds validation
#: rows out, so this judges only runs with early stopping off).
MEMORISE_PARAMS_PER_ROW = 10.0


def _memorising_unseen(v: RunView) -> Finding | None:
    """No validation rows, nothing regularising, far more weights than rows and a perfect fit:
    overfitting that nothing in the run can measure (early stopping off)."""
    if _regularised(v) or any(isinstance(x, float) for x in v.column("val_loss")):
        return None
    net = getattr(v.run, "net", None)
    n_train = getattr(v.run, "n_train", 0) or 0
    if net is None or not n_train:
        return None
    n_params = sum(p.numel() for p in net.parameters())
    score = _train_score(v)
    perfect = score is not None and score >= (FITS_ACCURACY if v.classification else FITS_R2)
    if not perfect or n_params < MEMORISE_PARAMS_PER_ROW * n_train:
        return None
    shown = f"{score:.0%} accuracy" if v.classification else f"R² {score:.2f}"
    return Finding(
        "overfitting", "warning",
        f"The network has {n_params:,} weights for {n_train:,} training rows, nothing regularises it (no L2, L1 "
        f"or dropout) and it fits its training data to {shown}; with early stopping off no validation rows were "
        "held out, so nothing measured how much of that is memorised.",
        "Use early_stopping=True (holds out validation rows and keeps the best epoch), and l2=1e-4 or dropout=0.3.",
        {"n_params": n_params, "n_train": n_train, f"train_{v.metric}": score},
        fix={"early_stopping": True},
    )


def overfitting(v: RunView) -> Finding | None:
    """Validation loss rises while the training loss keeps falling.

    A warning when nothing regularises the network, or when the train/validation gap at
    the best epoch is large; otherwise (regularised, early stopping restored the best
    epoch) it is information.
    """
    if v.has("lr_too_high", "diverged", "exploding_gradients"):
        return None  # a validation loss that rises with a diverging run is the divergence, not overfitting
    val_loss = v.column("val_loss")
    pairs = [(i, x) for i, x in enumerate(val_loss) if isinstance(x, float) and math.isfinite(x)]
    if not pairs:
        return _memorising_unseen(v)
    if len(pairs) < 3:
        return None
    best, best_val = min(pairs, key=lambda t: t[1])
    later = [x for i, x in pairs if i > best]
    train = v.column("train_loss")
    train_after = _finite(train[best + 1:])
    if len(later) < 3 or max(later) < 1.1 * best_val or not train_after or min(train_after) > 0.8 * train[best]:
        return None
    gap = _gap(v)
    large_gap = gap is not None and gap > max(_gap_allowance(v), 0.2 if v.classification else 0.3)
    unregularised = not _regularised(v)
    restored = ""
    if v.run.best_epoch:
        restored = f" Early stopping restored epoch {v.run.best_epoch}."
    tr, va = v.history[best].get(f"train_{v.metric}"), v.history[best].get(f"val_{v.metric}")
    at_best = ""
    if tr is not None and va is not None and tr >= va:
        at_best = f" At its best the model scores {_fmt(tr)} on training and {_fmt(va)} on validation."
    elif tr is not None and va is not None:
        # the training figure is the running one of the epoch, in training mode (dropout on, batch
        # statistics, weights still moving): below validation it says nothing about memorising
        at_best = (f" At its best the model scores {_fmt(va)} on validation (the training figure, {_fmt(tr)}, is "
                   "taken in training mode during the epoch, so it reads below validation here).")
    why = (" Nothing regularises the network (no L2, L1 or dropout)." if unregularised else
           " The train/validation gap is large." if large_gap else "")
    return Finding(
        "overfitting", "warning" if unregularised or large_gap else "info",
        f"The validation loss rose after epoch {best + 1} ({_fmt(best_val)} -> {_fmt(max(later))}) while the "
        f"training loss kept falling: the network is overfitting.{at_best}{why}{restored}",
        "Stronger L2 (e.g. l2=1e-3), dropout=0.3, more data, or stopping earlier.",
        {"best_epoch": best + 1, "best_val_loss": best_val, "max_val_loss_after": max(later), "gap": gap,
         "regularised": not unregularised},
        fix={"l2": _round(max(10 * v.run.config.l2, 1e-3))} if unregularised or large_gap else {},
    )


def _narrowest(v: RunView) -> int | None:
    spec = getattr(v.estimator, "spec_", None)
    hidden = list(getattr(spec, "hidden", ()) or ()) + [b.channels for b in getattr(spec, "conv", ()) or ()]
    return min(hidden) if hidden else None


def underfitting(v: RunView) -> Finding | None:
    """The model does not fit even its training data, and validation is no worse."""
    if v.has("lr_too_low", "regularization_too_strong", "symmetric_weights", "vanishing_gradients",
             "saturated_units", "validation_at_chance", "lr_too_high", "targets_out_of_range", "diverged",
             "exploding_gradients", "overfitting"):
        return None  # a model that overfits has capacity to spare: "needs more capacity" would contradict it
    if not _fits_poorly(v):
        return None
    gap = _gap(v)
    if gap is not None and gap > _gap_allowance(v):
        return None
    score = _train_score(v)
    narrow = _narrowest(v)
    n_out = v.n_classes or 1
    small = narrow is not None and narrow < max(n_out, 4)
    shown = f"{score:.0%}" if v.classification else f"R² {score:.2f}"
    dropout = float(getattr(getattr(v.estimator, "spec_", None), "dropout", 0.0) or 0.0)
    if dropout >= STRONG_DROPOUT and not small:
        return Finding(
            "underfitting", "warning",
            f"The model scores only {shown} on its training rows as it trains and no better on validation, with dropout={dropout:g}: "
            f"every step trains a network with {dropout:.0%} of its units removed, too strong a regulariser for it.",
            "Use dropout=0.2 (the notes: 0.5 at most, usually less with batch norm); regularise with L2 instead.",
            {f"train_{v.metric}": score, "dropout": dropout},
            fix={"dropout": 0.2},
        )
    if small:
        return Finding(
            "underfitting", "warning",
            f"The model scores only {shown} on its training rows as it trains and no better on validation, and its "
            f"narrowest layer has {narrow} units for {n_out} output(s): the network is too small to represent "
            "the problem.",
            "Use a bigger network (e.g. hidden='auto' or (256, 128)); control overfitting with L2 and dropout, "
            "not with a small network (the notes).",
            {f"train_{v.metric}": score, "narrowest_layer": narrow},
            fix={"hidden": "auto"},
        )
    still = _finite(v.column("train_loss"))
    # the loop sets no stop reason when it simply ran out of epochs (advise runs before the
    # estimator stores its own stop_reason_)
    ran_out = getattr(v.run, "stop_reason", None) is None
    improving = len(still) >= 5 and still[-1] < 0.95 * still[-5] and ran_out
    return Finding(
        "underfitting", "info",
        f"The model scores only {shown} on its training rows as it trains and validation is no better"
        + (": it was still improving when max_epochs ended." if improving else
           ": the features may not determine the target well, or the model needs more capacity."),
        "Train longer (raise max_epochs)." if improving else
        "A bigger network or better features; a plain baseline (e.g. logistic/linear regression) tells how "
        "much signal there is.",
        {f"train_{v.metric}": score},
    )


# -------------------------------------------------------------- secondary
def update_ratio_high(v: RunView) -> Finding | None:
    """Typical steps change the hidden weights by more than 10 % (when no cause explains it)."""
    if v.has("lr_too_high", "vanishing_gradients", "regularization_too_strong", "symmetric_weights"):
        return None
    typical = _hidden_update_ratio(v)
    if typical is None or typical <= UPDATE_RATIO_HIGH:
        return None
    return Finding(
        "update_ratio_high", "warning",
        f"A typical step changes the hidden weights by {typical:.1%} of their size (healthy: about 0.1%): "
        "training is jumpy and may not settle.",
        f"Use lr={lower_lr(v.run.config.lr * 3, getattr(v.run.config, 'optimizer', 'adam')):g} (now {v.run.config.lr:g}).",
        {"update_ratio": typical},
        fix={"lr": lower_lr(v.run.config.lr * 3, getattr(v.run.config, "optimizer", "adam"))},
    )


def update_ratio_low(v: RunView) -> Finding | None:
    """Typical steps change the hidden weights by less than 1e-5 (when no cause explains it)."""
    if v.has("lr_too_low", "symmetric_weights", "vanishing_gradients", "lr_too_high", "diverged",
             "exploding_gradients", "update_ratio_high", "regularization_too_strong"):
        return None  # tiny steps relative to weights that blew up (or shrank) are a consequence
    typical = _hidden_update_ratio(v)
    if typical is None or typical >= UPDATE_RATIO_TINY:
        return None
    return Finding(
        "update_ratio_low", "warning",
        f"A typical step changes the hidden weights by only {typical:.1e} of their size (healthy: about 1e-3): "
        "learning is very slow.",
        f"Use lr={higher_lr(v.run.config.lr, getattr(v.run.config, 'optimizer', 'adam')):g} (now {v.run.config.lr:g}).",
        {"update_ratio": typical},
        fix={"lr": higher_lr(v.run.config.lr, getattr(v.run.config, "optimizer", "adam"))},
    )


def sigmoid_hidden_activation(v: RunView) -> Finding | None:
    """Sigmoid in the hidden layers, which the notes advise against."""
    act = getattr(v.estimator, "activation", None)
    name = act[0] if isinstance(act, (tuple, list)) else act
    if name != "sigmoid":
        return None
    return Finding(
        "sigmoid_hidden_activation", "warning",
        "The hidden layers use sigmoid: it saturates and kills gradients, and its outputs are not zero-centred, "
        "so updates zigzag (the notes: never use sigmoid in hidden layers).",
        "Use activation='relu' (or 'tanh' if you need a bounded activation).",
        {"activation": "sigmoid"},
        fix={"activation": "relu"},
    )


def init_loss_off(v: RunView) -> Finding | None:
    """The first training step's loss far from what an untrained network should give."""
    measured, expected = v.initial_loss, v.expected_initial_loss()
    band = INIT_LOSS_BAND if v.classification else INIT_LOSS_BAND_ONE_BATCH_MSE
    basis = describe_expectation(v.loss_name(), v.n_classes)
    energy = v.initial_batch_energy
    if not v.classification and expected is not None and energy is not None and energy > 0:
        # a squared loss is judged against its own batch's targets: one batch of a skewed target
        # lies far from the whole table's mean square (0.25 of it for cancer rates, skew 3)
        expected, basis = energy, "the mean squared target of that batch, what an output at its centre scores"
    if measured is None or expected is None or not init_loss_is_off(measured, expected, band):
        return None
    direction = ("starts confidently wrong: the initial weights are probably too large, or the inputs or labels "
                 "are off" if measured > expected else
                 "already knows the answers untrained: a feature may leak the target")
    advice = ("Use init='auto' (small random weights, a small output layer) and check the inputs and labels."
              if _setting(v, "init") != "auto" else
              "Check the inputs (scaling='auto' standardises them) and that the labels match the loss."
              if measured > expected else "Look for a feature that encodes the target.")
    return Finding(
        "init_loss_off", "warning",
        f"The first training step's loss was {_fmt(measured)}, expected about {_fmt(expected)} ({basis}): the "
        f"network {direction}.",
        advice, {"measured": measured, "expected": expected},
        fix={"init": "auto"} if _setting(v, "init") != "auto" else {},
    )


def sparse_input_uncentred(v: RunView) -> Finding | None:
    """The features were a sparse matrix: scaled without centring, densified a batch at a time."""
    transform = getattr(v.estimator, "transform_", None)
    if not getattr(transform, "sparse", False):
        return None
    n_features = int(transform.sample_shape[0])
    return Finding(
        "sparse_input_uncentred", "info",
        f"The {n_features} features came as a sparse matrix: each was divided by its standard deviation but not "
        "centred (as StandardScaler(with_mean=False) does), so zeros stay zeros and the matrix stayed sparse; "
        "only each batch was made dense.",
        "Nothing to do; features that need centring can be passed dense (X.toarray()) if they fit in memory.",
        {"n_features": n_features, "centred": False, "scaling": transform.scaling},
    )


def class_imbalance(v: RunView) -> Finding | None:
    """The training rows' classes are extremely imbalanced (seen during fit, as ``check`` sees it)."""
    counts = getattr(v.estimator, "class_counts_", None)
    if counts is None or not v.classification:
        return None
    found = imbalance_from_counts(v.estimator.classes_, counts, _setting(v, "class_weight"))
    if not found:
        return None
    f = found[0]
    fix = {"class_weight": "balanced"} if _setting(v, "class_weight") is None else {}
    return Finding(f.code, f.severity, f.message, f.advice, f.evidence, fix=fix)


#: All rules, causes first; :func:`advise` keeps this order within a severity.
RULES: tuple[Rule, ...] = (
    symmetric_weights, targets_out_of_range, lr_too_high, exploding_gradients, vanishing_gradients,
    saturated_units, lr_too_low, diverged, dead_relu, regularization_too_strong, validation_at_chance,
    overfitting, underfitting, update_ratio_high, update_ratio_low, sigmoid_hidden_activation, init_loss_off,
    sparse_input_uncentred,
    class_imbalance,
)


def advise(estimator: Any, run: Any) -> list[Finding]:
    """Findings about a finished run, most serious first.

    Parameters
    ----------
    estimator : fitted NeuralNetClassifier or NeuralNetRegressor
        Its settings (learning rate, activation, regularisation, ...) inform the rules.
    run : trainwell.train.RunState
        The run (``estimator.run_``), trained with :func:`default_monitors` attached;
        without them only the history-based rules apply.

    Returns
    -------
    list of Finding
    """
    view = RunView(estimator, run)
    for rule in RULES:
        finding = rule(view)
        if finding is not None:
            view.found.append(finding)
    return rank(fold_symptoms(view.found))
