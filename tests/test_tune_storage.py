"""Storages and workers: no trial lost, none done twice, dead workers' trials failed and retried.

The objective here is a synthetic bowl with a short sleep (no training), run by real worker
processes on a journal file, an SQLite file with Optuna's heartbeat, and a real PostgreSQL
server started on loopback by a fixture (skipped, with the reason, where the server binaries
or psycopg2 are missing).
"""

from __future__ import annotations

import glob
import multiprocessing
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from trainwell.exceptions import ConfigError
from trainwell.tune.objective import TrialSeededRandomSampler
from trainwell.tune.storage import StorageSpec, fail_dead_trials, resolve_storage, run_trials

optuna.logging.set_verbosity(optuna.logging.WARNING)

def _worker(kind: str, location: str, n: int, pause: float) -> None:
    """A worker process: run the shared study's trials until its budget is done."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    spec = StorageSpec(kind, location, heartbeat_interval=1, grace_period=3)
    study = optuna.create_study(storage=spec.open(), study_name="shared", load_if_exists=True,
                                sampler=TrialSeededRandomSampler(0))

    def objective(trial):
        x = trial.suggest_float("x", -1.0, 1.0)
        time.sleep(pause)
        return x * x

    run_trials(study, objective, n, poll=0.1)


def _bowl(trial):
    return trial.suggest_float("x", -1.0, 1.0) ** 2


def _study(spec: StorageSpec) -> optuna.Study:
    return optuna.create_study(storage=spec.open(), study_name="shared", load_if_exists=True,
                               sampler=TrialSeededRandomSampler(0))


def _start_worker(spec: StorageSpec, n: int, pause: float) -> multiprocessing.Process:
    # fork: the worker starts at once, without importing torch again (these workers train nothing)
    proc = multiprocessing.get_context("fork").Process(target=_worker, args=(spec.kind, spec.location, n, pause))
    proc.start()
    return proc


def _check_no_trial_lost_or_doubled(study: optuna.Study, n: int) -> list[optuna.trial.FrozenTrial]:
    trials = study.get_trials(deepcopy=False)
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(done) == n  # every slot finished, none twice
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    failed = [t for t in trials if t.state == TrialState.FAIL]
    # each failed trial is either surplus (started after the budget was full, before any work)
    # or was retried with the same parameters by a trial that completed
    for t in failed:
        if t.user_attrs.get("surplus"):
            assert "x" not in t.params
        else:
            retries = [d for d in done if d.system_attrs.get("failed_trial") == t.number]
            assert len(retries) == 1
            assert retries[0].params == t.params or not t.params  # killed before it drew its parameters
    # no configuration was done twice by accident
    xs = [t.params["x"] for t in done]
    assert len(set(xs)) == len(xs)
    return trials


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# ---------------------------------------------------------------------- choosing storage
def test_resolve_storage(tmp_path):
    assert resolve_storage(None, tmp_path, 1) == StorageSpec("sqlite", str(tmp_path / "study.sqlite3"))
    assert resolve_storage(None, tmp_path, 4) == StorageSpec("journal", str(tmp_path / "study.journal"))
    assert resolve_storage(None, None, 1).kind == "memory"
    pg = resolve_storage("postgresql://me:secret@db.example/trainwell", None, 8)
    assert pg.kind == "rdb" and "secret" not in pg.describe()
    with pytest.raises(ConfigError, match="SQLite locks under parallel writers"):
        resolve_storage("sqlite:///x.db", tmp_path, 2)
    with pytest.raises(ConfigError, match="needs a place the workers share"):
        resolve_storage(None, None, 2)
    with pytest.raises(ConfigError, match="neither a database URL"):
        resolve_storage("study.txt", tmp_path, 1)


# ---------------------------------------------------------------------- one process
def test_run_trials_runs_exactly_the_budget():
    study = _study(StorageSpec("memory"))
    run_trials(study, _bowl, 7)
    _check_no_trial_lost_or_doubled(study, 7)
    run_trials(study, _bowl, 7)  # running it again finds nothing left to do
    assert len(study.trials) == 7


def test_a_trial_whose_local_worker_died_is_failed_and_retried():
    study = _study(StorageSpec("memory"))
    run_trials(study, _bowl, 2)
    orphan = study.ask()
    orphan.suggest_float("x", -1.0, 1.0)
    orphan.set_user_attr("worker", f"{socket.gethostname()}:{_dead_pid()}:")
    assert fail_dead_trials(study) == 1
    states = {t.number: t.state for t in study.get_trials(deepcopy=False)}
    assert states[orphan.number] == TrialState.FAIL
    assert TrialState.WAITING in states.values()
    run_trials(study, _bowl, 4)
    trials = _check_no_trial_lost_or_doubled(study, 4)
    retry = next(t for t in trials if t.system_attrs.get("failed_trial") == orphan.number)
    assert retry.params == orphan.params and retry.state == TrialState.COMPLETE


def test_a_trial_killed_before_it_named_its_worker_is_failed_once_old(monkeypatch):
    import datetime

    from trainwell.tune import storage as storage_module

    study = _study(StorageSpec("memory"))
    nameless = study.ask()  # created, but its process died before the objective's first line
    assert fail_dead_trials(study) == 0  # a fresh trial may belong to a live worker
    monkeypatch.setattr(storage_module, "ORPHAN_AGE", datetime.timedelta(0))
    assert fail_dead_trials(study) == 1
    assert study.get_trials(deepcopy=False)[nameless.number].state == TrialState.FAIL


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_a_trial_whose_remote_worker_went_silent_is_failed_by_the_heartbeat(tmp_path):
    # A trial of a worker on another machine: only its heartbeat can tell that it died.
    spec = StorageSpec("rdb", f"sqlite:///{tmp_path / 'hb.sqlite3'}", heartbeat_interval=1, grace_period=2)
    study = _study(spec)
    remote = study.ask()
    remote.suggest_float("x", -1.0, 1.0)
    remote.set_user_attr("worker", "another-machine:4242:")
    study._storage.record_heartbeat(remote._trial_id)  # noqa: SLF001 -- what the remote worker's thread did
    fail_dead_trials(study)
    assert study.get_trials(deepcopy=False)[remote.number].state == TrialState.RUNNING  # still within grace
    time.sleep(2.5)
    run_trials(study, _bowl, 3)
    trials = _check_no_trial_lost_or_doubled(study, 3)
    assert trials[remote.number].state == TrialState.FAIL


# ---------------------------------------------------------------------- several processes
def test_two_workers_share_a_journal_study(tmp_path):
    spec = StorageSpec("journal", str(tmp_path / "study.journal"))
    workers = [_start_worker(spec, 12, 0.1) for _ in range(2)]
    for w in workers:
        w.join(timeout=120)
        assert w.exitcode == 0
    _check_no_trial_lost_or_doubled(_study(spec), 12)


def _pg_bin(name: str) -> str | None:
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.access(os.path.join(folder, name), os.X_OK):
            return os.path.join(folder, name)
    return shutil.which(name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url():
    """A throwaway PostgreSQL server on a loopback port, run as a non-root user."""
    pytest.importorskip("psycopg2", reason="psycopg2 is not installed (pip install psycopg2-binary)")
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are missing: apt-get install -y postgresql")
    prefix: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="trainwell-pg-"))
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to run the server as")
        runuser = shutil.which("runuser")
        if runuser is None:
            pytest.skip("running as root and runuser is missing; cannot start PostgreSQL as a non-root user")
        prefix = [runuser, "-u", "postgres", "--"]
        os.chown(folder, user.pw_uid, user.pw_gid)
    data, port = folder / "data", _free_port()
    try:
        subprocess.run([*prefix, initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"],
                       check=True, capture_output=True, timeout=120)
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-l", str(folder / "server.log"), "-w", "-t", "60",
                        "-o", f"-p {port} -h 127.0.0.1 -k {folder} -F", "start"],
                       check=True, capture_output=True, timeout=120)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        log = (folder / "server.log").read_text() if (folder / "server.log").exists() else ""
        shutil.rmtree(folder, ignore_errors=True)
        pytest.fail(f"could not start PostgreSQL: {exc} {getattr(exc, 'stderr', b'')!r} {log}")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


def test_two_workers_on_postgres_with_one_killed(tmp_path, postgres_url):
    spec = StorageSpec("rdb", postgres_url, heartbeat_interval=1, grace_period=3)
    n = 6
    victim = _start_worker(spec, n, 0.3)
    survivor = _start_worker(spec, n, 0.3)
    try:
        storage = spec.open()
        deadline = time.monotonic() + 90
        # wait until the victim is in the middle of a trial (parameters drawn), then kill it
        while time.monotonic() < deadline:
            try:
                study = optuna.load_study(study_name="shared", storage=storage)
            except KeyError:
                time.sleep(0.2)
                continue
            running = [t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
                       if f":{victim.pid}:" in t.user_attrs.get("worker", "") and "x" in t.params]
            if running:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the first worker never started a trial")
        os.kill(victim.pid, signal.SIGKILL)
        victim.join(timeout=30)
        survivor.join(timeout=120)
        assert victim.exitcode == -signal.SIGKILL and survivor.exitcode == 0
    finally:
        for proc in (victim, survivor):
            if proc.is_alive():
                proc.kill()
                proc.join()
    study = optuna.load_study(study_name="shared", storage=storage)
    trials = _check_no_trial_lost_or_doubled(study, n)
    killed = [t for t in trials if t.state == TrialState.FAIL and not t.user_attrs.get("surplus")]
    assert len(killed) == 1 and f":{victim.pid}:" in killed[0].user_attrs["worker"]
    survivor_done = [t for t in trials if t.state == TrialState.COMPLETE and f":{survivor.pid}:" in t.user_attrs["worker"]]
    retried = [t for t in trials if t.system_attrs.get("failed_trial") == killed[0].number]
    assert retried and retried[0] in survivor_done  # the survivor ran the killed trial again
