"""The diagnostics package as a whole: its public names and the contract every monitor keeps."""

from __future__ import annotations

import numpy as np
import pytest

import trainwell.diagnose as diagnose
from trainwell import NeuralNetClassifier
from trainwell.diagnose import Finding, default_monitors, rank
from trainwell.diagnose.probes import SampledProbe
from trainwell.train import Callback, RunState


def test_public_names():
    assert set(diagnose.__all__) == {"Finding", "advise", "check", "default_monitors", "rank"}


def test_rank_puts_errors_first_and_keeps_order_within_a_severity():
    found = [Finding("a", "info", ""), Finding("b", "warning", ""), Finding("c", "error", ""),
             Finding("d", "warning", "")]
    assert [f.code for f in rank(found)] == ["c", "b", "d", "a"]
    assert str(Finding("x", "warning", "Seen.", "Do.")) == "[warning] Seen. Try: Do."


def test_default_monitors_are_fresh_callbacks_each_time():
    first, second = default_monitors(), default_monitors()
    assert all(isinstance(m, Callback) for m in first)
    assert not {id(m) for m in first} & {id(m) for m in second}


class RecordWatched(Callback):
    """Which global steps each monitor asked to watch."""

    def __init__(self, monitors) -> None:
        self.monitors = monitors
        self.asked: dict[int, list[int]] = {i: [] for i in range(len(monitors))}

    def wants_step(self, run: RunState) -> bool:
        for i, m in enumerate(self.monitors):
            if m.wants_step(run):
                self.asked[i].append(run.step)
        return False


@pytest.mark.parametrize("per_epoch", [1, 2, 5])
def test_every_monitor_keeps_the_contract(digits_split, per_epoch):
    X, _, y, _ = digits_split
    monitors = default_monitors(per_epoch=per_epoch)
    est = NeuralNetClassifier(diagnostics=False, max_epochs=2, batch_size=128, early_stopping=False, random_state=0,
                              callbacks=monitors)
    est.fit(X, y)
    steps = est.run_.steps_per_epoch
    # sampled probes watch at most per_epoch steps per epoch, the first step of each epoch among them
    probe = next(m for m in monitors if isinstance(m, SampledProbe) and type(m).__name__ == "ActivationProbe")
    chosen = sorted(probe._chosen)
    assert len(chosen) == min(per_epoch, steps) and chosen[0] == 0
    # no hook is left behind, and every epoch's row got its per-layer statistics
    assert all(not m._forward_hooks and not m._backward_hooks for m in est.network_.modules())
    for row in est.history_:
        assert set(row["layers"]) == {"dense1", "dense2", "output"}
        assert np.isfinite(row["layers"]["dense1"]["grad_norm"])
