"""The command face of trainwell: ``trainwell demo | fit | predict | info | report | compare | check |
tune | lr-find | lab``.

:mod:`.main` assembles the parser and handles errors, :mod:`.common` holds what the commands
share (reading a table, the target and its task, the held-out test rows, the training flags
from one table of parameters), :mod:`.output` where results go (stdout, or one JSON object with
``--json``; progress and notes on stderr), and each command has its module: :mod:`.fit`, :mod:`.predict`, :mod:`.info`, :mod:`.demo`,
:mod:`.report`, :mod:`.compare`, :mod:`.check`, :mod:`.tune` (with ``lr-find``) and :mod:`.lab`.
Nothing else in trainwell imports this package: it sits on top of every other layer.
"""

from __future__ import annotations

# The names the single-module cli.py had, kept importable from trainwell.cli.
from .common import (
    add_training_flags,
    estimator_params,
    infer_task,
    read_csv_task,
    read_npy,
    read_table,
    split_target,
    target_task,
    test_metrics,
)
from .demo import cmd_demo
from .fit import CHECKPOINT, check_out_dir, cmd_fit, run_fit
from .info import cmd_info
from .main import EXIT_BAD_INPUT, EXIT_INTERNAL, build_parser, main
from .predict import cmd_predict

__all__ = [
    "CHECKPOINT",
    "EXIT_BAD_INPUT",
    "EXIT_INTERNAL",
    "add_training_flags",
    "build_parser",
    "check_out_dir",
    "cmd_demo",
    "cmd_fit",
    "cmd_info",
    "cmd_predict",
    "estimator_params",
    "infer_task",
    "main",
    "read_csv_task",
    "read_npy",
    "read_table",
    "run_fit",
    "split_target",
    "target_task",
    "test_metrics",
]
