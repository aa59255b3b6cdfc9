"""The diagnostics package as a whole: its public names and the contract every monitor keeps."""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from sklearn.datasets import load_diabetes, load_digits

import trainwell.diagnose as diagnose
from trainwell import NeuralNetClassifier, NeuralNetRegressor
from trainwell.diagnose import Finding, default_monitors, probes, rank
from trainwell.diagnose.probes import (
    LAYERS_KEY,
    ActivationProbe,
    DivergenceGuard,
    GradientProbe,
    SampledProbe,
    TargetRangeProbe,
    TrendProbe,
    UpdateRatioProbe,
    WeightProbe,
)
from trainwell.train import Callback, RunState


def test_public_names():
    assert set(diagnose.__all__) == {"Finding", "Findings", "advise", "check", "default_monitors", "rank",
                                     "step_time_advice"}


def test_rank_puts_errors_first_and_keeps_order_within_a_severity():
    found = [Finding("a", "info", ""), Finding("b", "warning", ""), Finding("c", "error", ""),
             Finding("d", "warning", "")]
    assert [f.code for f in rank(found)] == ["c", "b", "d", "a"]
    assert str(Finding("x", "warning", "Seen.", "Do.")) == "[warning] Seen. Try: Do."


def test_default_monitors_are_fresh_callbacks_each_time():
    first, second = default_monitors(), default_monitors()
    assert all(isinstance(m, Callback) for m in first)
    assert not {id(m) for m in first} & {id(m) for m in second}


# ------------------------------------------------------------------ the monitors' contract
# Every monitor default_monitors() returns and every probe class of trainwell.diagnose.probes
# (skorch's test_all.py idea: one contract, checked over all of them):
# - it is called on exactly the steps it asked for with wants_step, and asks for the steps
#   its docstring promises (a sampling probe: per_epoch of each epoch, the first among them);
# - it never changes training: the same fit with and without it ends with the same weights;
# - it leaves its outputs where trainwell.diagnose.probes documents them, and nothing else.

PROBE_CLASSES = sorted((cls for _, cls in inspect.getmembers(probes, inspect.isclass) if issubclass(cls, Callback)),
                       key=lambda cls: cls.__name__)


@dataclass(frozen=True)
class Outputs:
    """What a probe leaves in a run, as documented: per-layer keys (on the hidden layers
    only or on every weight layer), history-row keys and run-level reports."""

    layer_keys: frozenset[str] = frozenset()
    hidden_only: bool = False
    row_keys: frozenset[str] = frozenset()
    run_keys: frozenset[str] = frozenset()


DOCUMENTED = {
    SampledProbe: Outputs(),
    # "activation" (the layer's activation family) is written beside the statistics, though the table leaves it out
    ActivationProbe: Outputs(frozenset({"activation", "act_mean", "act_std", "act_hist", "dead_fraction"}), hidden_only=True),
    GradientProbe: Outputs(frozenset({"grad_norm", "grad_rms", "grad_hist"}), run_keys=frozenset({"initial_grad_rms"})),
    UpdateRatioProbe: Outputs(frozenset({"update_ratio"})),
    WeightProbe: Outputs(frozenset({"weight_norm", "weight_rms", "row_spread"}),
                         run_keys=frozenset({"initial_weight_rms", "first_layer_weights"})),
    TrendProbe: Outputs(row_keys=frozenset({"loss_vs_first", "generalization_gap", "val_plateau_epochs"}),
                        run_keys=frozenset({"initial_loss"})),
    TargetRangeProbe: Outputs(row_keys=frozenset({"targets_outside_output"})),  # with a sigmoid/tanh output only
    DivergenceGuard: Outputs(run_keys=frozenset({"diverged"})),  # when the run diverged only
}
RUN_KEYS = frozenset().union(*(o.run_keys for o in DOCUMENTED.values()))


def run_output(run: RunState, key: str):
    """A run-level report: in ``run.extra`` or, where RunState has typed it, its field."""
    return run.extra[key] if key in run.extra else getattr(run, key, None)


def expected_outputs(monitor: Callback, problem: str) -> Outputs:
    documented = DOCUMENTED[type(monitor)]
    if isinstance(monitor, TargetRangeProbe) and problem != "sigmoid_regressor":
        return Outputs()  # a linear output can produce any target: nothing to count
    if isinstance(monitor, DivergenceGuard):
        return Outputs()  # a healthy run: nothing restored
    return documented


class WatchEveryStep(Callback):
    """Watched steps run on autograd, unwatched ones may take the fast MLP step (equal only up
    to rounding): watching every step in both fits makes "the same weights" exact."""

    def wants_step(self, run: RunState) -> bool:
        return True


def record_calls(monitor: Callback) -> dict[str, list[int]]:
    """Wrap the monitor's step events to record the global steps it asked for and was given."""
    calls: dict[str, list] = {"asked": [], "begin": [], "end": [], "scheduled": []}
    wants, begin, end, scheduled = monitor.wants_step, monitor.on_step_begin, monitor.on_step_end, monitor.steps_wanted

    def steps_wanted(run):
        answer = scheduled(run)
        if answer is not None:
            calls["scheduled"] += [run.step + offset for offset in answer]
        return answer

    def wants_step(run):
        answer = wants(run)
        if answer:
            calls["asked"].append(run.step)
        return answer

    def on_step_begin(run):
        calls["begin"].append(run.step)
        begin(run)

    def on_step_end(run):
        calls["end"].append(run.step)
        end(run)

    monitor.wants_step, monitor.on_step_begin, monitor.on_step_end = wants_step, on_step_begin, on_step_end
    monitor.steps_wanted = steps_wanted
    return calls


def contract_fit(problem: str, callbacks):
    """Two epochs of a small fit with dropout (a monitor that drew random numbers would move the masks)."""
    common = {"diagnostics": False, "max_epochs": 2, "dropout": 0.2, "patience": 50, "validation_fraction": 0.25,
              "random_state": 0, "device": "cpu", "callbacks": [*callbacks, WatchEveryStep()]}
    if problem == "classifier":  # 384 training rows in batches of 128: 3 steps an epoch
        X, y = load_digits(return_X_y=True)
        return NeuralNetClassifier(hidden=(32, 16), batch_size=128, **common).fit(X[:512], y[:512])
    X, y = load_diabetes(return_X_y=True)  # 332 training rows in batches of 64: 6 steps an epoch
    return NeuralNetRegressor(hidden=(16,), batch_size=64, output_activation="sigmoid", **common).fit(X, y)


PROBLEMS = ("classifier", "sigmoid_regressor")
MONITORS = [
    pytest.param(lambda k=k, i=i: default_monitors(per_epoch=k)[i], id=f"default_monitors(per_epoch={k})-{type(m).__name__}")
    for k in (1, 2, 5) for i, m in enumerate(default_monitors(per_epoch=k))
] + [pytest.param(cls, id=cls.__name__) for cls in PROBE_CLASSES]


@pytest.fixture(scope="module")
def unwatched():
    return {problem: contract_fit(problem, []) for problem in PROBLEMS}


def test_the_contract_covers_every_probe_and_every_default_monitor():
    assert set(DOCUMENTED) == set(PROBE_CLASSES)  # a new probe class needs its documented outputs here
    assert {type(m) for m in default_monitors()} <= set(PROBE_CLASSES)


@pytest.mark.parametrize("problem", PROBLEMS)
@pytest.mark.parametrize("make", MONITORS)
def test_every_monitor_keeps_the_contract(make, problem, unwatched):
    monitor = make()
    calls = record_calls(monitor)
    est = contract_fit(problem, [monitor])
    plain = unwatched[problem]
    steps, epochs = est.run_.steps_per_epoch, est.n_iter_
    assert epochs == 2 and steps == (3 if problem == "classifier" else 6)

    # called on exactly the steps it asked for, and asked for the steps it promises
    assert calls["begin"] == calls["end"] == calls["asked"]
    # the steps it names ahead of each epoch (the loop asks only before those) hold every step it asks for
    if type(monitor).steps_wanted is not Callback.steps_wanted:
        assert set(calls["asked"]) <= set(calls["scheduled"])
    if isinstance(monitor, SampledProbe) and not (isinstance(monitor, TargetRangeProbe) and problem == "classifier"):
        for epoch in range(epochs):
            mine = [s - epoch * steps for s in calls["asked"] if s // steps == epoch]
            assert len(set(mine)) == len(mine) == min(monitor.per_epoch, steps) and mine[0] == 0, (epoch, mine)
    elif isinstance(monitor, (TrendProbe, DivergenceGuard)):
        assert calls["asked"] == [0]  # the very first step: the untrained network's loss (the guard's reference)
    else:
        assert calls["asked"] == []

    # never changes training: the same weights and losses as without it
    mine, theirs = est.network_.state_dict(), plain.network_.state_dict()
    assert mine.keys() == theirs.keys()
    assert all(torch.equal(mine[k], theirs[k]) for k in mine)
    for column in ("train_loss", "val_loss"):
        assert est.history_.column(column) == plain.history_.column(column)
    assert all(not m._forward_hooks and not m._forward_pre_hooks and not m._backward_hooks for m in est.network_.modules())

    # its outputs where documented, and nothing else
    documented = expected_outputs(monitor, problem)
    weight_layers = {"classifier": ["dense1", "dense2", "output"], "sigmoid_regressor": ["dense1", "output"]}[problem]
    layers = [name for name in weight_layers if name != "output"] if documented.hidden_only else weight_layers
    for row, before in zip(est.history_, plain.history_, strict=True):
        added = set(row) - set(before)
        assert added == documented.row_keys | ({LAYERS_KEY} if documented.layer_keys else set())
        assert all(isinstance(row[key], (int, float)) and np.isfinite(row[key]) for key in documented.row_keys)
        if documented.layer_keys:
            assert sorted(row[LAYERS_KEY]) == sorted(layers)
            for name in layers:
                assert set(row[LAYERS_KEY][name]) == documented.layer_keys, name
    for key in RUN_KEYS:
        assert (run_output(est.run_, key) is not None) == (key in documented.run_keys), key
        assert run_output(plain.run_, key) is None
    assert set(est.run_.extra) - set(plain.run_.extra) <= documented.run_keys
