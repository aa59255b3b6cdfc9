"""``bf16=True`` on the CPU against float32: test accuracy and fit time. ``python bench/bf16_accuracy.py``.

Issue 22 asked for bf16's effect on accuracy before recommending it: MNIST-5k with the MLP and the
CNN, digits, and a table (Adult), seeds 0-2, the default estimator otherwise (the MLPs with early
stopping; the CNN 8 epochs). On the CPU an MLP trains on the fast step with bf16 matrix products
(float32 master weights, optimizer, batch norm and loss); a CNN under bf16 autocast on autograd.
The support check is forced on, so a CPU without bf16 instructions (AVX2 only) also runs the bf16
path, emulated by oneDNN: the accuracy is what native bf16 gives, the time is not (slower there).
Prints a markdown table (stdout) and progress (stderr); times are wall seconds of one fit, the
float32 and bf16 fits of a seed run back to back.
"""

from __future__ import annotations

import statistics
import sys
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import trainwell.estimators.building as building
from trainwell import NeuralNetClassifier
from trainwell.data import load_adult, load_mnist5k


def _workloads():
    """(name, kind, X_train, X_test, y_train, y_test, max_epochs) for each workload."""
    X, y = load_mnist5k()
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=1000, random_state=0, stratify=y)
    yield "MNIST-5k MLP", "mlp", Xtr, Xte, ytr, yte, 30
    yield "MNIST-5k CNN", "cnn", Xtr.reshape(-1, 28, 28), Xte.reshape(-1, 28, 28), ytr, yte, 8
    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X.astype(np.float32), y, test_size=0.2, random_state=0, stratify=y)
    yield "digits MLP", "mlp", Xtr, Xte, ytr, yte, 200
    frame = load_adult()
    X, y = frame.drop(columns="income"), frame["income"].to_numpy()
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)
    yield "Adult MLP (table)", "mlp", Xtr, Xte, ytr, yte, 200


def main() -> None:
    building.bf16_supported = lambda device: True  # emulated where the CPU has no bf16 instructions
    print("| workload | seed | float32 accuracy | bf16 accuracy | float32 s | bf16 s | bf16 path |")
    print("|---|---|---|---|---|---|---|")
    summary = []
    for name, kind, Xtr, Xte, ytr, yte, epochs in _workloads():
        acc: dict[bool, list[float]] = {False: [], True: []}
        secs: dict[bool, list[float]] = {False: [], True: []}
        for seed in (0, 1, 2):
            path = ""
            for bf16 in (False, True):
                t = time.perf_counter()
                clf = NeuralNetClassifier(kind=kind, max_epochs=epochs, random_state=seed, device="cpu", bf16=bf16,
                                          verbose=False).fit(Xtr, ytr)
                secs[bf16].append(time.perf_counter() - t)
                acc[bf16].append(clf.score(Xte, yte))
                if bf16:
                    path = "fast step" if clf.run_.fast_path["used"] else "autograd + autocast"
            print(f"| {name} | {seed} | {acc[False][-1]:.4f} | {acc[True][-1]:.4f} | {secs[False][-1]:.1f} | "
                  f"{secs[True][-1]:.1f} | {path} |", flush=True)
            print(f"  {name} seed {seed} done", file=sys.stderr, flush=True)
        summary.append(f"- {name}: mean accuracy {statistics.mean(acc[False]):.4f} (float32, seeds "
                       f"{min(acc[False]):.4f}-{max(acc[False]):.4f}) against {statistics.mean(acc[True]):.4f} (bf16); "
                       f"median fit {statistics.median(secs[False]):.1f} s against {statistics.median(secs[True]):.1f} s "
                       f"({statistics.median(secs[False]) / statistics.median(secs[True]):.2f}x).")
    print()
    print("\n".join(summary))


if __name__ == "__main__":
    main()
