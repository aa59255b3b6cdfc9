"""Scaling under torchrun: epoch time of the default MLP on 1 process against 2 (DDP, Gloo on CPU).

The model is what ``NeuralNetClassifier()`` builds for MNIST-5k (784 → 256 → 128 → 10 with
batch norm, Adam, batch 64 (the "auto" size for 4,500 rows), 4,500 training rows, 500 validation
rows, diagnostics on); the
time is the median of the loop's own per-epoch ``seconds`` (training + validation), the first
epoch left out. Contenders:

- 1 process, 1 thread, trainwell's default (the hand-derived fast MLP step);
- 1 process, 1 thread, the autograd step (what every rank runs under DDP: the baseline of
  the scaling efficiency);
- 2 processes under ``torchrun --nproc_per_node 2``, 1 thread each, Gloo, global batch 64
  (32 rows per process and step).

Scaling efficiency = t(1 process, autograd) / (2 × t(2 processes)): 100 % means two
processes take half the time of one. On the GPU part (where CUDA is present) the same runs
happen on one GPU and, with two or more GPUs, on all of them with NCCL.

Run (writes ``bench/scaling.md``)::

    python bench/scaling.py            # about two minutes on 2 cores
    python bench/scaling.py --epochs 4 # shorter
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # `python bench/scaling.py` from the repository root

from bench.common import machine, table  # noqa: E402
from trainwell import NeuralNetClassifier  # noqa: E402
from trainwell.data import load_mnist5k  # noqa: E402
from trainwell.train import Callback, distributed  # noqa: E402


class EpochCPU(Callback):
    """Process CPU seconds of each epoch: on a shared machine, the work done less the waiting for a core."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    def on_epoch_begin(self, run) -> None:
        self._t0 = time.process_time()

    def on_epoch_end(self, run) -> None:
        self.seconds.append(time.process_time() - self._t0)


class AutogradClassifier(NeuralNetClassifier):
    """The default classifier on the autograd step (no fast MLP step), as every DDP rank trains."""

    def training_config(self, n_train):
        return dataclasses.replace(super().training_config(n_train), fast=False)


def epoch_seconds(epochs: int, device: str, autograd: bool = False) -> tuple[float, dict]:
    """Median seconds per epoch (first left out) of the default MLP on MNIST-5k, and the run's facts."""
    X, y = load_mnist5k()
    cls = AutogradClassifier if autograd else NeuralNetClassifier
    cpu = EpochCPU()
    est = cls(max_epochs=epochs, patience=10 * epochs, random_state=0, device=device, callbacks=[cpu]).fit(X, y)
    seconds = est.history_.column("seconds")[1:]
    facts = {"val_accuracy": est.history_.column("val_accuracy")[-1], "n_train": est.n_train_,
             "fast": est.run_.fast_path["used"], "cpu": statistics.median(cpu.seconds[1:])}
    return statistics.median(seconds), facts


def worker(out: str, epochs: int, device: str) -> None:
    """One torchrun rank: train, and rank 0 writes its epoch time."""
    torch.set_num_threads(1)
    seconds, facts = epoch_seconds(epochs, device)
    if distributed.is_main_process():
        facts["world_size"] = int(os.environ.get("WORLD_SIZE", "1"))
        Path(out).write_text(json.dumps({"seconds": seconds, **facts}))


def torchrun(nproc: int, epochs: int, device: str) -> dict:
    """Run :func:`worker` on ``nproc`` processes with torchrun; rank 0's numbers."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "rank0.json"
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
               str(Path(__file__).resolve()), "--worker", str(out), "--epochs", str(epochs), "--device", device]
        subprocess.run(cmd, env=env, check=True, capture_output=True)
        return json.loads(out.read_text())


def cpu_section(epochs: int, log) -> str:
    rows = []
    torch.set_num_threads(1)
    t_fast, f_fast = epoch_seconds(epochs, "cpu")
    log(f"1 process, fast step: {t_fast:.3f} s/epoch")
    t_auto, f_auto = epoch_seconds(epochs, "cpu", autograd=True)
    log(f"1 process, autograd step: {t_auto:.3f} s/epoch")
    ddp = torchrun(2, epochs, "cpu")
    log(f"2 processes (torchrun, Gloo): {ddp['seconds']:.3f} s/epoch")
    for name, t, facts in [("1 process, 1 thread, fast MLP step (default)", t_fast, f_fast),
                           ("1 process, 1 thread, autograd step", t_auto, f_auto),
                           ("2 processes × 1 thread, torchrun + Gloo (autograd step + DDP)", ddp["seconds"], ddp)]:
        rows.append([name, f"{t:.3f}", f"{facts['cpu']:.3f}", f"{facts['n_train'] / t:,.0f}",
                     f"{facts['val_accuracy']:.3f}"])
    efficiency = t_auto / (2 * ddp["seconds"])
    busy = ddp["cpu"] / ddp["seconds"]
    work = 2 * ddp["cpu"] / f_auto["cpu"]
    return (table(["run", "wall s / epoch (median)", "CPU s / epoch, rank 0", "training rows / s",
                   "val accuracy after the run"], rows)
            + f"\n\nScaling efficiency, 2 processes against 1 on the same (autograd) step: "
              f"t1 / (2 · t2) = {t_auto:.3f} / (2 · {ddp['seconds']:.3f}) = **{efficiency:.0%}**; "
              f"speed-up over trainwell's single-process default: {t_fast / ddp['seconds']:.2f}×. "
              f"Rank 0 computed for {busy:.0%} of each epoch's wall time (the rest it waited for a core "
              f"or for the other rank), and the two ranks together used {work:.1f}× the CPU time of one "
              f"process for the same epoch: every step pays a fixed cost (DDP's reducer, the all-reduce of "
              f"the gradients over TCP, waiting for the other rank) that a 32-row batch of this small "
              f"network cannot hide.\n")


def gpu_section(epochs: int, log) -> str:
    if not torch.cuda.is_available():
        reason = "no CUDA device is visible to torch on this machine"
        log(f"GPU part skipped: {reason}")
        return f"Skipped: {reason}.\n"
    t_one, facts = epoch_seconds(epochs, "cuda")
    rows = [["1 process, 1 GPU", f"{t_one:.3f}", f"{facts['n_train'] / t_one:,.0f}"]]
    n_gpu = torch.cuda.device_count()
    text = ""
    if n_gpu >= 2:
        ddp = torchrun(n_gpu, epochs, "cuda")
        rows.append([f"{n_gpu} processes, {n_gpu} GPUs, NCCL", f"{ddp['seconds']:.3f}", f"{ddp['n_train'] / ddp['seconds']:,.0f}"])
        text = f"\n\nScaling efficiency: {t_one / (n_gpu * ddp['seconds']):.0%}.\n"
    else:
        text = "\n\nOne GPU only: the multi-GPU run needs two or more (NCCL allows one rank per GPU).\n"
    return f"Device: {torch.cuda.get_device_name()}\n\n" + table(["run", "s / epoch (median)", "training rows / s"], rows) + text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8, help="epochs per run (default 8; the first is not timed)")
    parser.add_argument("--out", default=str(HERE / "scaling.md"))
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--device", default="cpu", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.epochs, args.device)
        return 0

    def log(line: str) -> None:
        print(line, flush=True)

    info = machine()
    cpu = cpu_section(args.epochs, log)
    gpu = gpu_section(args.epochs, log)
    lines = ["# Scaling under torchrun (DistributedDataParallel)", "",
             "Written by `python bench/scaling.py`. " + "\n\n".join(__doc__.split("\n\n")[1:4]), "",
             "## Machine", "", *[f"- {k}: {v}" for k, v in info.items()], "",
             "## CPU: 1 process against 2", "", cpu, "",
             "Two processes on a 2-core machine have no core to spare (and here they share them with other "
             "work), and every rank runs the autograd step that DDP needs, which is slower than trainwell's "
             "single-process fast MLP step: on a CPU, one process is the faster way to train this model. "
             "torchrun is for one process per GPU, or per machine.", "",
             "## GPU", "", gpu]
    Path(args.out).write_text("\n".join(lines))
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
