"""``trainwell fit``: train on a CSV file, an image folder or ``.npy`` arrays and write a run folder.

:func:`run_fit` is the pipeline ``fit`` and ``demo`` share: split off the test rows, train
with live progress, and hand the fitted estimator to the one run-folder writer
(:func:`trainwell.report.runfolder.write_run`), then say what happened.

Where output goes: the results (test metrics, what the diagnostics noticed, the step-time
advice, the run folder and its report) on stdout; the progress (the header, one line per
epoch), warnings and notes on stderr. With ``--json`` stdout holds one JSON object instead
(:func:`~trainwell.cli.output.fit_result`) and nothing else.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._version import __version__
from ..exceptions import DataError
from .common import (
    add_data_flags,
    add_training_flags,
    check_test_fraction,
    class_codes,
    estimator_class,
    estimator_params,
    hold_out,
    read_npy,
    read_weighted_csv_args,
    target_task,
    test_metrics,
)
from .outdir import CHECKPOINT, check_out_dir
from .output import add_output_flags, print_fit_results, warnings_on
from .report import add_report_flags, finish_tracking, mlflow_tracker, tracking

if TYPE_CHECKING:
    import numpy as np

__all__ = ["CHECKPOINT", "add_parser", "check_out_dir", "cmd_fit", "run_fit"]  # CHECKPOINT, check_out_dir: .outdir

def _check_rows(y: Any, task: str) -> None:
    """Enough rows for a test split, and two of every class (one to train on, one to test)."""
    n = len(y)
    if n < 4:
        raise DataError(f"The data has {n} rows; trainwell needs at least 4 to hold out a test split.")
    codes = class_codes(y, task)
    if codes is not None and 2 * (codes.max() + 1) > n:
        import numpy as np

        quantity = "if the target is a quantity, pass --task regression; otherwise " if np.asarray(y).dtype.kind in "iuf" else ""
        raise DataError(
            f"The data has {n} rows for {codes.max() + 1} classes; each class needs at least two rows "
            f"(one to train on, one to test): {quantity}add rows or merge rare classes."
        )


def _split(X: Any, y: Any, task: str, test_fraction: float, seed: int,
           test: tuple[Any, Any] | None, weights: np.ndarray | None = None) -> tuple[Any, ...]:
    """``(X_train, y_train, X_test, y_test, w_train)``: the test rows split off, or ``test`` as given
    (``X`` then trained on as it is: a memory-mapped array is never copied); ``w_train`` the
    training rows' sample weights (``None`` without ``weights``)."""
    import numpy as np

    if test is not None:
        return X, np.asarray(y), test[0], np.asarray(test[1]), weights
    train_idx, test_idx = hold_out(y, task, test_fraction, seed)
    rows = X.iloc if hasattr(X, "iloc") else X
    y_arr = np.asarray(y)
    return (rows[train_idx], y_arr[train_idx], rows[test_idx], y_arr[test_idx],
            None if weights is None else weights[train_idx])


def _fit_estimator(est: Any, X_train: Any, y_train: Any, resume: bool, console: Any,
                   out_path: Path | None, sample_weight: Any = None) -> float:
    """Fit, showing the warnings on the console (the live progress owns stderr); returns the seconds.

    Interrupted, it says what the checkpoint in ``out_path`` (``None``: say nothing) holds.
    """
    t0 = time.perf_counter()
    try:
        with warnings_on(console):
            est.fit(X_train, y_train, sample_weight=sample_weight, resume=resume)
    except KeyboardInterrupt:
        if out_path is not None:
            print(_interrupted_note(out_path), file=sys.stderr)
        raise
    return time.perf_counter() - t0


def _discard_checkpoint(out_path: Path, created: bool) -> str:
    """After training, the run folder could not be written: leave the earlier state, not a trap.

    The checkpoint holds a finished training; ``--resume`` would only reach the same failure
    again, and a folder holding it refuses every plain rerun. Returns what was done, in words.
    """
    if (out_path / "config.json").exists() and not (out_path / CHECKPOINT).exists():
        return ""  # the writer finished (or an earlier run is in place, untouched): nothing of ours is left
    if created and not (out_path / "config.json").exists():
        shutil.rmtree(out_path, ignore_errors=True)
        return f"the run folder could not be written, so {out_path} was removed; "
    shutil.rmtree(out_path / CHECKPOINT, ignore_errors=True)
    return f"the run folder could not be written, so the trained state in {out_path / CHECKPOINT} was removed; "


def _interrupted_note(out_path: Path) -> str:
    """What an interruption during training left behind, and how to go on."""
    if (out_path / CHECKPOINT / "state.json").is_file():
        return (f"training was interrupted; the run folder was not written, but {out_path / CHECKPOINT} holds the last "
                "finished epoch: run the same command with --resume to continue.")
    return "training was interrupted before its first checkpoint; nothing was written."


def run_fit(X, y, *, task: str, params: dict[str, Any], out: str, test_fraction: float, seed: int,
            quiet: bool, source: str, resume: bool = False, report: bool = True,
            tensorboard: bool = False, test: tuple[Any, Any] | None = None,
            overwrite: bool = False, as_json: bool = False, mlflow: bool | str = False,
            sample_weight: Any = None, keep: list[Any] | None = None) -> dict[str, Any]:
    """Split, train, evaluate and write a run folder atomically, with its report.html.

    Parameters
    ----------
    X, y : array-like
        The rows and their targets (class labels as strings for a classification).
    task : {"classification", "regression"}
    params : dict
        Estimator parameters (:func:`~trainwell.cli.common.estimator_params`).
    out : str
        The run folder: new, with ``overwrite`` an earlier run to replace, or with ``resume``
        an interrupted one.
    test_fraction, seed : float, int
        The held-out test rows, stratified for a classification.
    quiet : bool
        Print no progress and no summary (errors, and with ``as_json`` the JSON, still appear).
    source : str
        Where the data came from, for the console and the report's title.
    resume : bool, default=False
        Continue the interrupted run in ``out`` from its checkpoint.
    report, tensorboard : bool
        Write report.html (and its inputs); write TensorBoard events into ``out/tensorboard``.
    test : (X_test, y_test), optional
        The test rows, instead of splitting them off ``X``: ``X`` is then trained on as it is
        (a memory-mapped array is never copied).
    overwrite : bool, default=False
        Replace the run ``out`` already holds (refused otherwise).
    as_json : bool, default=False
        Print the results as one JSON object on stdout (:func:`~trainwell.cli.output.fit_result`)
        instead of lines.
    mlflow : bool or str, default=False
        Record the run and its folder in MLflow (``True``: ``MLFLOW_TRACKING_URI`` or its default; a URI).
    sample_weight : ndarray of shape (n_samples,), optional
        The rows' weights (``--weight-column``): the training rows' weights go to ``fit``;
        the test metrics stay unweighted.
    keep : list, optional
        The fitted estimator is appended to it (``--fix`` reads its findings).

    Returns
    -------
    dict
        The test metrics, ``fit_seconds``, ``epochs`` and ``best_epoch`` (``metrics.json``).
    """
    from rich.console import Console

    from ..report.html import build_report
    from ..train.distributed import is_main_process

    out_path = check_out_dir(out, resume, overwrite)
    created = not out_path.exists()
    check_test_fraction(test_fraction)
    main = is_main_process()  # under torchrun only rank 0 prints and writes the run folder
    console = Console(stderr=True, highlight=False, quiet=quiet or not main, soft_wrap=True)  # progress, notes
    results = Console(highlight=False, quiet=quiet or as_json or not main, soft_wrap=True)  # stdout
    _check_rows(y, task)
    X_train, y_train, X_test, y_test, w_train = _split(X, y, task, test_fraction, seed, test, sample_weight)
    est, board, tracker = _estimator(task, params, out_path, console, main=main, report=report,
                                     tensorboard=tensorboard, mlflow=mlflow)
    console.print(f"[bold]trainwell {__version__}[/bold]: {task} on {source}: {len(y_train)} training rows "
                  f"(part of them for validation), {len(y_test)} test rows")
    if board is not None:
        console.print(f"TensorBoard events while training: tensorboard --logdir {board.log_dir}")
    with tracking(tracker):
        fit_seconds = _fit_estimator(est, X_train, y_train, resume, console, out_path if main else None, w_train)
        if keep is not None:
            keep.append(est)
        if not main:  # the other ranks score the test rows too, but write nothing
            return {**test_metrics(est, X_test, y_test), "fit_seconds": fit_seconds,
                    "epochs": est.n_iter_, "best_epoch": est.best_epoch_}
        metrics = _write_run(est, out_path, X_test, y_test, console, created=created, source=source, report=report,
                             test_fraction=test_fraction, seed=seed, fit_seconds=fit_seconds, board=board)
        page = build_report(out_path) if report else None
        finish_tracking(tracker, est, out_path, metrics, console)
    print_fit_results(console, results, est, metrics, out_path, page, as_json=as_json, task=task, source=source)
    return metrics


def _estimator(task: str, params: dict[str, Any], out_path: Path, console: Any, *, main: bool, report: bool,
               tensorboard: bool, mlflow: bool | str = False) -> tuple[Any, Any, Any]:
    """The estimator, checkpointing into the run folder, with its observers; the TensorBoard
    logger and the MLflow logger, each ``None`` when not asked for.

    The MLflow logger is fit's own (not the estimator's ``mlflow``), so the run it records ends
    after the run folder is written, with the folder in it.
    """
    from ..progress import LiveProgress
    from ..report.tensorboard import TensorBoardLogger, live_log_dir
    from ..train.step_profile import StepProfiler

    callbacks: list[Any] = [LiveProgress(console, max_epochs=params["max_epochs"])] if main else []
    if report:
        callbacks.append(StepProfiler())  # the report's speed section
    board = TensorBoardLogger(live_log_dir(out_path)) if tensorboard and main else None
    if board is not None:
        callbacks.append(board)
    tracker = mlflow_tracker(mlflow, out_path.name) if main else None
    callbacks += [tracker] if tracker is not None else []
    est = estimator_class(task)(**params, callbacks=callbacks, checkpoint_dir=str(out_path / CHECKPOINT))
    if tracker is not None:
        tracker.estimator = est  # its resolved parameters are logged when training starts
    return est, board, tracker


def _write_run(est: Any, out_path: Path, X_test: Any, y_test: Any, console: Any, *, created: bool,
               board: Any, **options: Any) -> dict[str, Any]:
    """:func:`~trainwell.report.runfolder.write_run`, leaving a usable run or nothing when it fails."""
    from ..report.runfolder import write_run

    try:
        with warnings_on(console):  # e.g. a metric's warning: one line on stderr, not Python's
            return write_run(est, out_path, X_test, y_test, replaceable=(CHECKPOINT,),
                             writers={"tensorboard": board.move_into} if board is not None else None, **options)
    except Exception:
        done = _discard_checkpoint(out_path, created)
        if done:
            print(f"note: {done}fix the cause below and run the same command again.", file=sys.stderr)
        raise


def cmd_fit(args: argparse.Namespace) -> int:
    """Run ``trainwell fit`` on a CSV file, an image folder or a ``.npy`` array."""
    if args.weight_column is not None and (Path(args.data).is_dir() or args.data.endswith(".npy")):
        raise DataError("--weight-column names a column of a CSV file; it does not apply to an image folder or a .npy file.")
    csv_file = not Path(args.data).is_dir() and not args.data.endswith(".npy")
    if csv_file:
        if not args.target:
            raise DataError("--target is required for a CSV file: name the column to predict.")
        # read and checked before the flags are turned into parameters, which imports PyTorch and
        # scikit-learn (2 s): a misspelt column or a bad file is answered in a fraction of that
        X, y_values, task, weights = read_weighted_csv_args(args)
    params = estimator_params(args)
    if args.pretrained:
        params["pretrained"] = args.pretrained
    if Path(args.data).is_dir():
        from ..data.images import load_image_folder

        images = load_image_folder(args.data, skip_bad=args.skip_bad)
        if images.skipped and not args.quiet:
            print(f"skipped {len(images.skipped)} unreadable image(s)", file=sys.stderr)
        run_fit(images.X, images.y.astype(str), task="classification", params=params, out=args.out,
                test_fraction=args.test_fraction, seed=args.seed, quiet=args.quiet,
                source=f"{args.data} ({len(images.y)} images)", resume=args.resume,
                report=not args.no_report, tensorboard=args.tensorboard, overwrite=args.overwrite, as_json=args.json,
                mlflow=args.mlflow)
        return 0
    if args.data.endswith(".npy"):
        return _fit_arrays(args, params)
    fitted: list[Any] = []
    if args.fix:  # refuse an --out-fixed this run could not write before training the first run, not after
        check_out_dir(f"{args.out}-fixed", False, args.overwrite)
    common = {"task": task, "test_fraction": args.test_fraction, "seed": args.seed, "quiet": args.quiet,
              "source": args.data, "report": not args.no_report, "tensorboard": args.tensorboard,
              "overwrite": args.overwrite, "as_json": args.json, "mlflow": args.mlflow, "sample_weight": weights}
    metrics = run_fit(X, y_values, params=params, out=args.out, resume=args.resume, keep=fitted, **common)
    if args.fix and fitted:
        from .fixrun import fix_round

        fix_round(lambda p, out: run_fit(X, y_values, params=p, out=out, **common), params, args.out,
                  fitted[0], metrics, quiet=args.quiet, as_json=args.json)
    return 0


def _test_arrays(args: argparse.Namespace, X: np.ndarray, y: np.ndarray) -> tuple[Any, Any] | None:
    """``--test`` and ``--test-labels``, memory-mapped and checked against the data; ``None`` without them."""
    if not (args.test or args.test_labels):
        return None
    if not (args.test and args.test_labels):
        raise DataError("--test and --test-labels go together: give the test rows and their targets.")
    X_test = read_npy(args.test, "--test")
    y_test = read_npy(args.test_labels, "--test-labels", mapped=False)
    if len(y_test) != X_test.shape[0] or X_test.shape[1:] != X.shape[1:]:
        raise DataError(f"--test {args.test} must hold rows shaped like the data's {X.shape[1:]}, one per "
                        f"--test-labels value; it holds {X_test.shape} for {len(y_test)} labels.")
    return X_test, y_test.astype(str) if y.dtype.kind == "U" else y_test


def _fit_arrays(args: argparse.Namespace, params: dict[str, Any]) -> int:
    """``trainwell fit X.npy --labels y.npy [--test X_test.npy --test-labels y_test.npy]``.

    X stays memory-mapped: with ``--test`` it is trained on in place (data larger than
    memory); without, the test rows are split off and both parts are copied into memory.
    """
    import pandas as pd
    if not args.labels:
        raise DataError("--labels is required for a .npy file: give the .npy file of the targets, one per row.")
    X = read_npy(args.data, "the data file")
    labels = read_npy(args.labels, "--labels", mapped=False)
    if labels.ndim != 1:
        raise DataError(f"--labels {args.labels} has shape {labels.shape}; give one label or value per row (a 1-D array).")
    y, task = target_task(pd.Series(labels), args.task, f"--labels {args.labels}")
    if len(y) != X.shape[0]:
        raise DataError(f"{args.data} has {X.shape[0]} rows but --labels {args.labels} has {len(y)}; they must match.")
    test = _test_arrays(args, X, y)
    if test is None:
        # the test rows are split off here, before the estimator sees the data: look at every row
        # now, so a bad value is named at its row of the user's array (a CSV is looked at as it is read)
        from ..data import find_non_finite, non_finite_message

        # NaN of a table is a missing value the estimator fills (missing="auto", an MLP); only inf is refused then
        fills = str(params.get("missing", "auto")).lower() == "auto" and X.ndim == 2 and params.get("kind") != "cnn"
        found = find_non_finite(X, nan=not fills)
        if found is not None:
            raise DataError(non_finite_message(found, name=args.data, row="row {row}"))
    run_fit(X, y, task=task, params=params, out=args.out, test_fraction=args.test_fraction, seed=args.seed,
            quiet=args.quiet, source=f"{args.data} ({X.shape[0]} rows, {'memory-mapped' if test else 'in memory'})",
            resume=args.resume, report=not args.no_report, tensorboard=args.tensorboard, test=test,
            overwrite=args.overwrite, as_json=args.json, mlflow=args.mlflow)
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``trainwell fit`` on the CLI's subparsers."""
    p = subparsers.add_parser("fit", help="train on a CSV file or an image folder and write a run folder")
    p.add_argument("data", help="CSV file with a header row, a folder with one sub-folder of images per class, "
                                "or a .npy array of samples (memory-mapped)")
    p.add_argument("--target", default=None, help="the column to predict (CSV files)")
    p.add_argument("--labels", default=None, help="the targets, one per row, as a .npy file (with .npy data)")
    p.add_argument("--test", default=None,
                   help="test rows as a .npy file (with .npy data): nothing is split off, the data is trained on in place")
    p.add_argument("--test-labels", default=None, help="the targets of --test, as a .npy file")
    p.add_argument("--from", dest="pretrained", default=None,
                   help="transfer learning: start from this run or model folder (new head, body fine-tuned)")
    p.add_argument("--skip-bad", action="store_true", help="skip unreadable images (and count them) instead of failing")
    p.add_argument("--out", required=True, help="run folder to write (refused if it holds a run, unless --overwrite)")
    p.add_argument("--overwrite", action="store_true", help="replace the run --out already holds")
    p.add_argument("--fix", action="store_true",
                   help="then apply the top finding's fix, train again on the same split and seed into OUT-fixed, "
                        "and say whether it helped (CSV data)")
    add_data_flags(p)  # --task, --sep, --drop
    p.add_argument("--weight-column", default=None, metavar="COL",
                   help="a CSV column of sample weights (how much each row counts); it is not a feature")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in --out from its last checkpoint")
    add_output_flags(p)
    add_training_flags(p)
    add_report_flags(p)
    p.set_defaults(func=cmd_fit)

