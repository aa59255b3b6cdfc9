"""Where a training step's time goes: matrix multiplies, the optimizer update, the rest.

:class:`StepProfiler` times a window of real training steps twice: first with the clock
alone (the step's true cost), then under PyTorch's profiler, which says how long each
operation ran. It sorts the operations into the few parts a user can act on, and counts
the time no operation accounts for as Python and launch overhead (on a GPU: the time the
GPU sat idle). The profiler is PyTorch's; what is written here is only the grouping and
the window, which the profiler does not know about.

The result lands in ``run.step_time`` (and in a run folder's ``diagnostics.json``, from
which the report draws its speed section). This module only measures;
:func:`trainwell.diagnose.speed.step_time_advice` puts the result in words.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import torch

from .callbacks import Callback, RunState

MATMULS = "matrix multiplies and convolutions"
OPTIMIZER = "optimizer update"
GATHER = "gathering batches"
OTHER = "other operations"
OVERHEAD = "Python and launch overhead"
#: The profiler range around a step a monitor watches (left out of the numbers).
WATCHED = "trainwell::watched_step"
#: The parts of a step, in the order the report shows them.
PARTS = (MATMULS, OPTIMIZER, GATHER, OTHER, OVERHEAD)

_MATMUL_OPS = {"mm", "addmm", "bmm", "baddbmm", "addbmm", "matmul", "linear", "mv", "addmv", "dot",
               "_scaled_mm", "_int_mm"}
_KERNEL_MATMUL = ("gemm", "xmma", "cutlass", "cublas", "conv", "wgrad", "dgrad", "winograd", "sm80_", "sm90_")


class _Unmeasured(Exception):
    """The window could not be measured (the message says why)."""


def _op_part(event: Any) -> str | None:
    """The part of a step that a host-side operation (a profiler event) belongs to.

    ``None`` for the operations of a watched step (inside a :data:`WATCHED` range).
    """
    part = None
    parent = event
    while parent is not None:
        if parent.name == WATCHED:
            return None
        if part is None and parent.name.startswith("Optimizer."):  # torch.optim's step/zero_grad ranges
            part = OPTIMIZER
        parent = parent.cpu_parent
    if part is not None:
        return part
    name = event.name.removeprefix("aten::")
    if name.startswith(("_fused_adam", "_fused_sgd", "_foreach_")):
        return OPTIMIZER
    if name in _MATMUL_OPS or "conv" in name:
        return MATMULS
    if name == "index_select" and event.cpu_parent is None:
        return GATHER  # the loop's own batch gathering (a top-level call, not inside a layer)
    return OTHER


def _kernel_part(name: str) -> str:
    """The part of a step that a GPU kernel belongs to, from its name."""
    low = name.lower()
    if any(s in low for s in _KERNEL_MATMUL):
        return MATMULS
    if "adam" in low or "sgd" in low or "multi_tensor" in low:
        return OPTIMIZER
    if "index" in low or "gather" in low:
        return GATHER
    return OTHER


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence file descriptor 2 for a moment.

    Some torch builds print a line from C++ each time the profiler starts or stops; on
    the command line that would land between the progress rows.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class StepProfiler(Callback):
    """Measure where the time of a training step goes, on a window of real steps.

    Once per fit, in the first epoch with enough full-size steps, it leaves ``skip``
    steps out, times ``steps`` steps with the clock alone, then ``steps`` more under
    ``torch.autograd.profiler.profile`` (with CUDA kernels on a GPU). The steps are the
    run's own: the fast MLP step, CUDA-graph replays or the autograd step, whatever the
    loop runs. Pass it in ``callbacks=``; estimators with ``report=`` and ``trainwell fit``
    add one themselves.

    Parameters
    ----------
    steps : int
        Steps per window (two windows). Fewer when an epoch is short; at least 3.
    skip : int
        Steps of the epoch to leave out first (warm-up, CUDA-graph capture).
    tries : int
        Epochs to try before giving up. On a GPU a try fails when a monitor watches a step
        of the profiled half (its kernels cannot be told apart); elsewhere watched steps are
        simply left out of both halves.

    Attributes
    ----------
    result : dict or None
        ``{"device", "path", "batch_size", "steps", "step_seconds", "samples_per_second",
        "clock", "parts": {part: seconds per step}, "top": [{"name", "part", "seconds"}]}``,
        or ``{"reason": ...}`` when it could not measure; ``None`` before it tried.
    """

    def __init__(self, steps: int = 20, skip: int = 10, tries: int = 3) -> None:
        self.steps = steps
        self.skip = skip
        self.tries = tries
        self.result: dict[str, Any] | None = None
        self._window: tuple[int, int] | None = None
        self._tried = 0
        self._t0 = 0.0
        self._profile: Any = None
        self._marker: Any = None
        self._watched_since: float | None = None
        self._excluded = 0.0
        self._n_watched = 0
        self._plain: float | None = None
        self._clocks = (0.0, 0.0)  # (wall, process CPU) at the start of the unprofiled window
        self._cpu_share: float | None = None

    # ------------------------------------------------------------------ the window
    def on_fit_begin(self, run: RunState) -> None:
        self.result = None  # each fit is measured anew (a continued run's earlier result is dropped)
        run.step_time = None
        self._tried = 0
        self._window = None

    def on_epoch_begin(self, run: RunState) -> None:
        self._abandon()
        if self.result is not None:
            return
        if self._tried >= self.tries:
            self._unmeasured(run, "monitors watched a step of the profiled window in every epoch tried")
            return
        full = run.steps_per_epoch - 1  # the last step may be a smaller batch
        skip = min(self.skip, full // 4)
        k = min(self.steps, (full - skip) // 2)
        if k < 3:
            self._unmeasured(run, f"an epoch has {run.steps_per_epoch} steps, too few to time a window of them")
            return
        self._tried += 1
        self._window = (skip, k)

    def before_step(self, run: RunState, index: int, watched: bool) -> None:
        """Time the window: called by the loop before every step of the epoch (so it must be cheap).

        Each call also marks the end of the previous step. A step a monitor watches runs
        the autograd path with the monitor's hooks: its time is taken out of the window
        (and on the CPU its operations out of the profile, by a marked range).
        """
        if self._window is None:
            return
        start, k = self._window
        if index < start or index > start + 2 * k:
            return
        device = next(run.net.parameters()).device
        if self._watched_since is not None:  # the previous step was watched: take it out
            _sync(device)
            self._excluded += time.perf_counter() - self._watched_since
            self._watched_since = None
            self._n_watched += 1
            if self._marker is not None:
                self._marker.__exit__(None, None, None)
                self._marker = None
        if index == start:
            _sync(device)
            self._t0, self._excluded, self._n_watched = time.perf_counter(), 0.0, 0
            self._clocks = (self._t0, time.process_time())
        elif index == start + k:
            _sync(device)
            self._plain = self._per_step(k)
            self._cpu_share = _cpu_share(self._clocks, device)
            if torch.autograd.profiler._is_profiler_enabled:
                # one profiling session at a time: starting ours would end the user's
                self._unmeasured(run, "another profiler was recording this fit (trainwell's would have ended it)")
                return
            profile = torch.autograd.profiler.profile(use_kineto=device.type == "cuda",
                                                      use_device="cuda" if device.type == "cuda" else None)
            try:
                with _quiet_stderr():
                    profile.__enter__()
            except Exception as exc:  # a profiler quirk must never cost the user the run
                self._unmeasured(run, f"PyTorch's profiler could not start ({type(exc).__name__}: {exc})")
                return
            self._profile = profile
            self._t0, self._excluded, self._n_watched = time.perf_counter(), 0.0, 0
        elif index == start + 2 * k:
            _sync(device)
            profiled_wall = self._per_step(k)
            profile, self._profile, self._window = self._profile, None, None
            try:
                with _quiet_stderr():
                    profile.__exit__(None, None, None)  # inside the try: the profiler's post-processing may fail
                if self._plain is None or profiled_wall is None:
                    raise _Unmeasured("monitors watched every step of the window")
                self.result = self._summarise(run, profile, k - self._n_watched, device, profiled_wall)
            except _Unmeasured as exc:
                self.result = {"reason": str(exc)}
            except Exception as exc:  # a profiler quirk must never cost the user the run
                self.result = {"reason": f"the profiler's events could not be read ({type(exc).__name__}: {exc})"}
            run.step_time = self.result
            return
        if watched:
            if self._profile is not None and device.type == "cuda":
                # its kernels cannot be told apart from the others': try again next epoch
                self._abandon()
                return
            _sync(device)
            self._watched_since = time.perf_counter()
            if self._profile is not None:
                self._marker = torch.autograd.profiler.record_function(WATCHED)
                self._marker.__enter__()

    def _unmeasured(self, run: RunState, reason: str) -> None:
        """Give up on this fit's measurement, saying why."""
        self._window = None
        self.result = run.step_time = {"reason": reason}

    def _per_step(self, k: int) -> float | None:
        """Seconds per unwatched step since ``_t0``, or ``None`` when every step was watched."""
        steps = k - self._n_watched
        return (time.perf_counter() - self._t0 - self._excluded) / steps if steps > 0 else None

    def on_epoch_end(self, run: RunState) -> None:
        self._abandon()
        if self.result is not None and run.step_time is None:
            run.step_time = self.result

    def _abandon(self) -> None:
        if self._marker is not None:
            self._marker.__exit__(None, None, None)
            self._marker = None
        if self._profile is not None:
            profile, self._profile = self._profile, None
            with contextlib.suppress(Exception), _quiet_stderr():
                profile.__exit__(None, None, None)  # the result is thrown away: a failure to stop must not end the fit
        self._window = None
        self._watched_since = None

    # ------------------------------------------------------------------ the numbers
    def _summarise(self, run: RunState, profile: Any, k: int, device: torch.device,
                   profiled_wall: float) -> dict[str, Any]:
        parts: dict[str, float] = defaultdict(float)
        by_name: dict[tuple[str, str], float] = defaultdict(float)
        if device.type == "cuda":
            clock = "GPU kernel time; the rest of the step the GPU sat idle"
            for ev in profile.function_events:
                if ev.device_type == torch.autograd.DeviceType.CUDA:
                    part = _kernel_part(ev.name)
                    seconds = ev.device_time_total * 1e-6 / k
                    parts[part] += seconds
                    by_name[(ev.name, part)] += seconds
            if not parts:
                raise _Unmeasured("the profiler recorded no GPU kernels in the window (CUPTI may not trace "
                                  "CUDA-graph replays here)")
        else:
            clock = "host time of each operation; the rest of the step is Python between them"
            for ev in profile.function_events:
                part = _op_part(ev)
                if part is None:
                    continue
                seconds = ev.self_cpu_time_total * 1e-6 / k
                parts[part] += seconds
                by_name[(ev.name, part)] += seconds
        # Shares come from the profiled window, seconds from the window timed by the clock
        # alone: the profiler's own bookkeeping slows every operation a little.
        accounted = sum(parts.values())
        profiled = max(profiled_wall, accounted)
        wall = self._plain
        scale = wall / profiled if profiled > 0 else 0.0
        parts = defaultdict(float, {p: s * scale for p, s in parts.items()})
        parts[OVERHEAD] = (profiled - accounted) * scale
        by_name = {key: s * scale for key, s in by_name.items()}
        fast, graphs = run.fast_path, run.cuda_graphs
        path = "hand-derived MLP step" if fast.get("used") else "autograd step"
        if graphs.get("used"):
            path += ", replayed from CUDA graphs"
        bs = min(run.config.batch_size, run.n_train)
        top = sorted(by_name.items(), key=lambda kv: -kv[1])[:8]
        return {
            "device": str(device), "path": path, "batch_size": bs, "steps": k,
            "step_seconds": wall, "samples_per_second": bs / wall if wall > 0 else None, "clock": clock,
            "parts": {p: parts.get(p, 0.0) for p in PARTS},
            "top": [{"name": name, "part": part, "seconds": s} for (name, part), s in top],
            "fast_reason": None if fast.get("used") else fast.get("reason"),
            **_contention(self._cpu_share, device),
            "graphs_reason": graphs.get("reason") if device.type == "cuda" and not graphs.get("used") else None,
        }


def _cpu_share(clocks: tuple[float, float], device: torch.device) -> float | None:
    """The share of its threads' time the process got on the CPU since ``clocks`` (CPU only).

    Process CPU time counts every thread; an idle wait in the OpenMP pool still spins, so a
    step that has its cores to itself reads close to 1 (more when other threads of the process,
    a TensorBoard writer say, were busy too: they can hide contention, never invent it). Other processes on the same cores take
    time slices away from it, and the share falls (``bench/threads.py --load``).
    """
    wall = time.perf_counter() - clocks[0]
    if device.type != "cpu" or wall <= 0:
        return None
    return (time.process_time() - clocks[1]) / (wall * torch.get_num_threads())


def _contention(cpu_share: float | None, device: torch.device) -> dict[str, Any]:
    """What the step's measurement says about other work on the machine (CPU steps only)."""
    if device.type != "cpu" or cpu_share is None:
        return {}
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {"threads": torch.get_num_threads(), "cpu_share": cpu_share, "load_average": load,
            "cores": os.cpu_count()}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
