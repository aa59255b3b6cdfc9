"""``trainwell check data.csv --target y``: the sanity and data checks from the command line.

The data are split into training and test rows exactly as ``trainwell fit`` splits them
(same ``--test-fraction`` and ``--seed``), so the overlap check looks at the test rows
``fit`` would score. The exit status is 1 when a finding is an error (so a script can stop
before training), 0 otherwise, 2 for bad input.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from .common import (
    TRANSFER,
    add_table_arguments,
    add_training_flags,
    build_estimator,
    estimator_params,
    hold_out,
    read_csv_args,
    read_table,
    saved_index_columns,
    split_target,
)
from .output import finding_record, print_json

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["add_parser", "cmd_check"]

#: Training flags ``check`` has no use for: it trains no full run (no early stopping) and transfers nothing.
IGNORED = ("patience", "early_stopping", "validation_fraction", "sync_batchnorm", "diagnostics", *TRANSFER)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``check`` subcommand."""
    p = subparsers.add_parser(
        "check", help="sanity and data checks before training (initial loss, regulariser, overfit 20 rows, data)",
        description="Run trainwell's checks on a CSV file and the network the same flags would train, "
                    "and print the findings, most serious first.",
        epilog="Exit status 1 when a finding is an error (training would fail or learn nothing), 0 otherwise; "
               "2 for bad input.",
    )
    add_table_arguments(p)
    p.add_argument("--test", default=None, help="a CSV of test rows to compare with (default: the --test-fraction split)")
    p.add_argument("--min-severity", choices=("info", "warning", "error"), default="info",
                   help="print only findings at least this serious (default: all)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object on stdout (task, rows, findings with code/severity/message/advice)")
    add_training_flags(p, leave_out=IGNORED)
    p.set_defaults(func=cmd_check)


def _saved_index_findings(X: pd.DataFrame) -> list[Any]:
    """A warning for each column that looks like a DataFrame index saved with the data."""
    from ..diagnose import Finding

    return [Finding(
        "saved_index", "warning",
        f"Column {column!r} looks like a saved index ({', '.join(str(v) for v in X[column].head(3).tolist())}, …): "
        "row numbers, not a feature.",
        f"Drop it, or pass --drop {column!r} (or save the data with index=False).", {"column": column},
    ) for column in saved_index_columns(X)]


def cmd_check(args: argparse.Namespace) -> int:
    """Run :func:`trainwell.diagnose.check` for the CSV and flags in ``args``; print the findings."""
    from ..diagnose import check
    from ..diagnose.findings import SEVERITY_RANK, format_findings, rank

    X, y_values, task = read_csv_args(args, index_note=False)  # a saved index is a finding here
    if args.test is not None:
        X_test = split_target(read_table(args.test, sep=args.sep, quiet=True), args.target)[0]
        X_train, y_train = X, y_values
    else:
        train_idx, test_idx = hold_out(y_values, task, args.test_fraction, args.seed)
        X_train, X_test, y_train = X.iloc[train_idx], X.iloc[test_idx], y_values[train_idx]
    estimator = build_estimator(task, estimator_params(args))
    findings = rank(_saved_index_findings(X) + check(estimator, X_train, y_train, X_test, random_state=args.seed))
    shown = [f for f in findings if SEVERITY_RANK[f.severity] <= SEVERITY_RANK[args.min_severity]]
    if args.json:
        print_json({"task": task, "data": args.data, "n_train": len(y_train),
                    "findings": [finding_record(f) for f in shown]})
    else:
        # the header is progress (stderr); the findings are the command's result (stdout)
        print(f"trainwell check: {task} on {args.data}, {len(y_train)} training rows", file=sys.stderr)
        print(format_findings(findings, args.min_severity) or "nothing to report")
    return 1 if any(f.severity == "error" for f in findings) else 0
