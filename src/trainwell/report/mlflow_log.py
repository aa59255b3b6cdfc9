"""MLflow tracking of a fit: resolved parameters, per-epoch metrics, findings, the run folder.

``mlflow=True`` on an estimator (or ``trainwell fit --mlflow``) records each fit as an MLflow
run through :class:`MlflowLogger`, a training callback: the **parameters** once, when training
starts, each ``"auto"`` replaced by what it became (the ``resolved`` block of a run folder's
``config.json``); every number of each epoch's history row as **metrics** (step = epoch); when
the fit ends, the **findings** (artifact ``findings.json``, tag ``trainwell.findings`` and metric
``findings``: their count) and the **run folder**, when there is one, under ``run/``. A fit that
raises ends its run ``FAILED``: none is left open. Only :class:`mlflow.tracking.MlflowClient` is
used, so MLflow's global state (tracking URI, active run and experiment) is never changed.

Where: ``True`` is MLflow's own choice, ``MLFLOW_TRACKING_URI`` when set, else its default, in
MLflow 3 the SQLite file ``./mlflow.db`` (artifacts in ``./mlruns/``), which works offline with
no server; MLflow 3 keeps the older plain-folder store in maintenance mode and refuses it unless
``MLFLOW_ALLOW_FILE_STORE=true``. A string is the tracking URI. Which experiment: a parent's
(:func:`nested_under`), else that of the run the calling code has active on the same store (the
fit becomes its child), else ``MLFLOW_EXPERIMENT_ID`` / ``_NAME``, else ``Default``.

``mlflow`` is imported only here, and only when a run is started.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import json
import math
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._files import jsonable
from .._version import __version__
from ..exceptions import ConfigError
from ..train.callbacks import Callback, RunState

__all__ = ["MlflowLogger", "ParentRun", "nested_under", "resolved_params", "set_run_tags", "start_parent_run",
           "tracking_uri"]

#: Parameters that are not settings of the model (as in a run folder's ``config.json``).
_UNLOGGED = ("callbacks", "checkpoint_dir")
#: Seconds between writes of the epochs' metrics: an epoch shorter than that waits in a buffer
#: (written at the latest when the run ends), so fast epochs do not each pay a write to the
#: store (a SQLite write measured 46 ms on a busy 2-core machine, longer than a small epoch).
WRITE_EVERY = 2.0
_PARENT_TAG = "mlflow.parentRunId"  # mlflow.utils.mlflow_tags.MLFLOW_PARENT_RUN_ID


def _mlflow() -> Any:
    try:
        import mlflow
    except ImportError:
        raise ConfigError("mlflow=True needs the mlflow package; install it with "
                          "'pip install trainwell[mlflow]' (or 'pip install mlflow-skinny').") from None
    return mlflow


def tracking_uri(value: bool | str | os.PathLike) -> str:
    """The tracking URI ``mlflow=value`` stands for.

    ``True`` is MLflow's own choice: ``MLFLOW_TRACKING_URI`` when set, else its default (in
    MLflow 3 ``sqlite:///mlflow.db`` in the working folder). A string is the URI as given.
    """
    if value is True:
        return str(_mlflow().get_tracking_uri())
    return os.fspath(value)


def _unreachable(uri: str, exc: BaseException) -> ConfigError:
    """One sentence for a store that cannot be opened or written (MLflow's own words, first line only)."""
    reason = " ".join(str(exc).strip().splitlines()[:1])[:300] or type(exc).__name__
    return ConfigError(f"MLflow could not record the run in {uri!r} ({reason.rstrip('.')}); check the tracking "
                       "URI (mlflow=, --mlflow or MLFLOW_TRACKING_URI), that its folder is writable or its server running.")


def resolved_params(est: Any, n_train: int, n_val: int) -> dict[str, str]:
    """The estimator's parameters as MLflow params, each ``"auto"`` replaced by what it became.

    Parameters
    ----------
    est : NeuralNetClassifier or NeuralNetRegressor
        Built for this fit (``spec_``, ``train_config_``, ``loss_``, ``device_`` set).
    n_train, n_val : int
        Training and validation rows of this fit.

    Returns
    -------
    dict of str to str
        What :func:`trainwell.report.runfolder.run_config` records as ``params``, overridden
        by its ``resolved`` block and by the ``scaling``, ``augment`` (and a regressor's
        ``target_scaling``) chosen, plus ``estimator``, ``n_train`` and ``n_val``.
    """
    from .runfolder import resolved_settings

    params = {k: v for k, v in est.get_params(deep=False).items() if k not in _UNLOGGED}
    params.update(resolved_settings(est, n_train, n_val))
    if hasattr(est, "augment_"):
        params["augment"] = est.augment_.describe() if est.augment_ is not None else "none"
    transform, target = getattr(est, "transform_", None), getattr(est, "target_scaler_", None)
    if transform is not None:
        params["scaling"] = transform.scaling
    if target is not None and "target_scaling" in params:
        params["target_scaling"] = target.mode
    params.update(estimator=type(est).__name__, n_train=n_train, n_val=n_val)
    return {name: str(value) for name, value in jsonable(params).items()}


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass
class ParentRun:
    """An MLflow run that others nest under (a search's), picklable for worker processes.

    Attributes
    ----------
    uri : str
        Tracking URI of the parent (its children are recorded there too).
    run_id, experiment_id : str
    children : list of str
        Run ids of the children started in this process while it was the parent.
    """

    uri: str
    run_id: str
    experiment_id: str
    children: list[str] = field(default_factory=list)
    name: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


_PARENT: contextvars.ContextVar[ParentRun | None] = contextvars.ContextVar("trainwell_mlflow_parent", default=None)


@contextlib.contextmanager
def nested_under(parent: ParentRun | None, name: str | None = None,
                 tags: dict[str, str] | None = None) -> Iterator[ParentRun | None]:
    """Within the block, fits tracked with MLflow start their runs as children of ``parent``.

    ``name`` and ``tags`` go to the child runs started in the block. ``parent=None`` changes
    nothing. Yields ``parent``, whose ``children`` lists the runs started under it.
    """
    if parent is None:
        yield None
        return
    scoped = dataclasses.replace(parent, name=name, tags=dict(tags or {}))
    token = _PARENT.set(scoped)
    try:
        yield scoped
    finally:
        _PARENT.reset(token)
        parent.children += [c for c in scoped.children if c not in parent.children]


def _experiment_id(client: Any) -> str:
    """``MLFLOW_EXPERIMENT_ID``, else ``MLFLOW_EXPERIMENT_NAME`` (made if new), else ``Default``."""
    if os.environ.get("MLFLOW_EXPERIMENT_ID"):
        return os.environ["MLFLOW_EXPERIMENT_ID"]
    name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or "Default"
    experiment = client.get_experiment_by_name(name)
    return experiment.experiment_id if experiment is not None else client.create_experiment(name)


def _active_parent(uri: str, mlflow: Any) -> tuple[str, str] | None:
    """The run the calling code has open with ``mlflow.start_run()``, when it tracks to ``uri``."""
    active = mlflow.active_run()
    if active is None or tracking_uri(True) != uri:
        return None
    return active.info.run_id, active.info.experiment_id


def _start(uri: str, name: str | None, tags: dict[str, str], parent: ParentRun | None) -> tuple[Any, Any]:
    """A client on ``uri`` and a new run there: ``(client, run)``; one sentence if the store fails."""
    mlflow = _mlflow()
    from mlflow.tracking import MlflowClient

    try:
        client = MlflowClient(tracking_uri=uri)
        if parent is not None:
            experiment, tags = parent.experiment_id, {**parent.tags, **tags, _PARENT_TAG: parent.run_id}
            name = parent.name or name
        else:
            outer = _active_parent(uri, mlflow)
            experiment = outer[1] if outer else _experiment_id(client)
            if outer:
                tags = {**tags, _PARENT_TAG: outer[0]}
        run = client.create_run(experiment, run_name=name, tags=tags)
    except ConfigError:
        raise
    except Exception as exc:
        raise _unreachable(uri, exc) from None
    if parent is not None:
        parent.children.append(run.info.run_id)
    return client, run


class MlflowLogger(Callback):
    """Record a fit as an MLflow run: resolved parameters, per-epoch metrics, findings, run folder.

    Parameters
    ----------
    uri : True, str or path-like, default=True
        Where: ``True`` is ``MLFLOW_TRACKING_URI`` or MLflow's default (``sqlite:///mlflow.db``).
    estimator : NeuralNetClassifier or NeuralNetRegressor, optional
        Whose parameters to log (resolved) when training starts; without it none are logged.
    run_name : str, optional
        The run's name (MLflow makes one up by default).
    tags : dict of str to str, optional
        More tags of the run.
    end_with_fit : bool, default=True
        End the run when training ends. The estimators pass ``False`` and call
        :meth:`finish` once the findings and run folder exist; ``trainwell fit`` too.

    Attributes
    ----------
    run_id, experiment_id : str or None
        The MLflow run and its experiment, once training started.
    uri : str
        The tracking URI, resolved when training starts.
    """

    #: The estimators finish a logger of their own after the findings and report (estimators/callbacks.py).
    finishes_with_estimator = False

    def __init__(self, uri: bool | str | os.PathLike = True, *, estimator: Any = None, run_name: str | None = None,
                 tags: dict[str, str] | None = None, end_with_fit: bool = True) -> None:
        self.uri: Any = uri
        self.estimator = estimator
        self.run_name = run_name
        self.tags = dict(tags or {})
        self.end_with_fit = end_with_fit
        self.run_id: str | None = None
        self.experiment_id: str | None = None
        self._client: Any = None
        self._ended = False
        self._buffer: list[Any] = []
        self._written = 0.0  # when the buffer was last written (time.monotonic)

    # ------------------------------------------------------------ training events
    def on_fit_begin(self, run: RunState) -> None:
        if self.run_id is not None and not self._ended:  # a second phase of the fit (fine-tuning): same run
            return
        self.start()
        if self.estimator is not None:
            self.log_params(resolved_params(self.estimator, run.n_train, run.n_val))

    def start(self) -> str:
        """Start a new run (training does, when it starts) and return its id.

        Under :func:`nested_under` it is a child of that parent, in the parent's store.
        """
        parent = _PARENT.get()
        self.uri = parent.uri if parent is not None else tracking_uri(self.uri)  # children live with their parent
        tags = {"trainwell.version": __version__, "mlflow.source.name": "trainwell", **self.tags}
        if self.estimator is not None:
            tags["trainwell.estimator"] = type(self.estimator).__name__
        self._client, started = _start(self.uri, self.run_name, tags, parent)
        self.run_id, self.experiment_id = started.info.run_id, started.info.experiment_id
        self._ended, self._buffer, self._written = False, [], 0.0
        return self.run_id

    def log_params(self, params: dict[str, Any]) -> None:
        """Log ``params`` on the run (values as text, as MLflow keeps them)."""
        from mlflow.entities import Param

        items = [Param(str(k), str(v)[:6000]) for k, v in jsonable(params).items()]
        for start in range(0, len(items), 100):  # MLflow takes at most 100 params per batch
            self._guarded(self._client.log_batch, self.run_id, params=items[start:start + 100])

    def on_epoch_end(self, run: RunState) -> None:
        if self._client is None or self._ended:
            return
        from mlflow.entities import Metric

        row = run.history[-1]
        step = int(row.get("epoch", run.epoch))
        stamp = int(time.time() * 1000)
        metrics = [Metric(key, float(value), stamp, step) for key, value in row.items()
                   if _number(value) and key != "epoch"]
        self._buffer += metrics
        if time.monotonic() - self._written >= WRITE_EVERY:
            self._guarded(self._flush)

    def _flush(self) -> None:
        """Write the buffered epochs' metrics (MLflow takes at most 1000 per batch)."""
        buffer, self._buffer = self._buffer, []
        for start in range(0, len(buffer), 1000):
            self._client.log_batch(self.run_id, metrics=buffer[start:start + 1000])
        self._written = time.monotonic()

    def on_fit_end(self, run: RunState) -> None:
        if self.end_with_fit:
            self.finish()

    # ------------------------------------------------------------ the end of a run
    def finish(self, findings: Sequence[Any] | None = None, run_dir: str | os.PathLike | None = None,
               extra: dict[str, float] | None = None) -> None:
        """Log the findings and the run folder, and end the run as ``FINISHED`` (once).

        Parameters
        ----------
        findings : sequence of Finding, optional
            Logged as ``findings.json``, counted in the tag ``trainwell.findings`` and the metric ``findings``.
        run_dir : str or path-like, optional
            A run folder, logged as artifacts under ``run/``.
        extra : dict of str to float, optional
            More metrics of the whole run (logged without a step).
        """
        if self._client is None or self._ended:
            return
        self._guarded(self._log_end, findings, run_dir, extra)
        self._terminate("FINISHED")

    def _log_end(self, findings: Sequence[Any] | None, run_dir: str | os.PathLike | None,
                 extra: dict[str, float] | None) -> None:
        from mlflow.entities import Metric, RunTag

        stamp = int(time.time() * 1000)
        metrics = [Metric(k, float(v), stamp, 0) for k, v in (extra or {}).items() if _number(v) and math.isfinite(v)]
        tags = []
        if findings is not None:
            records = [dataclasses.asdict(f) if dataclasses.is_dataclass(f) else f for f in findings]
            self._client.log_text(self.run_id, json.dumps(jsonable(records), indent=2, default=str), "findings.json")
            tags = [RunTag("trainwell.findings", str(len(records)))]
            tags += [RunTag(f"trainwell.findings.{severity}", str(sum(r.get("severity") == severity for r in records)))
                     for severity in ("error", "warning")]
            metrics.append(Metric("findings", float(len(records)), stamp, 0))
        self._buffer += metrics
        for start in range(0, max(len(self._buffer), 1), 1000):  # the epochs not yet written, in one batch
            self._client.log_batch(self.run_id, metrics=self._buffer[start:start + 1000], tags=tags if start == 0 else [])
        self._buffer = []
        if run_dir is not None and Path(run_dir).is_dir():
            self._client.log_artifacts(self.run_id, os.fspath(run_dir), artifact_path="run")

    def fail(self) -> None:
        """End the run as ``FAILED`` (after an exception); never raises, so the first error stays the one shown."""
        if self._client is None or self._ended:
            return
        with contextlib.suppress(Exception):
            self._flush()
        with contextlib.suppress(Exception):
            self._terminate("FAILED")
        self._ended = True

    def _terminate(self, status: str) -> None:
        self._ended = True
        try:
            self._client.set_terminated(self.run_id, status=status)
        except Exception as exc:
            raise _unreachable(self.uri, exc) from None

    def _guarded(self, call: Any, *args: Any, **kwargs: Any) -> Any:
        """``call`` with a store error as one sentence, the run ended ``FAILED`` first."""
        try:
            return call(*args, **kwargs)
        except Exception as exc:
            self.fail()
            raise _unreachable(self.uri, exc) from None

    @contextlib.contextmanager
    def failing_on_error(self) -> Iterator[MlflowLogger]:
        """Within the block, an exception ends the run as ``FAILED`` before it propagates."""
        try:
            yield self
        except BaseException:
            self.fail()
            raise


def start_parent_run(uri: bool | str | os.PathLike, name: str, params: dict[str, Any] | None = None,
                     tags: dict[str, str] | None = None) -> tuple[ParentRun, MlflowLogger]:
    """Start a run for others to nest under (a search); returns it and the logger that ends it.

    The logger's :meth:`MlflowLogger.finish` ends it (its ``extra`` metrics: the best score),
    :meth:`MlflowLogger.fail` ends it as ``FAILED``.
    """
    logger = MlflowLogger(uri, run_name=name, tags=tags)
    logger.start()
    if params:
        logger.log_params(params)
    return ParentRun(logger.uri, logger.run_id, logger.experiment_id), logger


def set_run_tags(parent: ParentRun, run_id: str, tags: dict[str, Any], metrics: dict[str, float] | None = None) -> None:
    """Tag a finished run (a trial's outcome) and log run-level metrics on it."""
    from mlflow.entities import Metric, RunTag
    from mlflow.tracking import MlflowClient

    stamp = int(time.time() * 1000)
    finite = [Metric(k, float(v), stamp, 0) for k, v in (metrics or {}).items() if _number(v) and math.isfinite(v)]
    try:
        MlflowClient(tracking_uri=parent.uri).log_batch(run_id, metrics=finite,
                                                        tags=[RunTag(k, str(v)) for k, v in tags.items()])
    except Exception as exc:
        raise _unreachable(parent.uri, exc) from None
