"""``trainwell check data.csv --target y``: the sanity and data checks from the command line.

The data are split into training and test rows exactly as ``trainwell fit`` splits them
(same ``--test-fraction`` and ``--seed``), so the overlap check looks at the test rows
``fit`` would score.
"""

from __future__ import annotations

import argparse

from .common import (
    add_training_flags,
    estimator_class,
    estimator_params,
    hold_out,
    read_csv_task,
    read_table,
    split_target,
)

__all__ = ["add_parser", "cmd_check"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``check`` subcommand."""
    p = subparsers.add_parser(
        "check", help="sanity and data checks before training (initial loss, regulariser, overfit 20 rows, data)",
        description="Run trainwell's checks on a CSV file and the network the same flags would train, "
                    "and print the findings, most serious first.",
    )
    p.add_argument("data", help="CSV file with a header row")
    p.add_argument("--target", required=True, help="the column to predict")
    p.add_argument("--task", choices=("auto", "classification", "regression"), default="auto")
    p.add_argument("--test", default=None, help="a CSV of test rows to compare with (default: the --test-fraction split)")
    p.add_argument("--min-severity", choices=("info", "warning", "error"), default="info",
                   help="print only findings at least this serious (default: all)")
    add_training_flags(p)
    p.set_defaults(func=cmd_check)


def cmd_check(args: argparse.Namespace) -> int:
    """Run :func:`trainwell.diagnose.check` for the CSV and flags in ``args``; print the findings."""
    from ..diagnose import check
    from ..diagnose.findings import format_findings

    X, y_values, task = read_csv_task(args.data, args.target, args.task)
    if args.test is not None:
        X_test = split_target(read_table(args.test), args.target)[0]
        X_train, y_train = X, y_values
    else:
        train_idx, test_idx = hold_out(y_values, task, args.test_fraction, args.seed)
        X_train, X_test, y_train = X.iloc[train_idx], X.iloc[test_idx], y_values[train_idx]
    estimator = estimator_class(task)(**estimator_params(args))
    findings = check(estimator, X_train, y_train, X_test, random_state=args.seed)
    print(f"trainwell check: {task} on {args.data}, {len(y_train)} training rows")
    print(format_findings(findings, args.min_severity) or "nothing to report")
    return 0
