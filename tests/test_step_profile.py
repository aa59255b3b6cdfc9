"""StepProfiler: where a training step's time goes, measured on the run's own steps."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import torch

from trainwell import NeuralNetClassifier
from trainwell.diagnose.speed import step_time_advice
from trainwell.nn import NetworkSpec, build_network, make_loss
from trainwell.train import Callback, StepProfiler, TrainConfig, fit_loop
from trainwell.train.step_profile import (
    GATHER,
    MATMULS,
    OPTIMIZER,
    OTHER,
    OVERHEAD,
    PARTS,
    _kernel_part,
    _quiet_stderr,
)


def _data(n: int = 3000, d: int = 30, classes: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g)
    y = (X[:, :classes].argmax(1)).long()
    return X, y


def _fit(profiler: Callback | None = None, fast: bool = True, more: list | None = None, n: int = 3000):
    torch.manual_seed(0)
    X, y = _data(n)
    net = build_network(NetworkSpec(kind="mlp", input_shape=(30,), n_outputs=4, hidden=(64, 32)))
    callbacks = [cb for cb in [profiler, *(more or [])] if cb is not None]
    config = TrainConfig(batch_size=64, max_epochs=2, fast=fast)
    run = fit_loop(net, make_loss("cross_entropy"), (X, y), None, config, callbacks,
                   generator=torch.Generator().manual_seed(1))
    return net, run


def test_the_parts_add_up_to_the_step_the_clock_measured():
    profiler = StepProfiler(steps=8, skip=2)
    _, run = _fit(profiler)
    result = run.step_time
    assert result is profiler.result
    assert result["path"].startswith("hand-derived MLP step") and result["device"] == "cpu"
    assert result["batch_size"] == 64 and result["steps"] == 8
    assert list(result["parts"]) == list(PARTS)
    assert all(v >= 0 for v in result["parts"].values())
    assert math.isclose(sum(result["parts"].values()), result["step_seconds"], rel_tol=1e-9)
    assert result["samples_per_second"] == pytest.approx(64 / result["step_seconds"])
    assert result["parts"][MATMULS] > 0 and result["parts"][OPTIMIZER] > 0 and result["parts"][GATHER] > 0
    names = {t["name"]: t["part"] for t in result["top"]}
    assert names["aten::mm"] == MATMULS
    assert names.get("aten::_fused_adam_", OPTIMIZER) == OPTIMIZER


def test_profiling_leaves_training_bit_for_bit_unchanged():
    plain, _ = _fit(None)
    timed, _ = _fit(StepProfiler(steps=8, skip=2))
    for a, b in zip(plain.state_dict().values(), timed.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_the_autograd_path_counts_torch_optim_as_the_optimizer():
    _, run = _fit(StepProfiler(steps=8, skip=2), fast=False)
    result = run.step_time
    assert result["path"] == "autograd step"
    assert result["fast_reason"] == "config.fast is off"
    top = {t["name"]: t["part"] for t in result["top"]}
    assert any(name.startswith("Optimizer.step#") and part == OPTIMIZER for name, part in top.items())
    assert result["parts"][OPTIMIZER] > 0


class _WatchEveryOther(Callback):
    """Watches every other step (the autograd path, with this callback's hooks)."""

    def __init__(self) -> None:
        self.watched = 0

    def wants_step(self, run) -> bool:
        return run.step % 2 == 1

    def on_step_end(self, run) -> None:
        self.watched += 1


class _WatchAll(Callback):
    def wants_step(self, run) -> bool:
        return True


def test_watched_steps_are_left_out_of_the_window():
    watcher = _WatchEveryOther()
    _, run = _fit(StepProfiler(steps=8, skip=2), more=[watcher])
    result = run.step_time
    assert watcher.watched > 0
    assert result["path"].startswith("hand-derived MLP step")  # ", replayed from CUDA graphs" when emulated
    assert result["steps"] == 4  # half of the 8 profiled steps were watched
    # a watched step runs autograd; none of its operations may reach the profile
    assert not any(t["name"].startswith("autograd::") or "Backward" in t["name"] for t in result["top"])
    assert math.isclose(sum(result["parts"].values()), result["step_seconds"], rel_tol=1e-9)


def test_a_window_that_is_all_watched_says_so():
    _, run = _fit(StepProfiler(steps=8, skip=2), more=[_WatchAll()])
    assert run.step_time == {"reason": "monitors watched every step of the window"}
    assert step_time_advice(run.step_time) == [
        "Step time not measured: monitors watched every step of the window."]


def test_too_few_steps_per_epoch_gives_a_reason():
    _, run = _fit(StepProfiler(), n=300)  # 5 steps per epoch
    assert "too few" in run.step_time["reason"]


def test_gpu_kernels_are_sorted_by_name():
    assert _kernel_part("sm90_xmma_gemm_f32f32_tf32f32_f32_nt_n_tilesize128x128x32_warpgroupsize1x1x1") == MATMULS
    assert _kernel_part("void cutlass::Kernel2<cutlass_80_tensorop_s1688gemm_128x128_32x3_nn_align4>") == MATMULS
    assert _kernel_part("sm80_xmma_fprop_implicit_gemm_bf16bf16_bf16f32_f32_nhwckrsc_nhwc") == MATMULS
    assert _kernel_part("void at::native::(anonymous namespace)::multi_tensor_apply_kernel<FusedAdamMathFunctor>") == OPTIMIZER
    assert _kernel_part("void at::native::index_elementwise_kernel<128, 4>") == GATHER
    assert _kernel_part("void at::native::batch_norm_collect_statistics_kernel<float>") == OTHER


def _result(**shares: float) -> dict:
    wall = 1e-3
    parts = dict.fromkeys(PARTS, 0.0)
    parts.update({p: s * wall for p, s in shares.items()})
    return {"device": "cpu", "path": "hand-derived MLP step", "batch_size": 128, "steps": 20, "step_seconds": wall,
            "samples_per_second": 128 / wall, "parts": parts, "top": [], "fast_reason": None, "graphs_reason": None}


def test_the_advice_names_what_dominates_the_step():
    compute = step_time_advice(_result(**{MATMULS: 0.8, OTHER: 0.2}))
    assert compute[0] == ("A training step takes 1.00 ms on the CPU (128,000 samples/s at batch 128), "
                          "on the hand-derived MLP step.")
    assert any("bound by arithmetic" in line for line in compute)
    assert not any("larger batch" in line for line in compute)
    overhead = step_time_advice(_result(**{MATMULS: 0.2, OVERHEAD: 0.7, OTHER: 0.1}))
    assert any("70% of each step is python and launch overhead" in line and "say 256" in line for line in overhead)
    gather = step_time_advice(_result(**{MATMULS: 0.5, GATHER: 0.3, OTHER: 0.2}))
    assert any(line.startswith("Gathering batches takes 30%") for line in gather)
    assert step_time_advice(None) == []


def test_quiet_stderr_silences_and_restores_descriptor_2(capfd):
    with _quiet_stderr():
        os.write(2, b"hidden\n")
    os.write(2, b"shown\n")
    assert capfd.readouterr().err == "shown\n"


def test_an_estimator_with_a_report_shows_where_the_time_goes(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 12)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    clf = NeuralNetClassifier(max_epochs=2, batch_size=32, random_state=0, report=str(tmp_path / "run"),
                              verbose=False).fit(X, y)
    result = clf.run_.step_time
    assert result["path"].startswith("hand-derived MLP step")  # ", replayed from CUDA graphs" when emulated
    page = (tmp_path / "run" / "report.html").read_text(encoding="utf-8")
    assert 'id="speed"' in page and "A training step takes" in page
    assert "matrix multiplies and convolutions" in page


@pytest.mark.gpu
def test_the_step_profile_on_cuda():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    X, y = _data()
    X, y = X.cuda(), y.cuda()
    net = build_network(NetworkSpec(kind="mlp", input_shape=(30,), n_outputs=4, hidden=(64, 32))).cuda()
    profiler = StepProfiler(steps=8, skip=4)
    run = fit_loop(net, make_loss("cross_entropy"), (X, y), None, TrainConfig(batch_size=64, max_epochs=2),
                   [profiler], generator=torch.Generator(device="cuda").manual_seed(1))
    result = run.step_time
    assert result["device"].startswith("cuda"), result
    assert math.isclose(sum(result["parts"].values()), result["step_seconds"], rel_tol=1e-9)
    assert result["parts"][MATMULS] > 0


def test_a_profiler_the_user_runs_is_left_alone():
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as outer:
        _, run = _fit(StepProfiler(steps=8, skip=2))
    assert "another profiler" in run.step_time["reason"]
    # the user's session recorded the whole fit, ours did not end it
    assert any(e.key == "aten::mm" for e in outer.key_averages())


def test_a_continued_run_is_measured_anew():
    X, y = _data(3000)
    net = build_network(NetworkSpec(kind="mlp", input_shape=(30,), n_outputs=4, hidden=(64, 32)))
    profiler, config = StepProfiler(steps=8, skip=2), TrainConfig(batch_size=64, max_epochs=10)
    run = fit_loop(net, make_loss("cross_entropy"), (X, y), None, config, [profiler], epochs=1)
    first = run.step_time
    run = fit_loop(net, make_loss("cross_entropy"), (X, y), None, config, [profiler], run=run, epochs=1)
    again = run.step_time
    assert "parts" in first and "parts" in again and again is not first and again is profiler.result


def test_a_continued_run_on_less_data_plans_on_its_own_steps():
    X, y = _data(3000)
    net = build_network(NetworkSpec(kind="mlp", input_shape=(30,), n_outputs=4, hidden=(64, 32)))
    profiler, config = StepProfiler(steps=8, skip=2), TrainConfig(batch_size=64, max_epochs=10)
    run = fit_loop(net, make_loss("cross_entropy"), (X, y), None, config, [profiler], epochs=1)
    assert run.steps_per_epoch == 47 and "parts" in run.step_time
    run = fit_loop(net, make_loss("cross_entropy"), (X[:320], y[:320]), None, config, [profiler], run=run, epochs=1)
    assert run.steps_per_epoch == 5 and run.n_train == 320
    assert run.step_time == {"reason": "an epoch has 5 steps, too few to time a window of them"}


def test_the_advice_names_other_processes_when_the_step_waited_for_the_cpu():
    from trainwell.diagnose.speed import CONTENDED_BELOW

    alone = step_time_advice({**_result(**{MATMULS: 0.8, OTHER: 0.2}), "threads": 2, "cpu_share": 0.95,
                              "load_average": 1.0, "cores": 2})
    assert not any("other processes" in line for line in alone)
    shared = step_time_advice({**_result(**{MATMULS: 0.8, OTHER: 0.2}), "threads": 2, "cpu_share": 0.2,
                               "load_average": 6.1, "cores": 2})
    assert any("only 20% of its 2 threads' time" in line and "load average 6.1 on 2 cores" in line
               and "threads=1" in line for line in shared)
    one = step_time_advice({**_result(**{MATMULS: 0.8, OTHER: 0.2}), "threads": 1,
                            "cpu_share": CONTENDED_BELOW / 2, "load_average": None, "cores": 2})
    assert any("of its thread's time" in line and "threads=1" not in line for line in one)


def test_a_cpu_step_reports_the_share_of_cpu_time_it_got():
    _, run = _fit(StepProfiler(steps=8, skip=2))
    result = run.step_time
    assert result["threads"] == torch.get_num_threads() and result["cores"] == os.cpu_count()
    # process CPU time over wall time, per torch thread; the process's other threads (a TensorBoard
    # writer, a test suite's leftovers) add to it, so it may pass 1, never reach 0
    assert 0.0 < result["cpu_share"] < 10 * os.cpu_count()
