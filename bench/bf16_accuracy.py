"""bf16 autocast on the CPU against float32: test accuracy on MNIST-5k. ``python bench/bf16_accuracy.py``.

The issue asked to measure bf16's effect on accuracy before recommending it. The support
check is forced on, so a CPU without bf16 instructions (AVX2 only) also runs the bf16 path,
emulated by oneDNN: the accuracy is what native bf16 gives, the time is not (it is slower
there). Default estimator, 1,000 stratified test rows, seeds 0-2; the MLP up to 30 epochs
with early stopping, the CNN 8 epochs. Prints one line per fit.
"""

from __future__ import annotations

import time

from sklearn.model_selection import train_test_split

import trainwell.estimators.building as building
from trainwell import NeuralNetClassifier
from trainwell.data import load_mnist5k


def main() -> None:
    X, y = load_mnist5k()
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=1000, random_state=0, stratify=y)
    building.bf16_supported = lambda device: True  # emulated where the CPU has no bf16 instructions
    for kind, (train, test), epochs in [("mlp", (Xtr, Xte), 30),
                                        ("cnn", (Xtr.reshape(-1, 28, 28), Xte.reshape(-1, 28, 28)), 8)]:
        for seed in (0, 1, 2):
            row = []
            for bf16 in (False, True):
                t = time.perf_counter()
                clf = NeuralNetClassifier(kind=kind, max_epochs=epochs, random_state=seed, device="cpu", bf16=bf16,
                                          verbose=False).fit(train, ytr)
                row.append(f"{'bf16' if bf16 else 'fp32'} {clf.score(test, yte):.4f} ({time.perf_counter() - t:.1f} s)")
            print(kind, "seed", seed, ", ".join(row), flush=True)


if __name__ == "__main__":
    main()
