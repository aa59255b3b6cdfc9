"""MLflow tracking (``mlflow=``, ``--mlflow``), read back through MLflow's own client.

Every test records into a local SQLite store in a temporary folder (MLflow 3's default kind
of store; no server), and checks what MLflow itself reads back: the parameters with their
``"auto"`` resolved, one metric point per epoch equal to ``history_``, the findings
artifact, the run folder, nested runs of a search, and ``FAILED`` runs after an exception.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes, load_iris

from trainwell import NeuralNetClassifier, NeuralNetRegressor
from trainwell.cli import main
from trainwell.exceptions import ConfigError
from trainwell.train.callbacks import Callback

mlflow = pytest.importorskip("mlflow", reason="MLflow tracking needs the mlflow extra (pip install trainwell[mlflow])")
from mlflow.tracking import MlflowClient  # noqa: E402

EXPERIMENT = "trainwell-tests"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One SQLite store for the module (creating its tables takes a second), artifacts beside it."""
    folder = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    client.create_experiment(EXPERIMENT, artifact_location=(folder / "artifacts").as_uri())
    return uri, client


@pytest.fixture()
def tracking(store, monkeypatch, tmp_path):
    """The module's store as MLflow's environment names it, the test's own folder as working folder."""
    uri, client = store
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", EXPERIMENT)
    monkeypatch.chdir(tmp_path)
    return uri, client


def _history(client, run_id, key):
    return sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))


def _artifacts(client, run_id, path=None):
    return {a.path for a in client.list_artifacts(run_id, path)}


def _download_json(client, run_id, path, tmp_path):
    local = client.download_artifacts(run_id, path, str(tmp_path))
    with open(local, encoding="utf-8") as f:
        return json.load(f)


def test_import_and_a_plain_fit_never_import_mlflow():
    code = textwrap.dedent("""
        import sys
        import trainwell
        from sklearn.datasets import load_iris
        X, y = load_iris(return_X_y=True)
        trainwell.NeuralNetClassifier(max_epochs=2, random_state=0).fit(X, y)
        print("mlflow" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_fit_records_resolved_params_every_epoch_findings_and_its_report(tracking, tmp_path):
    uri, client = tracking
    X, y = load_iris(return_X_y=True)
    est = NeuralNetClassifier(max_epochs=6, random_state=0, mlflow=uri, report=str(tmp_path / "run")).fit(X, y)
    run = client.get_run(est.mlflow_run_id_)
    assert run.info.status == "FINISHED"
    assert client.get_experiment(run.info.experiment_id).name == EXPERIMENT
    params = run.data.params
    # "auto" resolved: what the fit used, as the run folder's config.json records it
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    resolved = config["resolved"]
    assert params["hidden"] == str(list(est.spec_.hidden)) == str(resolved["hidden"])
    assert params["batch_size"] == str(est.train_config_.batch_size) == str(resolved["batch_size"])
    assert params["dropout"] == str(est.spec_.dropout) and params["kind"] == "mlp"
    assert params["lr_schedule"] == est.train_config_.lr_schedule and params["loss"] == est.loss_.name
    assert float(params["validation_fraction"]) == pytest.approx(est.n_val_ / (est.n_train_ + est.n_val_))
    assert params["scaling"] == est.transform_.scaling and params["augment"] == "none"
    assert int(params["n_train"]) == est.n_train_ and params["lr"] == "0.001"
    assert "auto" not in params.values()
    # one point per epoch, equal to history_
    epochs = [row["epoch"] for row in est.history_]
    assert epochs == list(range(1, 7))
    for key in ("train_loss", "val_loss", "train_accuracy", "val_accuracy", "lr"):
        expected = [(row["epoch"], pytest.approx(row[key], rel=1e-12)) for row in est.history_]
        assert _history(client, run.info.run_id, key) == expected, key
    # the findings, as an artifact and counted
    findings = _download_json(client, run.info.run_id, "findings.json", tmp_path / "down")
    assert findings == json.loads(json.dumps([dataclasses.asdict(f) for f in est.findings_], default=str))
    assert run.data.tags["trainwell.findings"] == str(len(est.findings_))
    assert run.data.metrics["findings"] == len(est.findings_)
    # the report folder
    assert {"run/config.json", "run/history.csv", "run/report.html", "run/model"} <= _artifacts(client, run.info.run_id, "run")
    assert mlflow.active_run() is None


def test_true_tracks_to_mlflow_tracking_uri_and_a_regressor_logs_r2(tracking):
    uri, client = tracking
    X, y = load_diabetes(return_X_y=True)
    est = NeuralNetRegressor(max_epochs=3, random_state=0, mlflow=True).fit(X, y)
    run = client.get_run(est.mlflow_run_id_)
    assert run.data.params["target_scaling"] == est.target_scaler_.mode == "standard"
    assert _history(client, run.info.run_id, "val_r2") == [
        (row["epoch"], pytest.approx(row["val_r2"], rel=1e-12)) for row in est.history_]
    assert "run" not in _artifacts(client, run.info.run_id)  # no run folder without report=


def test_true_without_a_uri_uses_mlflows_default_sqlite_store(monkeypatch, tmp_path):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    monkeypatch.chdir(tmp_path)
    X, y = load_iris(return_X_y=True)
    est = NeuralNetClassifier(max_epochs=2, random_state=0, mlflow=True).fit(X, y)
    default = mlflow.get_tracking_uri()
    assert default.startswith("sqlite:") and (tmp_path / "mlflow.db").exists()
    run = MlflowClient(tracking_uri=default).get_run(est.mlflow_run_id_)
    assert run.info.status == "FINISHED" and run.data.params["max_epochs"] == "2"


def test_a_fit_inside_an_active_run_becomes_its_child(tracking):
    uri, client = tracking
    X, y = load_iris(return_X_y=True)
    with mlflow.start_run() as outer:
        est = NeuralNetClassifier(max_epochs=2, random_state=0, mlflow=True).fit(X, y)
    run = client.get_run(est.mlflow_run_id_)
    assert run.data.tags["mlflow.parentRunId"] == outer.info.run_id
    assert run.info.experiment_id == outer.info.experiment_id


class _Boom(Callback):
    def on_epoch_end(self, run):
        if run.epoch == 4:
            raise RuntimeError("boom in epoch 4")


def test_an_exception_ends_the_run_failed_and_leaves_no_run_open(tracking):
    uri, client = tracking
    X, y = load_iris(return_X_y=True)
    est = NeuralNetClassifier(max_epochs=5, random_state=0, mlflow=uri, callbacks=[_Boom()])
    with pytest.raises(RuntimeError, match="boom"):
        est.fit(X, y)
    assert mlflow.active_run() is None
    experiment = client.get_experiment_by_name(EXPERIMENT)
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"], max_results=1)
    assert runs[0].info.status == "FAILED"
    # the epochs before the one that raised, written though some waited in the buffer
    assert [step for step, _ in _history(client, runs[0].info.run_id, "train_loss")] == [1, 2, 3]


def test_an_unreachable_store_is_one_sentence(tmp_path):
    (tmp_path / "a_file").write_text("not a folder")
    X, y = load_iris(return_X_y=True)
    uri = f"sqlite:///{tmp_path / 'a_file' / 'mlflow.db'}"
    with pytest.raises(ConfigError) as caught:
        NeuralNetClassifier(max_epochs=2, mlflow=uri).fit(X, y)
    text = str(caught.value)
    assert text.startswith("MLflow could not record the run in") and uri in text and "MLFLOW_TRACKING_URI" in text
    assert "\n" not in text and text.count(". ") == 0
    assert mlflow.active_run() is None


def test_without_mlflow_installed_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # makes the import fail
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ConfigError, match=r"pip install trainwell\[mlflow\]"):
        NeuralNetClassifier(max_epochs=1, mlflow=True).fit(X, y)


@pytest.mark.parametrize("value", [1, "", None])
def test_invalid_values_are_refused(value):
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ConfigError, match="mlflow=.* must be True"):
        NeuralNetClassifier(mlflow=value).fit(X, y)


def test_cli_fit_logs_the_run_folder(tracking, tmp_path):
    uri, client = tracking
    data = load_iris(as_frame=True).frame
    data.to_csv(tmp_path / "iris.csv", index=False)
    out = tmp_path / "run"
    assert main(["fit", str(tmp_path / "iris.csv"), "--target", "target", "--out", str(out), "--max-epochs", "3",
                 "--no-report", "--quiet", "--mlflow", uri]) == 0
    experiment = client.get_experiment_by_name(EXPERIMENT)
    run = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"], max_results=1)[0]
    assert run.info.status == "FINISHED" and run.info.run_name == "run"
    stored = _artifacts(client, run.info.run_id, "run")
    assert {"run/config.json", "run/history.csv", "run/metrics.json", "run/model"} <= stored
    assert "run/checkpoint" not in stored
    history = pd.read_csv(out / "history.csv")
    assert _history(client, run.info.run_id, "val_loss") == [
        (int(e), pytest.approx(v, rel=1e-6)) for e, v in zip(history["epoch"], history["val_loss"], strict=True)]
    metrics = json.loads((out / "metrics.json").read_text())
    assert run.data.metrics["test_accuracy"] == pytest.approx(metrics["accuracy"])
    assert run.data.params["hidden"] == "[128, 64]"  # "auto" on 120 rows


def test_tune_nests_one_child_run_per_trial_under_the_search(tracking):
    from trainwell.tune import Stages, tune

    uri, client = tracking
    X, y = load_iris(return_X_y=True)
    est = NeuralNetClassifier(hidden=(16,), batch_size=32, mlflow=uri)
    result = tune(est, X, y, space={"lr": (1e-3, 1e-1, "log")}, n_trials=4,
                  stages=Stages(stage1_trials=2, stage1_epochs=2, stage2_epochs=3, prune=False))
    experiment = client.get_experiment_by_name(EXPERIMENT)
    parents = client.search_runs([experiment.experiment_id], "tags.`trainwell.search` = 'tune'",
                                 order_by=["attributes.start_time DESC"], max_results=1)
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert float(parent.data.params["best.lr"]) == pytest.approx(result.best_params["lr"], rel=1e-6)
    assert parent.data.metrics["best_score"] == pytest.approx(result.best_score)
    children = client.search_runs([experiment.experiment_id], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    trials = [c for c in children if "trainwell.trial" in c.data.tags]
    refits = [c for c in children if c.data.tags.get("trainwell.refit") == "true"]
    assert len(trials) == len(result.trials) == 4 and len(refits) == 1
    assert {c.data.tags["trainwell.stage"] for c in trials} == {"lr", "refine"}
    assert all(c.info.status == "FINISHED" and c.data.tags["trainwell.trial_state"] == "complete" for c in trials)
    by_number = {(c.data.tags["trainwell.stage"], int(c.data.tags["trainwell.trial"])): c for c in trials}
    for row in result.trials.itertuples():
        child = by_number[(row.stage, row.number)]
        assert child.data.metrics["trial_score"] == pytest.approx(row.score)
        lr = est.lr if np.isnan(row.lr) else row.lr  # the baseline trial trains the estimator's own lr
        assert float(child.data.params["lr"]) == pytest.approx(lr, rel=1e-6)
    assert np.isclose(min(c.data.metrics["trial_score"] for c in trials if c.data.tags["trainwell.stage"] == "refine"),
                      result.best_score)


def test_cli_tune_records_the_search_and_its_run_folder(tracking, tmp_path):
    uri, client = tracking
    data = load_iris(as_frame=True).frame
    data.to_csv(tmp_path / "iris.csv", index=False)
    out = tmp_path / "search"
    assert main(["tune", str(tmp_path / "iris.csv"), "--target", "target", "--trials", "3", "--stage1-trials", "1",
                 "--stage1-epochs", "2", "--stage2-epochs", "2", "--hidden", "8", "--no-prune", "--out", str(out),
                 "--quiet", "--mlflow"]) == 0  # no URI: MLFLOW_TRACKING_URI
    experiment = client.get_experiment_by_name(EXPERIMENT)
    parent = client.search_runs([experiment.experiment_id], "tags.`trainwell.search` = 'tune'",
                                order_by=["attributes.start_time DESC"], max_results=1)[0]
    search = json.loads((out / "search.json").read_text())
    assert float(parent.data.params["best.lr"]) == pytest.approx(search["best_params"]["lr"], rel=1e-6)
    assert {"run/search.json", "run/trials.csv"} <= _artifacts(client, parent.info.run_id, "run")
    children = client.search_runs([experiment.experiment_id], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    assert sum("trainwell.trial" in c.data.tags for c in children) == 3


def test_the_logger_as_a_callback_of_ones_own_starts_a_run_per_fit(tracking):
    from trainwell.report import MlflowLogger

    uri, client = tracking
    X, y = load_iris(return_X_y=True)
    logger = MlflowLogger(uri, run_name="mine", tags={"team": "a"})
    est = NeuralNetClassifier(max_epochs=3, random_state=0, callbacks=[logger])
    first = est.fit(X, y) and logger.run_id
    second = est.fit(X, y) and logger.run_id
    assert first != second
    for run_id in (first, second):
        run = client.get_run(run_id)
        assert run.info.status == "FINISHED" and run.info.run_name == "mine" and run.data.tags["team"] == "a"
        assert [step for step, _ in _history(client, run_id, "val_loss")] == [1, 2, 3]
