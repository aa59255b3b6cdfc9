"""Which observers a fit runs with, in which order, and the second (fine-tuning) phase of transfer learning.

Order matters: early stopping first (it restores the best weights before anyone reads them
at the end), a checkpoint restored before every other callback starts and saved after the
monitors filled in the epoch's history row, the user's callbacks after trainwell's monitors.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any

import torch

from ..exceptions import ConfigError
from ..train import EarlyStopping, PrintProgress, RunState, StepProfiler, distributed, fit_loop
from ..train.callbacks import Callback
from ..train.checkpoint import Checkpoint, CheckpointSaver


def assemble_callbacks(est: Any, *, validates: bool, generator: torch.Generator,
                       fingerprint: dict[str, Any] | None, resume: bool) -> list[Callback]:
    """The callbacks of a fit of ``est``, in the order the loop must call them.

    Parameters
    ----------
    est : NeuralNetClassifier or NeuralNetRegressor
        Being fitted (its parameters decide which observers run).
    validates : bool
        Whether the fit holds out validation rows (early stopping needs them).
    generator : torch.Generator
        The loop's permutation generator (a checkpoint saves and restores its state).
    fingerprint : dict or None
        What a checkpoint must agree with to be resumed (``None`` without ``checkpoint_dir``).
    resume : bool
        Continue from the checkpoint in ``checkpoint_dir``.
    """
    callbacks = list(est.callbacks or [])
    if est.diagnostics:
        from ..diagnose import default_monitors

        callbacks = default_monitors() + callbacks
    early = EarlyStopping(patience=est.patience) if validates else None
    if est.checkpoint_dir is not None:
        checkpoint = Checkpoint(est.checkpoint_dir, generator, early, fingerprint or {}, resume=resume)
        callbacks = [checkpoint, *callbacks, checkpoint.saver()]
    elif resume:
        raise ConfigError("fit(resume=True) needs checkpoint_dir= set to the folder of the earlier run's checkpoints.")
    if early is not None:
        callbacks.insert(0, early)
    if est.verbose and distributed.is_main_process():
        from ..progress import NotebookProgress, in_notebook

        # in Jupyter one output redrawn in place; elsewhere a printed line per epoch
        callbacks.append(NotebookProgress() if in_notebook() else PrintProgress())
    if est.report is not None and not any(isinstance(cb, StepProfiler) for cb in callbacks):
        callbacks.append(StepProfiler())  # the report's speed section
    if est.tensorboard is not False and distributed.is_main_process():
        from ..report import TensorBoardLogger

        callbacks.append(TensorBoardLogger(None if est.tensorboard is True else est.tensorboard))
    if est.mlflow is not False and distributed.is_main_process():
        from ..report.mlflow_log import MlflowLogger

        logger = MlflowLogger(est.mlflow, estimator=est, end_with_fit=False)
        logger.finishes_with_estimator = True
        callbacks.append(logger)
    return callbacks


@contextlib.contextmanager
def tracked_fit(est: Any) -> Iterator[list[Any]]:
    """Around a fit: end the runs of the MLflow loggers put in the yielded list.

    The fit adds the loggers of :func:`assemble_callbacks` to the list. An exception ends
    their runs as ``FAILED`` (no run is left open); a fit that returns ends them as
    ``FINISHED`` once the findings and the ``report`` folder exist, and logs both first.
    """
    loggers: list[Any] = []
    est.__dict__.pop("mlflow_run_id_", None)  # an earlier fit's
    try:
        yield loggers
    except BaseException:
        for logger in loggers:
            logger.fail()
        raise
    for logger in loggers:
        logger.finish(findings=est.findings_, run_dir=est.report)
        est.mlflow_run_id_ = logger.run_id


def loggers_of(callbacks: list[Callback]) -> list[Any]:
    """The MLflow loggers :func:`assemble_callbacks` added (the estimator ends their runs)."""
    return [cb for cb in callbacks if getattr(cb, "finishes_with_estimator", False)]


def fine_tune_phase(est: Any, run: RunState, callbacks: list[Callback], loop_args: dict[str, Any]) -> RunState:
    """Transfer learning's second phase: unfreeze the body and train everything at ``lr * fine_tune``.

    Early stopping starts afresh (the head-only phase's best loss is no bar for the whole
    network); the checkpoint does not follow (a resumed run restarts the phase it was in).
    """
    est.network_.features.requires_grad_(True)
    config = dataclasses.replace(est.train_config_, lr=est.train_config_.lr * float(est.fine_tune))
    again: list[Callback] = [EarlyStopping(patience=est.patience)] if loop_args["val"] is not None else []
    again += [cb for cb in callbacks if not isinstance(cb, (EarlyStopping, Checkpoint, CheckpointSaver))]
    return fit_loop(est.network_, est.loss_, loop_args["train"], loop_args["val"], config, again,
                    generator=loop_args["generator"], epochs=est.max_epochs, history=run.history,
                    shard=loop_args["shard"], rows=loop_args["rows"])
