"""The command face of the search: ``trainwell tune`` and ``trainwell lr-find``.

Both read a CSV like ``trainwell fit`` and take its training flags (``--hidden``, ``--lr``,
...) as the defaults that the search space overrides.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from .common import (
    TRANSFER,
    add_table_arguments,
    add_training_flags,
    build_estimator,
    estimator_params,
    hold_out,
    read_csv_args,
    test_metrics,
)
from .report import add_mlflow_flag

__all__ = ["add_parser", "add_parser_lr_find", "cmd_lr_find", "cmd_tune"]

#: Training flags ``tune`` does not use: it transfers nothing and runs no torchrun job.
TUNE_IGNORES = ("sync_batchnorm", *TRANSFER)
#: Training flags ``lr-find`` does not use: it sweeps the rate itself, without a schedule, early
#: stopping or validation rows, on every row (no test split).
LR_FIND_IGNORES = ("lr", "lr_schedule", "max_epochs", "early_stopping", "patience", "validation_fraction",
                   "test_fraction", *TUNE_IGNORES)


def _estimator(args: argparse.Namespace, task: str) -> Any:
    return build_estimator(task, estimator_params(args))


def cmd_tune(args: argparse.Namespace) -> int:
    """``trainwell tune``: search, refit the best configuration, score it on held-out test rows."""
    from rich.console import Console

    from .._files import write_file_atomic
    from ..tune.search import tune
    from ..tune.space import parse_space_strings
    from ..tune.storage import JOURNAL_FILE, STUDY_FILE

    console = Console(stderr=True, highlight=False, quiet=args.quiet, soft_wrap=True)
    X, y, task = read_csv_args(args)
    train_idx, test_idx = hold_out(y, task, args.test_fraction, args.seed)
    rows = X.iloc if hasattr(X, "iloc") else X
    space = parse_space_strings(args.space) if args.space else None
    out = Path(args.out)
    resumed = (out / STUDY_FILE).exists() or (out / JOURNAL_FILE).exists()
    console.print(
        f"[bold]trainwell tune[/bold]: {task} on {args.data}: {len(train_idx)} rows to search on (part of them for "
        f"validation), {len(test_idx)} test rows; {args.trials} trials"
        + (f" on {args.workers} workers" if args.workers > 1 else "")
        + (" (resuming the search in this folder)" if resumed else "")
    )
    estimator = _estimator(args, task)
    if args.mlflow is not False:
        estimator.set_params(mlflow=args.mlflow)  # the search's run, a child run per trial (checked by tune)
    result = tune(
        estimator, rows[train_idx], y[train_idx], space=space, n_trials=args.trials,
        stage1_trials=args.stage1_trials, stage1_epochs=args.stage1_epochs, stage2_epochs=args.stage2_epochs,
        metric=args.metric, sampler=args.sampler, prune=not args.no_prune, workers=args.workers,
        storage=args.storage, out=out, study_name=args.study_name, extend_borders=args.extend_borders,
        random_state=args.seed, timeout=args.timeout, confirm=args.confirm,
        verbose=not args.quiet,
    )
    for line in str(result).splitlines():
        style = "yellow" if line.startswith("warning") else "green" if line[0].isdigit() else "cyan"
        console.print(f"[{style}]{line}[/{style}]")
    metrics = test_metrics(result.best_estimator, rows[test_idx], y[test_idx])
    write_file_atomic(out / "metrics.json", json.dumps(metrics, indent=2))
    shown = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if k != "n_test")
    console.print(f"[bold green]test[/bold green] (best configuration, refit): {shown}")
    console.print(f"run folder: {out}" + (f"; report: {result.report_path}" if result.report_path else ""))
    return 0


def cmd_lr_find(args: argparse.Namespace) -> int:
    """``trainwell lr-find``: the learning-rate range test; prints the answer in words."""
    from ..tune.lrfind import lr_find

    X, y, task = read_csv_args(args)
    plot = args.plot or None
    result = lr_find(_estimator(args, task), X, y, start_lr=args.start_lr, end_lr=args.end_lr, num_steps=args.steps,
                     repeats=args.repeats, random_state=args.seed, plot=plot)
    print(result.message)
    if plot:
        print(f"plot: {plot}")
    return 0


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``trainwell tune`` on an argparse subparsers object."""
    p = subparsers.add_parser(
        "tune", help="search hyperparameters: learning rate first, then the rest (random search on Optuna)",
        description="Search hyperparameters the way the notes teach it: the learning rate alone with short runs, "
        "then every parameter around it with longer runs; warns when a best value lies on the border of its range.",
    )
    add_table_arguments(p)
    p.add_argument("--out", required=True, help="run folder (running the same command again resumes the search)")
    p.add_argument("--trials", type=_positive_int, default=40, help="trials over both stages (default 40)")
    p.add_argument("--space", action="append", default=[], metavar="NAME=SPEC",
                   help="a range NAME=LOW:HIGH[:log] (lr=1e-5:1e-1:log), choices NAME=A|B (hidden=128|256,128) or "
                   "a fixed NAME=VALUE; repeat for each parameter (default: lr, l2, dropout, hidden)")
    p.add_argument("--workers", type=_positive_int, default=1, help="processes on this machine (default 1)")
    p.add_argument("--storage", default=None, help="postgresql://user:pw@host/db to share the search between machines")
    p.add_argument("--study-name", default="trainwell", help="name of the study in the storage (default trainwell)")
    p.add_argument("--extend-borders", action="store_true", help="rerun with widened ranges when a best value is on a border")
    p.add_argument("--sampler", choices=("random", "tpe"), default="random", help="random search (default) or TPE")
    p.add_argument("--metric", choices=("loss", "accuracy", "r2"), default="loss", help="validation value to optimise")
    p.add_argument("--stage1-trials", type=_positive_int, default=None, help="trials of the learning-rate stage (default a third)")
    p.add_argument("--stage1-epochs", type=_positive_int, default=5, help="epochs per learning-rate trial (default 5)")
    p.add_argument("--stage2-epochs", type=_positive_int, default=None, help="most epochs per refine trial (default --max-epochs)")
    p.add_argument("--no-prune", action="store_true", help="never stop hopeless trials early")
    p.add_argument("--confirm", type=int, default=0, metavar="K",
                   help="re-run the top K configurations on repeated folds before choosing the winner")
    p.add_argument("--timeout", type=float, default=None, help="seconds after which a stage starts no new trial")
    p.add_argument("--quiet", action="store_true", help="print nothing")
    add_mlflow_flag(p, "the search (best parameters and score) with a child run per trial")
    add_training_flags(p, leave_out=TUNE_IGNORES)
    p.set_defaults(func=cmd_tune)


def add_parser_lr_find(subparsers: argparse._SubParsersAction) -> None:
    """Register ``trainwell lr-find`` on an argparse subparsers object."""
    p = subparsers.add_parser(
        "lr-find", help="learning-rate range test: a suggested learning rate, or why the curve gives none",
        description="Train while the learning rate grows exponentially, smooth the loss curve, and read a learning "
        "rate off it; repeated with several seeds, and says so in words when the curve gives no clear answer.",
    )
    add_table_arguments(p)
    p.add_argument("--start-lr", type=float, default=1e-7, help="smallest learning rate (default 1e-7)")
    p.add_argument("--end-lr", type=float, default=10.0, help="largest learning rate (default 10)")
    p.add_argument("--steps", type=int, default=200, help="mini-batch steps over the range (default 200)")
    p.add_argument("--repeats", type=int, default=3, help="runs with different seeds that must agree (default 3)")
    p.add_argument("--plot", default="lr_find.png", help="PNG file for the curves (default lr_find.png; '' for none)")
    add_training_flags(p, leave_out=LR_FIND_IGNORES)
    p.set_defaults(func=cmd_lr_find)
