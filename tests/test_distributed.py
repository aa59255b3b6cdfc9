"""Training under torchrun: 2 CPU processes with Gloo train like 1 process with the same global batch.

The Python-API tests fork two ranks (``torch.multiprocessing`` with ``fork``) that find
torchrun's variables in their environment, so trainwell joins the process group itself,
exactly as under torchrun, without paying two fresh interpreter starts per test. One test
runs the real ``python -m torch.distributed.run`` on the command line.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from sklearn.datasets import load_digits
from torch import nn

from trainwell import NeuralNetClassifier
from trainwell.cli import main
from trainwell.exceptions import ConfigError
from trainwell.persist import load
from trainwell.train import Callback, distributed
from trainwell.train.checkpoint import read_checkpoint

# No dropout and no batch norm: with them the ranks draw other masks and normalise their own
# slices, so only these runs can match one process to float rounding.
EXACT = {"random_state": 0, "max_epochs": 3, "batchnorm": False, "dropout": 0.0, "batch_size": 64,
         "device": "cpu", "diagnostics": False}


def _data():
    X, y = load_digits(return_X_y=True)
    return X[:600], y[:600]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StopAt(Callback):
    """Stop after epoch ``epoch`` (an interrupted run; callbacks are not part of a checkpoint's settings)."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_end(self, run):
        if run.epoch >= self.epoch:
            run.stop_requested, run.stop_reason = True, "stopped by the test"


def _leave_group() -> None:
    # Rank 0 hosts the group's store here (torchrun's agent hosts it there): no rank leaves
    # before every rank is done with it.
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


class RowsPerStep(Callback):
    """Record how many rows this rank's first step of the run trained on."""

    seen: int | None = None

    def wants_step(self, run):
        return self.seen is None

    def on_step_begin(self, run):
        self.seen = run.batch[0].shape[0]


def _rank_main(rank: int, port: int, out: str, params: dict, fit_kwargs: dict, stop_at: int | None) -> None:
    # What torchrun gives each process it starts; trainwell joins the Gloo group itself.
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2",
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)  # a forked child must not reuse the parent's OpenMP pool
    try:
        X, y = _data()
        if params.pop("_images", False):
            X = X.reshape(-1, 8, 8)
        rows = RowsPerStep()
        callbacks = [rows, StopAt(stop_at)] if stop_at else [rows]
        est = NeuralNetClassifier(**params, callbacks=callbacks).fit(X, y, **fit_kwargs)
        torch.save({"state": est.network_.state_dict(), "history": list(est.history_),
                    "stop_reason": est.stop_reason_, "n_iter": est.n_iter_, "world": dist.get_world_size(),
                    "rows_per_step": rows.seen, "kept_loss": type(est.run_.loss_fn).__name__},
                   os.path.join(out, f"rank{rank}.pt"))
    finally:
        _leave_group()


def _rank_cli(rank: int, port: int, argv: list[str]) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2",
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    try:
        if main(argv) != 0:
            raise RuntimeError(f"rank {rank}: trainwell {' '.join(argv)} failed")
    finally:
        _leave_group()


def _two_ranks(tmp_path, params: dict, fit_kwargs: dict | None = None, stop_at: int | None = None):
    out = tmp_path / f"ranks-{len(list(tmp_path.iterdir()))}"
    out.mkdir()
    mp.start_processes(_rank_main, args=(_free_port(), str(out), params, fit_kwargs or {}, stop_at),
                       nprocs=2, start_method="fork")
    return [torch.load(out / f"rank{r}.pt", weights_only=False) for r in range(2)]


def _assert_replicas_equal(results):
    assert [r["world"] for r in results] == [2, 2]
    # the fitted estimator keeps the plain loss: DDP (and the process group its reducer holds) was
    # freed while the group was up; freed later, Gloo's destructor hung a rank
    assert [r["kept_loss"] for r in results] == ["CrossEntropy", "CrossEntropy"]
    for name, tensor in results[0]["state"].items():
        assert torch.equal(tensor, results[1]["state"][name]), name
    assert results[0]["history"] == [
        {**row, "seconds": r0["seconds"]} for row, r0 in zip(results[1]["history"], results[0]["history"], strict=True)
    ]


# ---------------------------------------------------------------- two ranks == one process
def test_two_ranks_train_like_one_process_with_the_same_global_batch(tmp_path):
    X, y = _data()
    single = NeuralNetClassifier(**EXACT).fit(X, y)  # the default fast path, batch 64
    results = _two_ranks(tmp_path, EXACT)
    _assert_replicas_equal(results)
    assert [r["rows_per_step"] for r in results] == [32, 32]  # each rank: half of the global batch
    for name, tensor in single.network_.state_dict().items():
        torch.testing.assert_close(results[0]["state"][name], tensor, rtol=1e-4, atol=1e-4)
    for key in ("train_loss", "val_loss", "train_accuracy", "val_accuracy"):
        np.testing.assert_allclose([r[key] for r in results[0]["history"]], single.history_.column(key), rtol=1e-4)
    # and the same run on 2 ranks is not what a batch of 32 gives (the oracle is sharp enough)
    half = NeuralNetClassifier(**{**EXACT, "batch_size": 32}).fit(X, y)
    assert not np.allclose(half.history_.column("train_loss"), single.history_.column("train_loss"), rtol=1e-3)


def test_two_ranks_augment_each_row_as_one_process_would(tmp_path):
    # shifts and flips are drawn for the global batch and sliced per rank (Augment's part=)
    params = {**EXACT, "kind": "mlp", "augment": "shift+flip"}
    X, y = _data()
    single = NeuralNetClassifier(**params).fit(X.reshape(-1, 8, 8), y)
    assert single.augment_.shift == 1 and single.augment_.hflip
    results = _two_ranks(tmp_path, {**params, "_images": True})
    _assert_replicas_equal(results)
    for name, tensor in single.network_.state_dict().items():
        torch.testing.assert_close(results[0]["state"][name], tensor, rtol=1e-4, atol=1e-4)


def test_ranks_stay_identical_with_batchnorm_dropout_and_diagnostics(tmp_path):
    params = {"random_state": 1, "max_epochs": 4, "batch_size": 64, "device": "cpu", "patience": 1}
    results = _two_ranks(tmp_path, params)
    _assert_replicas_equal(results)  # weights, BN statistics, diagnostics and stop decisions
    history = results[0]["history"]
    assert "layers" in history[-1]  # the diagnostics' per-layer numbers, averaged over ranks
    assert results[0]["stop_reason"] == results[1]["stop_reason"]
    assert history[-1]["val_accuracy"] > 0.5


def test_resume_under_two_ranks_gives_the_uninterrupted_weights(tmp_path):
    params = {**EXACT, "max_epochs": 4}
    straight = _two_ranks(tmp_path, {**params, "checkpoint_dir": str(tmp_path / "a")})
    _two_ranks(tmp_path, {**params, "checkpoint_dir": str(tmp_path / "b")}, stop_at=2)
    meta, _ = read_checkpoint(tmp_path / "b")
    assert meta["epoch"] == 2
    resumed = _two_ranks(tmp_path, {**params, "checkpoint_dir": str(tmp_path / "b")}, {"resume": True})
    _assert_replicas_equal(resumed)
    for name, tensor in straight[0]["state"].items():
        assert torch.equal(resumed[0]["state"][name], tensor), name
    assert [r["train_loss"] for r in resumed[0]["history"]] == [r["train_loss"] for r in straight[0]["history"]]
    # one writer: the checkpoint folder and nothing half-written beside it
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("ranks-")) == ["a", "b"]


def test_sync_batchnorm_on_cpu_is_refused_with_one_sentence(tmp_path):
    with pytest.raises(Exception) as info:
        _two_ranks(tmp_path, {**EXACT, "batchnorm": True, "sync_batchnorm": True})
    assert "sync_batchnorm=True needs CUDA" in str(info.value)


# ---------------------------------------------------------------- the command line
FLAGS = ["--target", "y", "--no-batchnorm", "--dropout", "0", "--batch-size", "64", "--max-epochs", "3",
         "--device", "cpu", "--seed", "0", "--quiet"]


def _csv(tmp_path):
    X, y = _data()
    frame = pd.DataFrame({f"p{i}": X[:, i] for i in range(X.shape[1])})
    frame["y"] = y
    frame.to_csv(tmp_path / "data.csv", index=False)
    return tmp_path / "data.csv"


def _assert_one_run_folder_like_one_process(tmp_path, csv):
    assert main(["fit", str(csv), "--out", str(tmp_path / "one"), "--no-report", *FLAGS]) == 0
    runs = sorted(p.name for p in tmp_path.iterdir() if p.is_dir())
    assert runs == ["ddp", "one"]  # one run folder from two processes, no temporary leftovers
    assert (tmp_path / "ddp" / "report.html").is_file()
    ddp, one = load(tmp_path / "ddp"), load(tmp_path / "one")
    for name, tensor in one.network_.state_dict().items():
        torch.testing.assert_close(ddp.network_.state_dict()[name], tensor, rtol=1e-4, atol=1e-4)
    m_ddp = json.loads((tmp_path / "ddp" / "metrics.json").read_text())
    m_one = json.loads((tmp_path / "one" / "metrics.json").read_text())
    assert m_ddp["log_loss"] == pytest.approx(m_one["log_loss"], rel=1e-4)


def test_cli_fit_on_two_ranks_writes_one_run_folder(tmp_path):
    csv = _csv(tmp_path)
    mp.start_processes(_rank_cli, args=(_free_port(), ["fit", str(csv), "--out", str(tmp_path / "ddp"), *FLAGS]),
                       nprocs=2, start_method="fork")
    _assert_one_run_folder_like_one_process(tmp_path, csv)


@pytest.mark.slow  # two fresh interpreters and torchrun's own start: about 40 s on 2 busy cores
def test_real_torchrun_cli_writes_one_run_folder(tmp_path):
    csv = _csv(tmp_path)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "trainwell", "fit", str(csv), "--out", str(tmp_path / "ddp"), *FLAGS]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    _assert_one_run_folder_like_one_process(tmp_path, csv)


# ---------------------------------------------------------------- the pieces, in one process
@pytest.mark.parametrize(("n", "batch", "world"), [(600, 64, 2), (599, 64, 2), (130, 64, 3), (70, 32, 4)])
def test_rank_slices_cover_each_global_batch(n, batch, world):
    perm = torch.randperm(n)
    shards = [distributed.Shard(r, world) for r in range(world)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an uneven batch (the 3-rank case) is warned about
        plans = {s.plan(n, batch) for s in shards}
    assert len(plans) == 1  # every rank takes as many steps, of as many rows
    rows, per_rank, steps = plans.pop()
    taken = [s.take(perm) for s in shards]
    assert all(len(t) == rows for t in taken)
    start = 0
    for b in range(steps):  # step b of every rank together is global batch b of one process
        m = min(per_rank, rows - b * per_rank)
        together = torch.cat([t[b * per_rank:b * per_rank + m] for t in taken])
        assert torch.equal(together, perm[start:start + m * world])
        start += m * world
    assert n - start < world * 2  # only a last few rows that cannot be shared evenly sit out


def test_plan_refuses_more_processes_than_rows_and_warns_on_an_uneven_batch():
    with pytest.raises(ConfigError, match="cannot be shared by 4 processes"):
        distributed.Shard(0, 4).plan(100, 3)
    with pytest.warns(UserWarning, match="global batch of 63"):
        assert distributed.Shard(0, 3).plan(630, 64)[1] == 21


def test_diagnostics_are_averaged_and_everything_else_is_rank_zeros():
    rows = [{"epoch": 3, "layers": {"fc1": {"dead": 0.25, "hist": [1, 2]}}, "note": "a"},
            {"epoch": 3, "layers": {"fc1": {"dead": 0.75, "hist": [3, 4]}}, "note": "b"}]
    assert distributed._mean_numbers(rows) == {"epoch": 3, "layers": {"fc1": {"dead": 0.5, "hist": [1, 2]}}, "note": "a"}


def test_one_process_without_torchrun_is_left_alone(monkeypatch):
    for name in distributed.TORCHRUN_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert distributed.setup(torch.device("cpu")) == (None, torch.device("cpu"))
    assert distributed.is_main_process() and distributed.broadcast_object(7) == 7
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "1")  # torchrun with one process: nothing to share
    assert distributed.setup(torch.device("cpu"))[0] is None


def test_synchronised_batchnorm_puts_the_trained_plain_modules_back():
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))
    bn = net[1]
    # The conversion itself runs anywhere; only SyncBatchNorm's forward needs a GPU.
    with distributed.synchronised_batchnorm(net, True, torch.device("cuda")):
        assert isinstance(net[1], nn.SyncBatchNorm)
        with torch.no_grad():
            net[1].weight.fill_(2.0)
            net[1].running_mean.fill_(0.5)
    assert net[1] is bn and type(bn) is nn.BatchNorm1d
    assert torch.equal(bn.weight, torch.full((4,), 2.0)) and torch.equal(bn.running_mean, torch.full((4,), 0.5))
    with pytest.raises(ConfigError, match="needs CUDA"), distributed.synchronised_batchnorm(net, True, torch.device("cpu")):
        pass


def test_tune_refuses_torchrun(monkeypatch, iris):
    from trainwell import tune

    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "0")
    X, y = iris
    with pytest.raises(ConfigError, match="not under torchrun"):
        tune(NeuralNetClassifier(), X, y, {"lr": (1e-4, 1e-1, "log")}, n_trials=2)
