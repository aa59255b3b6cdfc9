"""Where a search keeps its trials, and how many processes share them without losing any.

Three places, all Optuna storages (trainwell writes no scheduler or RPC of its own):

- one process: an SQLite file ``study.sqlite3`` in the run folder, nothing to start;
- ``workers=N`` processes on one machine: Optuna's journal file (``study.journal``),
  because SQLite locks under parallel writers (Optuna's FAQ says so);
- many machines: a PostgreSQL (or any SQLAlchemy) URL, with Optuna's heartbeat so that a
  trial whose worker died is marked failed and queued again.

Any of them is resumable: run the same search again and it continues with the trials it has.

:func:`run_trials` is the worker loop every process runs on a study. Each study has a
budget of ``n_trials`` slots; a trial holds a slot while it waits, runs or has finished
(complete or pruned). The loop starts a fresh trial while slots are free, runs queued
retries first, and returns only when every slot has finished and nothing runs, so that a
stage after it sees all of its results. A trial whose worker died (a local process that is
gone, or on other machines a trial whose heartbeat stopped) is marked failed and queued
once more with the same parameters (Optuna's retry callback), so no trial is lost; a trial
started when the budget was already full (two workers racing for the last slot) is marked
failed as surplus at once, before any training, so none is done twice.
"""

from __future__ import annotations

import datetime
import math
import os
import socket
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from ..exceptions import ConfigError

__all__ = ["JOURNAL_FILE", "STUDY_FILE", "StorageSpec", "resolve_storage", "run_trials"]

STUDY_FILE = "study.sqlite3"
JOURNAL_FILE = "study.journal"
MAX_RETRY = 2  # a trial that kills its worker three times (e.g. out of memory) is left failed

# RetryFailedTrialCallback was renamed in Optuna 4.9.
_Retry = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None) or optuna.storages.RetryFailedTrialCallback


def retry_callback() -> Any:
    """Optuna's callback that queues a failed trial again with the same parameters."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return _Retry(max_retry=MAX_RETRY)


@dataclass(frozen=True)
class StorageSpec:
    """A picklable description of a study storage; each process opens its own connection.

    Parameters
    ----------
    kind : {"memory", "sqlite", "journal", "rdb"}
    location : str
        File path (sqlite, journal) or database URL (rdb).
    heartbeat_interval, grace_period : int
        Seconds between a running trial's heartbeats, and of silence after which the trial
        counts as dead (rdb only).
    """

    kind: str
    location: str = ""
    heartbeat_interval: int = 10
    grace_period: int = 60

    def open(self) -> optuna.storages.BaseStorage:
        """Open the storage in this process."""
        if self.kind == "memory":
            return optuna.storages.InMemoryStorage()
        if self.kind == "sqlite":
            return optuna.storages.RDBStorage(f"sqlite:///{self.location}",
                                              engine_kwargs={"creator": _sqlite_connector(self.location)})
        if self.kind == "journal":
            from optuna.storages.journal import JournalFileBackend

            return optuna.storages.JournalStorage(JournalFileBackend(self.location))
        import sqlalchemy.exc

        for attempt in range(5):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    return optuna.storages.RDBStorage(
                        _with_driver(self.location),
                        heartbeat_interval=self.heartbeat_interval,
                        grace_period=self.grace_period,
                        **{_stale_kwarg(): retry_callback()},
                    )
            except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
                # Workers that start together on a new database race to create Optuna's
                # tables; the loser finds them made on its next try.
                if attempt == 4:
                    raise
                time.sleep(0.2 + 0.3 * attempt)
        raise AssertionError("unreachable")

    def describe(self) -> str:
        """The storage in words, with any password hidden."""
        if self.kind == "memory":
            return "in memory (not resumable)"
        if self.kind == "rdb":
            return _hide_password(self.location)
        return self.location


def _sqlite_connector(path: str) -> Callable[[], Any]:
    """SQLite connections in WAL mode with ``synchronous=NORMAL``.

    Optuna commits once per reported epoch; SQLite's default waits for the disk on every
    commit (about 10 ms each here, a third of a small search's time). In WAL mode with
    ``synchronous=NORMAL`` a commit survives the process being killed (what resuming needs)
    and only a power cut can lose the last ones, never leaving the file inconsistent.
    """
    import sqlite3

    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(path, timeout=60, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    return connect


def _with_driver(url: str) -> str:
    """``postgresql://`` with whichever PostgreSQL driver is installed.

    SQLAlchemy 2.1 reads a bare ``postgresql://`` as psycopg 3, 2.0 as psycopg2; either
    driver works, so the URL names the one that is there.
    """
    if not url.startswith("postgresql://"):
        return url
    import importlib.util

    for module, driver in (("psycopg", "psycopg"), ("psycopg2", "psycopg2")):
        if importlib.util.find_spec(module) is not None:
            return url.replace("postgresql://", f"postgresql+{driver}://", 1)
    raise ConfigError("A postgresql:// storage needs a PostgreSQL driver: pip install psycopg2-binary (or psycopg[binary]).")


def _stale_kwarg() -> str:
    import inspect

    names = inspect.signature(optuna.storages.RDBStorage.__init__).parameters
    return "heartbeat_stale_trial_callback" if "heartbeat_stale_trial_callback" in names else "failed_trial_callback"


def _hide_password(url: str) -> str:
    head, at, tail = url.rpartition("@")
    if not at or "://" not in head:
        return url
    scheme, _, creds = head.partition("://")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{tail}" if ":" in creds else url


def resolve_storage(storage: str | StorageSpec | None, out: Path | None, workers: int) -> StorageSpec:
    """Choose the storage for a search.

    ``None``: an SQLite file in ``out`` for one worker, Optuna's journal file for several
    (in memory when there is no ``out`` and one worker). A URL (``postgresql://...``) is
    used as it is; a path ending in ``.journal`` or ``.log`` is a journal file.
    """
    if isinstance(storage, StorageSpec):
        return storage
    if storage is None:
        if out is None:
            if workers > 1:
                raise ConfigError("workers > 1 needs a place the workers share: give out=RUN_DIR or storage=URL.")
            return StorageSpec("memory")
        if workers > 1:
            return StorageSpec("journal", str(out / JOURNAL_FILE))
        return StorageSpec("sqlite", str(out / STUDY_FILE))
    if not isinstance(storage, str):
        raise ConfigError(f"storage={storage!r} must be a database URL such as postgresql://user@host/db or a file path.")
    if storage.startswith("sqlite:"):
        if workers > 1:
            raise ConfigError(
                "SQLite locks under parallel writers; for workers > 1 on one machine leave storage unset "
                "(a journal file is used) or give a postgresql:// URL."
            )
        return StorageSpec("sqlite", storage.removeprefix("sqlite:///"))
    if "://" in storage:
        return StorageSpec("rdb", storage)
    if storage.endswith((".journal", ".log")):
        return StorageSpec("journal", storage)
    raise ConfigError(
        f"storage={storage!r} is neither a database URL (postgresql://user@host/db) nor a journal file "
        "path ending in .journal; give one of those, or leave it unset."
    )


# ---------------------------------------------------------------------- who runs a trial
def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks (Linux), to tell a reused process id apart."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode(errors="replace")
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None


def worker_id() -> str:
    """``host:pid:start`` of this process."""
    return f"{socket.gethostname()}:{os.getpid()}:{_start_time(os.getpid()) or ''}"


def _alive(worker: str) -> bool:
    """Whether the process ``worker`` names is alive, as far as this machine can tell.

    A process on another machine counts as alive (the heartbeat judges it there).
    """
    host, _, rest = worker.partition(":")
    pid_text, _, start = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return True
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            if f.read().decode(errors="replace").rsplit(")", 1)[-1].split()[0] == "Z":
                return False  # killed, not yet reaped by its parent
    except OSError:
        pass
    return not start or _start_time(pid) in (None, start)


# A running trial with no worker recorded was killed between its creation and the first line
# of its objective (a live worker records itself within milliseconds). Without a heartbeat
# (SQLite, journal: one machine, one clock) it counts as dead after a few seconds; with one,
# only after long enough that clock differences between machines cannot matter.
ORPHAN_AGE = datetime.timedelta(seconds=15)
ORPHAN_AGE_HEARTBEAT = datetime.timedelta(minutes=10)


def fail_dead_trials(study: optuna.Study) -> int:
    """Mark failed, and queue again, the running trials whose worker process is gone.

    Local processes are checked directly (so a resumed search recovers at once); trials on
    other machines by Optuna's heartbeat where the storage has one. Returns how many
    trials were failed here.
    """
    failed = 0
    now = datetime.datetime.now()
    heartbeat = getattr(study._storage, "get_heartbeat_interval", lambda: None)() is not None  # noqa: SLF001
    orphan_age = ORPHAN_AGE_HEARTBEAT if heartbeat else ORPHAN_AGE
    retry = retry_callback()
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = t.user_attrs.get("worker")
        if worker is None:
            # killed between its creation and its first line: judge by age
            dead = t.datetime_start is not None and now - t.datetime_start > orphan_age
        else:
            dead = not _alive(worker)
        if not dead:
            continue
        try:
            study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)
        except (optuna.exceptions.UpdateFinishedTrialError, RuntimeError, ValueError):
            continue
        frozen = next(f for f in study.get_trials(deepcopy=False) if f.number == t.number)
        if frozen.state == TrialState.FAIL:
            retry(study, frozen)
            failed += 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    return failed


# ---------------------------------------------------------------------- the worker loop
class SurplusTrial(Exception):
    """A trial started after the study's budget was already full."""


def _holds_slot(t: optuna.trial.FrozenTrial) -> bool:
    return t.state in (TrialState.RUNNING, TrialState.WAITING, TrialState.COMPLETE, TrialState.PRUNED)


def run_trials(study: optuna.Study, objective: Callable[[optuna.Trial], float], n_trials: int,
               poll: float = 0.5, timeout: float | None = None) -> None:
    """Run trials on ``study`` until ``n_trials`` of them have finished, with any number of
    processes doing the same at once (see the module docstring).

    Parameters
    ----------
    study : optuna.Study
    objective : callable
        ``objective(trial) -> float``; raises ``optuna.TrialPruned`` for a pruned trial.
    n_trials : int
        The study's budget of trials, over all workers.
    poll : float
        Seconds between looks at the study while other workers' trials run.
    timeout : float, optional
        Start no new trial after this many seconds.
    """
    start = time.monotonic()

    def guarded(trial: optuna.Trial) -> float:
        retried = "worker" in trial.user_attrs  # a retry keeps the failed trial's attributes
        trial.set_user_attr("worker", worker_id())
        if not retried:
            # The storage numbers trials in the order they were created, so the trials
            # before this one are exactly those that could hold the slots.
            earlier = [t for t in study.get_trials(deepcopy=False) if t.number < trial.number and _holds_slot(t)]
            if len(earlier) >= n_trials:
                trial.set_user_attr("surplus", True)
                raise SurplusTrial(f"trial {trial.number} started after all {n_trials} slots were taken")
        return objective(trial)

    while True:
        fail_dead_trials(study)
        trials = study.get_trials(deepcopy=False)
        waiting = sum(t.state == TrialState.WAITING for t in trials)
        running = sum(t.state == TrialState.RUNNING for t in trials)
        held = sum(_holds_slot(t) for t in trials)
        out_of_time = timeout is not None and time.monotonic() - start > timeout
        if (waiting or held < n_trials) and not out_of_time:
            study.optimize(guarded, n_trials=1, catch=(SurplusTrial,))
        elif running:
            time.sleep(poll)  # other workers' trials: their results (or failures) decide what comes next
        else:
            return


def finished_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """The trials that count: complete or pruned (failed, surplus and queued ones do not)."""
    return [t for t in study.get_trials(deepcopy=False) if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]


def is_finite(value: float | None) -> bool:
    """``value`` is a finite number."""
    return value is not None and math.isfinite(value)
