"""Why a small table's fit takes longer in trainwell than in scikit-learn's MLP: steps, not step cost.

    python -m bench.steps_per_fit [--tables iris,wine] [--seed 0] [--out bench/steps_per_fit.md]

For each table of :mod:`bench.tabular` (seed 0's 80/20 split, defaults of both libraries, one
thread, the faster of two identical fits): how many optimizer steps each fit took, and its
fit time per step. trainwell's steps are its epochs times its batches per epoch
(``batch_size="auto"`` on the rows left after its validation split); scikit-learn's MLP
(``early_stopping=True``, as in the bench) takes ``n_iter_`` epochs of ``batch_size =
min(200, rows)`` on the 90 % it keeps from its own 10 % validation split. Time per step is
the whole fit's (validation passes, monitors and preprocessing included) over its steps, so
it is an upper bound on the step itself.

The report goes to stdout (or ``--out``); progress to stderr.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
import warnings

import numpy as np
import pandas as pd

from .startup import cpu_model_and_flags
from .tabular import TABLES, load_table, make_model


def _fit_timed(model, X: pd.DataFrame, y: np.ndarray, repeats: int = 2):
    """The faster of ``repeats`` fits of fresh copies of ``model`` (the same seed: the same fit)."""
    from sklearn.base import clone

    best, fitted = math.inf, None
    for _ in range(repeats):
        m = clone(model) if hasattr(model, "get_params") else model
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m.fit(X, y)
        took = time.perf_counter() - start
        if took < best:
            best, fitted = took, m
    return best, fitted


def _trainwell_steps(model) -> tuple[int, int]:
    """Epochs and steps of a fitted trainwell estimator."""
    epochs = len(model.history_)
    return epochs, epochs * math.ceil(model.n_train_ / model.train_config_.batch_size)


def _sklearn_steps(pipeline, n_rows: int) -> tuple[int, int]:
    """Epochs and steps of a fitted scikit-learn MLP inside :class:`bench.tabular._Pipeline`."""
    mlp = pipeline.pipe[-1]
    kept = n_rows - math.ceil(mlp.validation_fraction * n_rows) if mlp.early_stopping else n_rows
    batch = min(200, kept) if mlp.batch_size == "auto" else mlp.batch_size
    return mlp.n_iter_, mlp.n_iter_ * math.ceil(kept / batch)


def measure(table_name: str, seed: int) -> dict[str, float]:
    """Steps and seconds of trainwell's and scikit-learn MLP's default fits on one table."""
    from sklearn.model_selection import train_test_split

    table = load_table(table_name)
    stratify = table.y if table.task == "classification" else None
    X_train, _, y_train, _ = train_test_split(table.X, table.y, test_size=0.2, random_state=seed, stratify=stratify)
    row: dict[str, float] = {"table": table_name, "rows": len(X_train)}
    tw_s, tw = _fit_timed(make_model("trainwell", table.task, seed, X_train), X_train, y_train)
    row["tw_epochs"], row["tw_steps"] = _trainwell_steps(tw)
    sk_s = math.inf
    for _ in range(2):  # _Pipeline is not a scikit-learn estimator: a fresh one per fit
        took, sk_model = _fit_timed(make_model("sklearn_mlp", table.task, seed, X_train), X_train, y_train, 1)
        if took < sk_s:
            sk_s, sk = took, sk_model
    row["sk_epochs"], row["sk_steps"] = _sklearn_steps(sk, len(X_train))
    row.update(tw_s=tw_s, sk_s=sk_s)
    return row


def markdown(rows: list[dict[str, float]], seed: int) -> str:
    """The report: one row per table, then the medians."""
    model, flags = cpu_model_and_flags()
    isa = ", ".join(f for f in ("avx2", "avx512f", "avx512_bf16", "amx_tile") if f in flags.split())
    lines = [f"# Steps per fit: trainwell against scikit-learn's MLP (seed {seed})", "",
             f"`python -m bench.steps_per_fit` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
             f"CPU: {model} ({isa}); one thread. See the module's docstring for how steps are counted.", "",
             "| table | training rows | trainwell epochs | trainwell steps | trainwell fit s | µs / step | "
             "sklearn MLP epochs | sklearn MLP steps | sklearn MLP fit s | µs / step | time ratio | step ratio |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['table']} | {r['rows']:,} | {r['tw_epochs']} | {r['tw_steps']:,} | {r['tw_s']:.3f} | "
            f"{r['tw_s'] / r['tw_steps'] * 1e6:,.0f} | {r['sk_epochs']} | {r['sk_steps']:,} | {r['sk_s']:.3f} | "
            f"{r['sk_s'] / r['sk_steps'] * 1e6:,.0f} | {r['tw_s'] / r['sk_s']:.2f}x | "
            f"{r['tw_steps'] / r['sk_steps']:.1f}x |")
    med = {k: statistics.median(r[k] for r in rows) for k in ("tw_s", "sk_s")}
    time_ratio = statistics.median(r["tw_s"] / r["sk_s"] for r in rows)
    step_ratio = statistics.median(r["tw_steps"] / r["sk_steps"] for r in rows)
    per_step = statistics.median((r["tw_s"] / r["tw_steps"]) / (r["sk_s"] / r["sk_steps"]) for r in rows)
    lines += ["", f"Medians over the {len(rows)} tables: fit {med['tw_s']:.3f} s against {med['sk_s']:.3f} s; "
              f"time ratio **{time_ratio:.2f}x**, step ratio **{step_ratio:.1f}x**, time per step "
              f"**{per_step:.2f}x** scikit-learn's."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.steps_per_fit", description=__doc__.split("\n")[0])
    parser.add_argument("--tables", default=",".join(TABLES), help="comma-separated table names")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="write the report here instead of stdout")
    args = parser.parse_args(argv)
    names = [t for t in args.tables.split(",") if t]
    unknown = [t for t in names if t not in TABLES]
    if unknown:
        print(f"error: unknown table {unknown[0]!r}; choose from {', '.join(TABLES)}.", file=sys.stderr)
        return 2
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    rows = []
    with threadpool_limits(1):
        for name in names:
            print(f"  {name} ...", file=sys.stderr, flush=True)
            rows.append(measure(name, args.seed))
    text = markdown(rows, args.seed)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
