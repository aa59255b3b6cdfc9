"""When does a second intra-op thread pay? Per-step time of the default MLP at 1 and 2 torch threads.

For each network size (inputs x hidden, batch 128), train the same data for a few epochs
with ``torch.set_num_threads(1)`` and with every core, taking turns, and print the median
seconds per step and the ratio, with the CPU model and flags. The work per step is counted as
multiply-adds of one forward pass (batch x sum of layer in*out): the quantity a thread rule
(``threads="auto"``, trainwell/train/threads.py) reads. Run on a quiet machine; a loaded one
shows the other half of the story (threads spinning against other processes), which ``--load``
(or ``--loaded``) adds: a busy process on every core while timing, started and stopped here.

A second table times the policy itself on small real tables (``threads="auto"`` against one
thread and every core, the three taking turns): issue 22's target is auto within 1.3x of one
thread on a loaded machine, and no slower than every core on the 784-256-128 MLP when quiet.

    python bench/threads.py [--load] [--policy-only]
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

    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, n_in)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    est = NeuralNetClassifier(hidden=hidden, batch_size=128, max_epochs=epochs, early_stopping=False,
                              diagnostics=False, device="cpu", random_state=0, threads=threads)
    start = time.perf_counter()
    est.fit(X, y)
    return (time.perf_counter() - start) / (epochs * rows / 128)


def _tables() -> list[tuple[str, object, np.ndarray]]:
    """Small real tables (offline): the fits issue 22 saw slowed down by busy cores."""
    from sklearn.datasets import load_breast_cancer, load_digits

    tables = [("breast_cancer (569 rows)", *load_breast_cancer(return_X_y=True)),
              ("digits (1,797 rows)", *load_digits(return_X_y=True))]
    try:
        from trainwell.data import load_adult

        adult = load_adult().sample(2500, random_state=0)
        tables.append(("adult (2,500 rows)", adult.drop(columns="income"), adult["income"].to_numpy()))
    except ImportError:
        pass
    rng = np.random.default_rng(0)
    X = rng.normal(size=(8192, 784)).astype(np.float32)
    tables.append(("784-256-128 MLP (8,192 rows)", X, (X[:, 0] > 0).astype(np.int64)))
    return tables


def _fit_seconds(X, y, threads) -> float:
    from trainwell import NeuralNetClassifier

    hidden = (256, 128) if getattr(X, "shape", (0, 0))[1] == 784 else "auto"
    est = NeuralNetClassifier(hidden=hidden, max_epochs=10, early_stopping=False, diagnostics=False, device="cpu",
                              random_state=0, threads=threads)
    start = time.perf_counter()
    est.fit(X, y)
    return time.perf_counter() - start


def policy_table(cores: int) -> None:
    """Fit time of threads="auto" against one thread and every core, on small real tables."""
    print(f"| table | 1 thread (s) | {cores} threads (s) | auto (s) | auto / 1 | auto / {cores} |")
    print("|---|---|---|---|---|---|")
    for name, X, y in _tables():
        times: dict[object, list[float]] = {1: [], cores: [], "auto": []}
        for _ in range(3):
            for threads in times:
                times[threads].append(_fit_seconds(X, y, threads))
        one, many, auto = (statistics.median(times[k]) for k in (1, cores, "auto"))
        print(f"| {name} | {one:.2f} | {many:.2f} | {auto:.2f} | {auto / one:.2f} | {auto / many:.2f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--load", "--loaded", action="store_true", help="a busy process on every core while timing")
    parser.add_argument("--policy-only", action="store_true", help="only the table of threads='auto' on real tables")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    stop, spinners = mp.Event(), []
    if args.load:
        spinners = [mp.Process(target=_spin, args=(stop,), daemon=True) for _ in range(cores)]
        for p in spinners:
            p.start()
    print(f"CPU: {cpu_model()}; {cores} cores; load {'on' if args.load else 'off'}; torch {torch.__version__}; "
          f"load average {os.getloadavg()[0]:.1f} at start")
    sizes = [(10, (64, 32)), (30, (128, 64)), (100, (256, 128)), (300, (256, 128)), (784, (256, 128)),
             (784, (512, 256)), (2000, (1024, 512))]
    try:
        policy_table(cores)
        if args.policy_only:
            return
        print()
        print("| inputs | hidden | MACs/step | 1 thread (ms/step) | all cores (ms/step) | all / 1 |")
        print("|---|---|---|---|---|---|")
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
