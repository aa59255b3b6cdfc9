"""bench/tabular.py's quick mode: the table it prints has the right shape and sane numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from bench.tabular import (
    COLUMNS,
    QUICK_TABLES,
    TABLES,
    TRAINWELL_VARIANTS,
    load_table,
    main,
    make_model,
    markdown,
    run,
    summarise,
    variant_markdown,
)

# RealMLP (pytabkit) is a bench-only dependency and takes seconds per table: the quick test leaves it out
MODELS = ("trainwell", "histgb", "sklearn_mlp", "linear")


@pytest.fixture(scope="module")
def results():
    return run(QUICK_TABLES, MODELS, (0,))


def test_quick_mode_runs_every_model_on_both_tables(results):
    assert list(results.columns) == COLUMNS
    assert len(results) == len(QUICK_TABLES) * len(MODELS)
    assert set(results["table"]) == {"iris", "diabetes"} and set(results["model"]) == set(MODELS)
    iris = results[results["table"] == "iris"].set_index("model")
    diabetes = results[results["table"] == "diabetes"].set_index("model")
    assert iris["accuracy"].between(0, 1).all() and (iris["log_loss"] > 0).all()
    assert iris.loc["histgb", "accuracy"] > 0.8 and iris.loc["trainwell", "accuracy"] > 0.8
    assert iris["r2"].isna().all() and diabetes["accuracy"].isna().all()
    # diabetes: linear regression's R² on it is about 0.3-0.5 whatever the split
    assert 0.2 < diabetes.loc["linear", "r2"] < 0.7 and diabetes.loc["trainwell", "r2"] > 0.1
    assert (diabetes["rmse"] > 0).all() and np.isfinite(results["time_s"]).all() and (results["time_s"] > 0).all()


def test_summary_ranks_and_markdown(results):
    per, models = summarise(results)
    assert len(per) == len(QUICK_TABLES) * len(MODELS)
    for _, group in per.groupby("table"):
        assert group["rank"].between(1, len(MODELS)).all() and group["rank"].sum() == pytest.approx(10)  # 1+2+3+4
    assert models["mean_rank"].between(1, len(MODELS)).all()
    assert models["mean_rank"].is_monotonic_increasing
    assert models.set_index("model").loc["histgb", "time_vs_histgb"] == pytest.approx(1.0)
    text = markdown(results, "python -m bench.tabular --quick", ["a note"])
    assert "| model | mean rank | tables won outright |" in text and "| iris | class | 150 |" in text and "CPU: " in text
    assert "- a note" in text


def test_every_table_loads_offline_and_the_cli_summarises_a_csv(tmp_path, results, capsys):
    assert len(TABLES) >= 12
    results.to_csv(tmp_path / "runs.csv", index=False)
    assert main(["--summarise", str(tmp_path / "runs.csv"), "--out", str(tmp_path / "t.md")]) == 0
    assert "| trainwell |" in (tmp_path / "t.md").read_text()


def test_a_change_to_the_defaults_is_judged_half_by_half(results):
    # iris is a calibration table, wine a validation one: the variant wins on the first, loses on the second
    wine = results[results["table"] == "iris"].assign(table="wine")
    both = pd.concat([results[results["table"] == "iris"], wine])
    variant = both[both["model"] == "trainwell"].assign(model="changed")
    variant["accuracy"] = np.where(variant["table"] == "iris", 1.0, 0.1)
    text = variant_markdown(both, variant, "changed")
    assert "| calibration | iris |" in text and "| validation | wine |" in text
    assert "- calibration (1 tables): changed better on 1, worse on 0" in text
    assert "- validation (1 tables): changed better on 0, worse on 1" in text


def test_every_tried_variant_is_a_valid_trainwell_model():
    # the changed defaults of bench/tabular.md's "tried next" section: each builds and fits (one epoch)
    iris = load_table("iris")
    for name in TRAINWELL_VARIANTS:
        model = make_model(name, "classification", 0, iris.X).set_params(max_epochs=1)
        assert model.fit(iris.X, iris.y).n_iter_ == 1, name
    assert make_model("trainwell_p5", "regression", 0, iris.X).patience == 5


def test_repeats_keep_the_scores_and_the_fastest_time(results, monkeypatch):
    import bench.tabular as tabular

    once = results[results["table"] == "iris"].set_index("model")
    again = run(("iris",), ("trainwell",), (0,), repeats=2).set_index("model")
    assert again.loc["trainwell", "accuracy"] == once.loc["trainwell", "accuracy"]  # deterministic fits
    # the fastest of the repeats: on a clock whose every reading is one second later than the last,
    # a scikit-learn fit (which reads no clock itself) takes 1 s and its predict 1 s, each time
    clock = iter(range(1000))
    monkeypatch.setattr(tabular.time, "perf_counter", lambda: float(next(clock)))
    timed = run(("iris",), ("linear",), (0,), repeats=3).set_index("model")
    assert timed.loc["linear", "time_s"] == 2.0 and timed.loc["linear", "accuracy"] == once.loc["linear", "accuracy"]
