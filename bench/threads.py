"""When does a second intra-op thread pay? Per-step time of the default MLP at 1 and 2 torch threads.

For each network size (inputs x hidden, batch 128), train the same data for a few epochs
with ``torch.set_num_threads(1)`` and with every core, taking turns, and print the median
seconds per step and the ratio, with the CPU model and flags. The work per step is counted as
multiply-adds of one forward pass (batch x sum of layer in*out): the quantity a thread rule
(issue 22; a first version was built and taken back, see bench/threads.md) would read. Run on a quiet machine; a loaded one shows the other
half of the story (threads spinning against other processes), which ``--load`` adds: a busy
process on every core while timing.

    python bench/threads.py [--load]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import time

import numpy as np
import torch

from bench.common import cpu_model


def _spin(stop) -> None:
    while not stop.is_set():
        sum(i * i for i in range(10_000))


def _step_seconds(n_in: int, hidden: tuple[int, ...], threads: int, rows: int = 4096, epochs: int = 3) -> float:
    from trainwell import NeuralNetClassifier

    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, n_in)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    est = NeuralNetClassifier(hidden=hidden, batch_size=128, max_epochs=epochs, early_stopping=False,
                              diagnostics=False, device="cpu", random_state=0)
    start = time.perf_counter()
    est.fit(X, y)
    return (time.perf_counter() - start) / (epochs * rows / 128)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--load", action="store_true", help="a busy process on every core while timing")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    stop, spinners = mp.Event(), []
    if args.load:
        spinners = [mp.Process(target=_spin, args=(stop,), daemon=True) for _ in range(cores)]
        for p in spinners:
            p.start()
    print(f"CPU: {cpu_model()}; {cores} cores; load {'on' if args.load else 'off'}; torch {torch.__version__}")
    print("| inputs | hidden | MACs/step | 1 thread (ms/step) | all cores (ms/step) | all / 1 |")
    print("|---|---|---|---|---|---|")
    sizes = [(10, (64, 32)), (30, (128, 64)), (100, (256, 128)), (300, (256, 128)), (784, (256, 128)),
             (784, (512, 256)), (2000, (1024, 512))]
    try:
        for n_in, hidden in sizes:
            macs = 128 * sum(a * b for a, b in zip((n_in, *hidden), (*hidden, 2), strict=False))
            one, many = [], []
            for _ in range(3):
                one.append(_step_seconds(n_in, hidden, 1))
                many.append(_step_seconds(n_in, hidden, cores))
            a, b = statistics.median(one) * 1e3, statistics.median(many) * 1e3
            print(f"| {n_in} | {hidden} | {macs:,} | {a:.3f} | {b:.3f} | {b / a:.2f} |")
    finally:
        stop.set()
        for p in spinners:
            p.join()


if __name__ == "__main__":
    main()
