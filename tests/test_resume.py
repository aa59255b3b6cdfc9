"""Crash safety: checkpoints every epoch, SIGKILL mid-epoch and mid-save, and a resumed run
that ends with exactly the weights of an uninterrupted one (CPU, same seed)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from trainwell import NeuralNetClassifier
from trainwell.cli import main
from trainwell.exceptions import ModelFileError
from trainwell.train import Callback
from trainwell.train.checkpoint import read_checkpoint

PARAMS = {"random_state": 0, "max_epochs": 14, "dropout": 0.2, "lr_schedule": "plateau", "patience": 50, "device": "cpu"}


class Slow(Callback):
    """Make epochs long enough that a kill lands inside one."""

    def on_epoch_begin(self, run):
        time.sleep(0.15)


def _data():
    X, y = load_digits(return_X_y=True)
    return X[:600], y[:600]


def _weights(est):
    return {k: v.detach().clone() for k, v in est.network_.state_dict().items()}


VICTIM = textwrap.dedent(
    """
    import sys, time
    from sklearn.datasets import load_digits
    from trainwell import NeuralNetClassifier
    from trainwell.train import Callback
    class Slow(Callback):
        def on_epoch_begin(self, run):
            time.sleep(0.15)
    X, y = load_digits(return_X_y=True)
    params = {params}
    NeuralNetClassifier(**params, checkpoint_dir=sys.argv[1], callbacks=[Slow()]).fit(X[:600], y[:600])
    """
).format(params=repr(PARAMS))


def _start_victim(tmp_path, folder):
    script = tmp_path / "victim.py"
    script.write_text(VICTIM)
    env = dict(os.environ)
    return subprocess.Popen([sys.executable, str(script), str(folder)], env=env)


def _wait_for_epoch(folder, epoch, proc, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if json.loads((folder / "state.json").read_text())["epoch"] >= epoch:
                return
        except (OSError, ValueError):
            pass
        if proc.poll() is not None:
            pytest.fail("the training process ended before it could be killed")
        time.sleep(0.01)
    pytest.fail("no checkpoint appeared")


@pytest.fixture(scope="module")
def reference():
    X, y = _data()
    return _weights(NeuralNetClassifier(**PARAMS).fit(X, y))


@pytest.mark.parametrize("delay", [0.0, 0.07, 0.2])
def test_sigkill_then_resume_gives_the_uninterrupted_weights(tmp_path, reference, delay):
    folder = tmp_path / "ck"
    proc = _start_victim(tmp_path, folder)
    _wait_for_epoch(folder, 3, proc)
    time.sleep(delay)  # somewhere in the next epoch, or in the middle of writing its checkpoint
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    X, y = _data()
    est = NeuralNetClassifier(**PARAMS, checkpoint_dir=folder).fit(X, y, resume=True)
    resumed_from = json.loads((folder / "state.json").read_text())["epoch"]
    assert est.n_iter_ == PARAMS["max_epochs"] and resumed_from == PARAMS["max_epochs"]
    for name, tensor in _weights(est).items():
        assert torch.equal(tensor, reference[name]), name
    assert len(est.history_) == PARAMS["max_epochs"]


def test_crash_while_saving_keeps_the_previous_checkpoint(tmp_path, reference, monkeypatch):
    X, y = _data()
    folder = tmp_path / "ck"

    class Crash(Exception):
        pass

    class CrashOnThirdSave(Callback):
        def on_epoch_end(self, run):
            if run.epoch == 3:  # a user's callbacks end the epoch before its checkpoint is written
                real_rename = os.rename

                def broken(src, dst):
                    if str(dst) == str(folder):
                        raise Crash  # dies after the new folder is written, before it replaces the old one
                    return real_rename(src, dst)

                monkeypatch.setattr(os, "rename", broken)

    with pytest.raises(Crash):
        NeuralNetClassifier(**PARAMS, checkpoint_dir=folder, callbacks=[CrashOnThirdSave()]).fit(X, y)
    monkeypatch.undo()
    meta, _ = read_checkpoint(folder)  # the previous checkpoint is put back in place
    assert meta["epoch"] == 2
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".ck")]  # no temporary copies left
    est = NeuralNetClassifier(**PARAMS, checkpoint_dir=folder).fit(X, y, resume=True)
    for name, tensor in _weights(est).items():
        assert torch.equal(tensor, reference[name]), name


def test_resume_refuses_a_checkpoint_of_other_settings(tmp_path):
    X, y = _data()
    NeuralNetClassifier(**{**PARAMS, "max_epochs": 2}, checkpoint_dir=tmp_path / "ck").fit(X, y)
    with pytest.raises(ModelFileError, match="other settings"):
        NeuralNetClassifier(**{**PARAMS, "lr": 0.01}, checkpoint_dir=tmp_path / "ck").fit(X, y, resume=True)


def test_damaged_checkpoint_is_refused(tmp_path):
    X, y = _data()
    NeuralNetClassifier(**{**PARAMS, "max_epochs": 2}, checkpoint_dir=tmp_path / "ck").fit(X, y)
    data = (tmp_path / "ck" / "state.safetensors").read_bytes()
    (tmp_path / "ck" / "state.safetensors").write_bytes(data[:100])
    with pytest.raises(ModelFileError, match="damaged"):
        NeuralNetClassifier(**{**PARAMS, "max_epochs": 2}, checkpoint_dir=tmp_path / "ck").fit(X, y, resume=True)


def test_cli_resume_after_kill(tmp_path):
    X, y = load_digits(return_X_y=True)
    import pandas as pd

    csv = tmp_path / "digits.csv"
    frame = pd.DataFrame(X[:500], columns=[f"p{i}" for i in range(64)])
    frame["digit"] = y[:500]
    frame.to_csv(csv, index=False)
    out = tmp_path / "run"
    args = ["fit", str(csv), "--target", "digit", "--out", str(out), "--max-epochs", "12", "--quiet"]
    assert main(args) == 0
    reference = json.loads((out / "metrics.json").read_text())
    assert not (out / "checkpoint").exists()  # a finished run keeps only its results

    out2 = tmp_path / "run2"
    args2 = [a if a != str(out) else str(out2) for a in args]
    proc = subprocess.Popen([sys.executable, "-m", "trainwell", *args2])
    _wait_for_epoch(out2 / "checkpoint", 3, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # only the checkpoint (and, if the kill hit a save, a hidden copy the next write removes)
    assert sorted(p.name for p in out2.iterdir() if not p.name.startswith(".")) == ["checkpoint"]
    assert main(args2) == 2  # an interrupted run is not silently overwritten
    assert main([*args2, "--resume"]) == 0
    resumed = json.loads((out2 / "metrics.json").read_text())
    assert not [p for p in out2.iterdir() if p.name.startswith(".")]
    assert resumed["accuracy"] == reference["accuracy"] and resumed["log_loss"] == pytest.approx(reference["log_loss"])
    assert np.isclose(resumed["epochs"], reference["epochs"])


def test_the_checkpoint_holds_the_monitors_numbers_of_each_epoch(tmp_path):
    # the checkpoint is written after the diagnostics filled in the epoch's history row, so a
    # resumed run's history (and its report) keeps them for the epochs before the interruption
    X, y = _data()
    params = {**PARAMS, "max_epochs": 3}
    full = NeuralNetClassifier(**params, checkpoint_dir=tmp_path / "ck").fit(X, y)
    saved = json.loads((tmp_path / "ck" / "state.json").read_text())["history"]
    assert "loss_vs_first" in full.history_[-1] and "layers" in full.history_[-1]  # the monitors' numbers
    assert [set(row) for row in saved] == [set(row) for row in full.history_]
    assert saved[-1] == json.loads(json.dumps(full.history_[-1], default=float))
