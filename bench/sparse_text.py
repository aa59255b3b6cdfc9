"""Text classification on sparse TF-IDF features: trainwell's MLP next to LogisticRegression.

The text ships with Python, so it is offline everywhere: the docstrings of the standard
library's own source files (modules, classes, functions with at least five words), each
labelled with the package it comes from (``asyncio``, ``email``, ``logging``, ...). Which
package wrote a docstring is a real topic-classification task (event loops and futures,
MIME headers, handlers and formatters, ...), with a vocabulary of thousands of words.

``TfidfVectorizer`` turns them into a sparse CSR matrix (about 1 % non-zero); trainwell trains
on it as it is (CSR kept, each batch densified, columns scaled without centring), and
``LogisticRegression`` trains on the same matrix. Both are scored on the same stratified
test split. ``python bench/sparse_text.py`` writes ``bench/sparse_text.md``.
"""

from __future__ import annotations

import argparse
import ast
import os
import platform
import sysconfig
import time
from pathlib import Path

import numpy as np

#: Packages of the standard library present in every CPython since 3.9 (no tkinter, no distutils).
PACKAGES = ("asyncio", "email", "importlib", "logging", "xml", "multiprocessing", "http", "urllib")


def stdlib_docstrings(packages: tuple[str, ...] = PACKAGES, min_words: int = 5) -> tuple[list[str], list[str]]:
    """Docstrings of the standard library's source files and the package each comes from.

    Every module, class and function docstring of at least ``min_words`` words in the
    ``.py`` files under each package's folder (test folders left out), in a fixed order.
    """
    root = Path(sysconfig.get_paths()["stdlib"])
    texts: list[str] = []
    labels: list[str] = []
    for package in packages:
        folder = root / package
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*.py")):
            if any(part.startswith("test") for part in path.relative_to(folder).parts[:-1]):
                continue
            try:
                tree = ast.parse(path.read_text(encoding="utf-8"))
            except (SyntaxError, UnicodeDecodeError):
                continue
            for node in ast.walk(tree):
                if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                    doc = ast.get_docstring(node)
                    if doc and len(doc.split()) >= min_words:
                        texts.append(doc)
                        labels.append(package)
    return texts, labels


def tfidf_split(texts: list[str], labels: list[str], seed: int = 0, min_df: int = 2):
    """``(X_train, X_test, y_train, y_test)``: a stratified 75/25 split, TF-IDF fitted on the training texts."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.model_selection import train_test_split

    t_train, t_test, y_train, y_test = train_test_split(texts, np.array(labels), test_size=0.25, stratify=labels,
                                                        random_state=seed)
    vectorizer = TfidfVectorizer(min_df=min_df, sublinear_tf=True)
    return vectorizer.fit_transform(t_train), vectorizer.transform(t_test), y_train, y_test


def run(seed: int = 0, max_epochs: int = 60) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score

    from trainwell import NeuralNetClassifier

    texts, labels = stdlib_docstrings()
    X_train, X_test, y_train, y_test = tfidf_split(texts, labels, seed)
    rows = {}
    dense = "trainwell, the same matrix densified (X.toarray(): centred scaling)"
    contenders = {
        "trainwell NeuralNetClassifier (CSR, defaults)": NeuralNetClassifier(max_epochs=max_epochs, random_state=seed,
                                                                             device="cpu"),
        dense: NeuralNetClassifier(max_epochs=max_epochs, random_state=seed, device="cpu"),
        "LogisticRegression (default, C=1)": LogisticRegression(max_iter=2000),
        "LogisticRegression (C=10)": LogisticRegression(C=10.0, max_iter=2000),
    }
    # one short fit first: one-time costs (lazy imports, first kernels) are not charged to the first contender
    NeuralNetClassifier(max_epochs=1, random_state=seed, device="cpu").fit(X_train[:200], y_train[:200])
    for name, est in contenders.items():
        Xa, Xb = (X_train.toarray(), X_test.toarray()) if name == dense else (X_train, X_test)
        t0 = time.perf_counter()
        est.fit(Xa, y_train)
        seconds = time.perf_counter() - t0
        pred = est.predict(Xb)
        rows[name] = {"accuracy": accuracy_score(y_test, pred), "macro_f1": f1_score(y_test, pred, average="macro"),
                      "fit_seconds": seconds}
        if hasattr(est, "findings_"):
            rows[name]["findings"] = [f.code for f in est.findings_]
            rows[name]["epochs"] = est.n_iter_
    return {"n_texts": len(texts), "n_classes": len(set(labels)), "shape": X_train.shape,
            "density": X_train.nnz / (X_train.shape[0] * X_train.shape[1]), "rows": rows}


def _markdown(result: dict, seed: int) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    n, d = result["shape"]
    lines = [
        "# Sparse text features: trainwell next to LogisticRegression",
        "",
        f"`python bench/sparse_text.py` (seed {seed}). Text: {result['n_texts']} docstrings of Python "
        f"{platform.python_version()}'s standard library, labelled by package ({result['n_classes']} classes: "
        f"{', '.join(PACKAGES)}); TF-IDF (`min_df=2`, sublinear tf) fitted on the 75 % training split: "
        f"{n} x {d} CSR, {result['density']:.2%} non-zero. Both models see the same sparse matrices.",
        "",
        "| model | test accuracy | macro F1 | fit seconds |",
        "|---|---|---|---|",
    ]
    for name, row in result["rows"].items():
        lines.append(f"| {name} | {row['accuracy']:.3f} | {row['macro_f1']:.3f} | {row['fit_seconds']:.1f} |")
    tw = next(row for name, row in result["rows"].items() if name.startswith("trainwell"))
    lines += [
        "",
        f"trainwell trained {tw['epochs']} epochs (early stopping on its validation split); its findings: "
        f"{', '.join(tw['findings']) or 'none'}. Seconds on {cpu}, {os.cpu_count()} cores shared with other "
        "jobs while this ran: noise, not a speed comparison.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-epochs", type=int, default=60)
    parser.add_argument("--out", default=str(Path(__file__).with_name("sparse_text.md")))
    args = parser.parse_args()
    result = run(args.seed, args.max_epochs)
    text = _markdown(result, args.seed)
    Path(args.out).write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
