"""``python -m bench --loaded`` and the "Issue 22 targets" section: what they write, and that the load stops.

No timing is asserted: the figures are whatever this machine gives; the tests check the harness,
the arithmetic of the ratios (against pandas) and the parsing of the reports it quotes.
"""

from __future__ import annotations

import multiprocessing as mp
import re
from contextlib import contextmanager
from pathlib import Path

import bench.loaded
import numpy as np
import pandas as pd
import pytest
from bench import targets
from bench.__main__ import main
from bench.threads import _fit_seconds, spinning_load, verdict
from sklearn.datasets import load_breast_cancer

BENCH = Path(targets.__file__).parent


@pytest.fixture
def recorded_spinners(monkeypatch):
    """Wrap the load so the test sees every spinner process the bench started."""
    seen: list[mp.Process] = []

    @contextmanager
    def recording(processes, max_seconds=900.0):
        with spinning_load(processes, max_seconds) as spinners:
            seen.extend(spinners)
            assert spinners and all(p.is_alive() for p in spinners)
            yield spinners

    monkeypatch.setattr(bench.loaded, "spinning_load", recording)
    return seen


def test_loaded_quick_writes_the_table_and_the_target_and_stops_the_load(tmp_path, recorded_spinners):
    out = tmp_path / "loaded.md"
    assert main(["--loaded", "--quick", "--out", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert "| table | 1 thread (s) |" in text and "| breast_cancer (569 rows) |" in text
    assert re.search(r"^- breast_cancer \(569 rows\): auto / 1 thread = \d+\.\d\dx: (met|missed by)", text, re.M)
    assert re.search(r"^\*\*Summary:\*\* the worst auto / 1 thread is \d+\.\d\dx over 1 table; target ≤ 1.3x: ",
                     text, re.M)
    assert "- CPU: " in text and "SIMD flags" in text and "Load average" in text and "Quick mode" in text
    # every spinner is stopped and reaped: none is left running, none is a child of this process any more
    assert len(recorded_spinners) == min(mp.cpu_count(), 2)  # quick mode: at most two
    assert all(not p.is_alive() and p.exitcode is not None for p in recorded_spinners)
    assert not {p.pid for p in recorded_spinners} & {p.pid for p in mp.active_children()}
    # the targets section quotes this file's summary and says it came from a quick run
    (line,) = targets.threads_target(out)
    assert "the worst auto / 1 thread is" in line and str(out) in line and "--quick" in line


def test_the_load_stops_when_the_block_fails():
    with pytest.raises(RuntimeError), spinning_load(2) as spinners:
        raise RuntimeError("a benchmark failing half-way")
    assert all(not p.is_alive() for p in spinners)
    assert not {p.pid for p in spinners} & {p.pid for p in mp.active_children()}


def test_verdict_says_how_far_a_ratio_misses():
    assert verdict(1.3) == "met" and verdict(0.5) == "met"
    assert verdict(2.6) == "missed by 2.00x (2.60x against 1.3x)"


def _fake_tabular(path: Path) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = [{"table": table, "task": "classification", "rows": 100, "note": "", "model": model, "seed": seed,
             "accuracy": 0.9, "log_loss": 0.3, "r2": np.nan, "rmse": np.nan,
             "fit_s": 0.0, "time_s": float(rng.uniform(0.05, 5.0))}
            for table in ("a", "b", "c", "d") for model in ("trainwell", "histgb", "sklearn_mlp", "linear")
            for seed in (0, 1, 2)]
    frame = pd.DataFrame(rows)
    frame.to_csv(path, index=False)
    return frame


def test_table_ratios_are_the_median_over_tables_of_per_table_medians(tmp_path):
    csv = tmp_path / "tabular.csv"
    frame = _fake_tabular(csv)
    # oracle: plain pandas, written independently of bench.tabular.summarise
    times = frame.groupby(["table", "model"])["time_s"].median().unstack()
    expect_hgb = (times["trainwell"] / times["histgb"]).median()
    expect_mlp = (times["trainwell"] / times["sklearn_mlp"]).median()
    ratios = targets.time_ratios(pd.read_csv(csv))
    assert ratios["histgb"] == pytest.approx(expect_hgb) and ratios["sklearn_mlp"] == pytest.approx(expect_mlp)
    (line,) = targets.tables_target(csv)
    assert f"{expect_hgb:.2f}x HistGB" in line and f"{expect_mlp:.2f}x scikit-learn MLP" in line
    assert "4 tables, 3 seeds" in line and str(csv) in line
    hgb_verdict = "met" if expect_hgb <= 3 else f"missed by {expect_hgb / 3:.2f}x"
    assert f"{expect_hgb:.2f}x HistGB: {hgb_verdict}" in line
    assert "is missing" in targets.tables_target(tmp_path / "none.csv")[0]


def test_a_missed_table_target_quotes_the_steps_per_fit_medians(tmp_path):
    csv = tmp_path / "tabular.csv"
    _fake_tabular(csv)
    steps = tmp_path / "steps_per_fit.md"
    steps.write_text("Medians over the 14 tables: fit 0.174 s against 0.111 s; time ratio **3.30x**, step ratio "
                     "**8.6x**, time per step **0.41x** scikit-learn's.\n", encoding="utf-8")
    (line,) = targets.tables_target(csv, steps)
    if "missed" in line:
        assert "takes 8.6x its steps at 0.41x its time per step" in line
    (without,) = targets.tables_target(csv, tmp_path / "none.md")
    assert "its time per step" not in without


def test_amx_is_read_from_the_flags():
    assert targets.has_amx("fma avx2 avx512f amx_bf16 amx_tile amx_int8")
    assert not targets.has_amx("fma avx2 avx512f avx512_bf16")
    assert not targets.has_amx("amx_tile")  # AMX without its bf16 unit is no use to a bf16 step
    assert "this CPU has no AMX" in targets.bf16_target("avx2 avx512_bf16")[0]
    assert "bench/bf16_accuracy.md" in targets.bf16_target("avx2")[0]
    assert "this CPU has AMX" in targets.bf16_target("avx512f amx_tile amx_bf16")[0]


def test_the_step_target_against_its_kernels_and_the_eager_loop(tmp_path):
    no_avx2 = tmp_path / "results-avx2.md"  # no run on AVX2 kernels: no line for it
    first, second = targets.step_target({"step": 1.2e-3, "kernels": 1.0e-3, "eager": 1.5e-3}, avx2=no_avx2)
    assert "1,200 µs against 1,000 µs = 1.20x (medians timed apart): missed by 1.04x" in first and "this run" in first
    assert "1.25x: missed by 1.44x" in second and "at most 1.50x" in second and "no loop that launches these kernels can reach 1.8x" in second
    (met,) = targets.step_target({"step": 1.1e-3, "kernels": 1.0e-3}, avx2=no_avx2)
    assert "1.10x (medians timed apart): met" in met


def test_the_step_target_prefers_the_ratio_taken_round_by_round(tmp_path):
    # medians of 1.2 ms over 1.0 ms, but the per-round ratios' median is 1.12: the paired figure decides
    first, second = targets.step_target({"step": 1.2e-3, "kernels": 1.0e-3, "ratio": 1.12, "rounds": 15,
                                         "ratio_lo": 1.05, "ratio_hi": 1.3, "eager": 1.5e-3,
                                         "speedup": 1.3, "bound": 1.4}, avx2=tmp_path / "none.md")
    assert "= 1.12x (the median of 15 rounds' ratios, lowest 1.05x, highest 1.30x): met" in first
    assert "1.30x: missed by 1.38x" in second and "at most 1.40x" in second


def test_the_step_figures_read_back_from_results_md_agree_with_its_own_percentage():
    path = BENCH / "results.md"
    figures = targets.step_figures(path)
    assert {"step", "kernels", "eager"} <= set(figures)
    if "ratio" in figures:  # a run that timed the step and its kernels in the same rounds
        assert {"step", "kernels", "eager", "ratio", "rounds", "ratio_lo", "ratio_hi"} <= set(figures)
        assert set(figures) <= {"step", "kernels", "eager", "ratio", "rounds", "ratio_lo", "ratio_hi", "speedup", "bound"}
        assert figures["ratio_lo"] <= figures["ratio"] <= figures["ratio_hi"] and figures["rounds"] >= 3
    shown = re.search(r"^\| trainwell's measured step \(epoch / steps\) \| [\d,]+ \| (\d+)% \|",
                      path.read_text(encoding="utf-8"), re.M)
    assert round(100 * figures["step"] / figures["kernels"]) == pytest.approx(int(shown.group(1)), abs=1)
    assert "`bench/results.md`" in targets.step_target(path=path)[0]


def test_startup_target_measures_in_fresh_processes():
    lines = targets.startup_target(repeats=1)
    assert re.search(r"took \d+\.\d\d s and the second \d+\.\d\d s, a tax of -?\d+\.\d\d s; target ≤ 1 s: ", lines[0])
    assert "`trainwell --help`" in lines[1] and "`trainwell predict (100 rows)`" in lines[2]


def test_targets_only_writes_the_five_targets(tmp_path, monkeypatch):
    monkeypatch.setattr(targets, "startup_target", lambda repeats=3: ["4. **No first-fit tax**: (stubbed)"])
    out = tmp_path / "targets.md"
    assert main(["--targets-only", "--out", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert text.startswith("## Issue 22 targets")
    for number in range(1, 6):
        assert re.search(rf"^{number}\. \*\*", text, re.M)


def test_a_fit_out_of_budget_stops_after_a_step_and_is_scaled_to_the_whole_fit():
    X, y = load_breast_cancer(return_X_y=True)
    seconds, share, _ = _fit_seconds(X, y, 1, epochs=2, budget_s=0.0)
    steps = 1 / share  # exactly one step of two whole epochs ran
    assert steps == pytest.approx(round(steps)) and round(steps) % 2 == 0 and steps > 2 and seconds > 0
    assert _fit_seconds(X, y, 1, epochs=1)[1] == 1.0


def test_the_step_target_adds_the_last_figure_on_avx2_kernels(tmp_path, monkeypatch):
    import torch

    avx2 = tmp_path / "results-avx2.md"
    avx2.write_text("| CPU | AMD EPYC (2 logical cores, AVX2) |\n"
                    "| code paths held back by | ATEN_CPU_CAPABILITY=avx2 (this CPU's own instructions) |\n"
                    "| **sum: the step's own kernels, each timed alone** | **1,000** | 100% |\n"
                    "| trainwell's measured step (epoch / steps) | 1,250 | 125% |\n"
                    "| **the step over its kernels, median of the 20 rounds' ratios** (lowest–highest) | "
                    "**1.21x** (1.10–1.40) |  |\n", encoding="utf-8")
    figures = {"step": 1.1e-3, "kernels": 1.0e-3}
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    lines = targets.step_target(figures, avx2=avx2)
    assert len(lines) == 2 and "AMD EPYC (2 logical cores, AVX2), ATEN_CPU_CAPABILITY=avx2" in lines[1]
    assert "1.21x (the median of 20 rounds' ratios, lowest 1.10x, highest 1.40x): missed by 1.05x" in lines[1]
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")  # this run is the AVX2 one
    assert len(targets.step_target(figures, avx2=avx2)) == 1
