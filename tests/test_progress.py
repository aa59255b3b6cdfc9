"""Progress on the command line: a live bar on a terminal, plain rows in a log, nothing when quiet."""

from __future__ import annotations

import io
import math
import re

import numpy as np
import pytest
from rich.console import Console

from trainwell import NeuralNetClassifier
from trainwell.progress import LiveProgress, summary
from trainwell.train.callbacks import overrides

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _fit(X, y, callbacks, epochs=3, batch_size=32):
    return NeuralNetClassifier(max_epochs=epochs, batch_size=batch_size, random_state=0, diagnostics=False,
                               callbacks=callbacks).fit(X, y)


def test_plain_rows_when_the_output_is_not_a_terminal(digits_split):
    X, _, y, _ = digits_split
    out = io.StringIO()
    progress = LiveProgress(Console(file=out, force_terminal=False, width=120))
    est = _fit(X, y, [progress])
    text = out.getvalue()
    assert not ANSI.search(text) and progress.updates == 0  # no bar, no escape codes
    lines = text.strip().splitlines()
    columns, note = lines[0].split("(", 1)
    assert columns.split() == ["epoch", "train_loss", "val_loss", "train_accuracy", "val_accuracy", "lr", "sec"]
    assert note.strip() == "* best val_loss so far)"  # what the star on a row means
    assert len(lines) == 1 + est.n_iter_
    for line, row in zip(lines[1:], est.history_, strict=True):
        fields = line.split()
        assert int(fields[0]) == row["epoch"]
        assert float(fields[1]) == pytest.approx(row["train_loss"], abs=5e-5)
        assert float(fields[4]) == pytest.approx(row["val_accuracy"], abs=5e-5)


def test_live_bar_on_a_terminal_moves_about_ten_times_an_epoch(digits_split):
    X, _, y, _ = digits_split
    out = io.StringIO()
    progress = LiveProgress(Console(file=out, force_terminal=True, width=160), updates_per_epoch=10)
    est = _fit(X, y, [progress])
    steps = est.run_.steps_per_epoch
    stride = math.ceil(steps / 10)
    assert steps > 20  # the test needs several updates per epoch
    # the epoch's start and end, plus one update every `stride` steps in between
    assert progress.updates == est.n_iter_ * (2 + (steps - 1) // stride)
    text = ANSI.sub("", out.getvalue())
    assert "epoch 3/3" in text and f"batch {steps}/{steps}" in text and "at most" in text
    assert f"val acc {100 * est.history_[-1]['val_accuracy']:.1f}%" in text
    assert text.count("train_loss") == 1  # the table's header once, its rows above the bar
    assert "\x1b[?25h" in out.getvalue()  # the cursor is shown again


def test_quiet_prints_nothing(digits_split):
    X, _, y, _ = digits_split
    out = io.StringIO()
    progress = LiveProgress(Console(file=out, force_terminal=True, quiet=True))
    _fit(X, y, [progress], epochs=2)
    assert out.getvalue() == "" and progress.updates == 0


class StepLog(LiveProgress):
    """LiveProgress that records the steps the loop tells it of."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.told: list[tuple[int, bool]] = []

    def before_step(self, run, index, watched) -> None:
        super().before_step(run, index, watched)
        self.told.append((index, watched))


def test_the_bar_never_watches_a_step_and_leaves_training_unchanged(digits_split):
    X, _, y, _ = digits_split
    plain = _fit(X, y, [])
    progress = StepLog(Console(file=io.StringIO(), force_terminal=True))
    shown = _fit(X, y, [progress])
    # told of every step, it never asks to watch one: every step stays on the fast path
    assert not overrides(progress, "wants_step")
    steps = shown.run_.steps_per_epoch
    assert progress.told == [(i, False) for i in range(steps)] * shown.n_iter_
    assert progress.updates > 3 * shown.n_iter_
    assert shown.run_.fast_path["used"]
    for a, b in zip(plain.history_, shown.history_, strict=True):
        assert a["train_loss"] == b["train_loss"] and a["val_loss"] == b["val_loss"]  # bit for bit
    np.testing.assert_array_equal(plain.predict_proba(X[:50]), shown.predict_proba(X[:50]))


def test_eta_is_the_elapsed_rate_times_the_epochs_left(monkeypatch):
    import trainwell.progress as progress_module

    progress = LiveProgress(Console(file=io.StringIO()), max_epochs=10)
    progress._t0, progress._start_epoch, progress._last_epoch, progress._steps = 100.0, 0, 10, 40
    monkeypatch.setattr(progress_module.time, "perf_counter", lambda: 115.0)
    # 1.5 epochs in 15 s: 10 s an epoch, 8.5 epochs left at most
    assert progress._eta(epoch=2, done=20) == "0:15 elapsed, at most 1:25 left"
    assert progress._eta(epoch=1, done=0) == ""


def test_summary_names_the_latest_numbers():
    assert summary({"train_loss": 0.12345, "val_loss": 0.2, "train_accuracy": 0.9, "val_accuracy": 0.875}) == (
        "loss 0.1235  val 0.2  val acc 87.5%")
    assert summary({"train_loss": 1.5, "train_r2": 0.25, "val_r2": None}) == "loss 1.5  R² 0.250"
