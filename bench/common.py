"""What every benchmark shares: the machine, timing, data, the network and table output."""

from __future__ import annotations

import os
import platform
import resource
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from trainwell.nn import NetworkSpec, build_network

N_FEATURES, N_CLASSES, HIDDEN = 784, 10, (256, 128)

#: Which clock the secondary sections report: "wall", or "cpu" (process CPU time: on a
#: shared machine with one thread per process it leaves out the time spent waiting for a core).
CLOCK = {"name": "wall"}


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (or what ``platform`` knows)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


#: Environment variables that hold torch (ATen), MKL and oneDNN to an older instruction set:
#: ``ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 ONEDNN_MAX_CPU_ISA=AVX2`` runs an
#: AVX-512 machine's benchmark on AVX2 kernels.
ISA_LIMITS = ("ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS", "ONEDNN_MAX_CPU_ISA")


def machine() -> dict[str, str]:
    """The facts a reader needs to compare these numbers with theirs."""
    import sklearn

    info = {
        "CPU": f"{cpu_model()} ({os.cpu_count()} logical cores, {torch.backends.cpu.get_cpu_capability()})",
        "torch threads": str(torch.get_num_threads()),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "Python": platform.python_version(),
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
    held = [f"{k}={os.environ[k]}" for k in ISA_LIMITS if os.environ.get(k)]
    if held:
        info["code paths held back by"] = ", ".join(held) + " (this CPU's own instructions, not another CPU)"
    try:
        import skorch

        info["skorch"] = skorch.__version__
    except ImportError:
        pass
    if torch.cuda.is_available():
        info["GPU"] = torch.cuda.get_device_name()
    return info


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class Timing:
    """Wall-clock and process CPU seconds of the timed repeats (warm-up excluded)."""

    seconds: list[float]
    cpu_seconds: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def typical(self) -> float:
        """The median on the clock :data:`CLOCK` names."""
        return self.cpu_median if CLOCK["name"] == "cpu" else self.median

    @property
    def typical_samples(self) -> list[float]:
        """Each timed repeat on the clock :data:`CLOCK` names (for ratios taken round by round)."""
        return self.cpu_seconds if CLOCK["name"] == "cpu" else self.seconds

    @property
    def cpu_median(self) -> float:
        """On a shared machine, single-threaded: the work done, less the waiting for a core."""
        return statistics.median(self.cpu_seconds)


def time_it(fn: Callable[[], object], repeats: int = 5, warmup: int = 1,
            sync: Callable[[], None] | None = None) -> Timing:
    """Call ``fn`` ``warmup`` times untimed, then ``repeats`` times timed (wall clock)."""
    for _ in range(warmup):
        fn()
        if sync:
            sync()
    wall, cpu = [], []
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        if sync:
            sync()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return Timing(wall, cpu)


def time_round_robin(fns: dict[str, Callable[[], object]], repeats: int = 5, warmup: int = 1,
                     sync: Callable[[], None] | None = None, log: Callable[[str], None] | None = None,
                     ) -> dict[str, Timing]:
    """Time several contenders in turns: one call of each per round, ``repeats`` rounds.

    On a machine shared with other work the load drifts; taking turns gives every
    contender the same drift, so their ratios stay fair where back-to-back blocks would not.
    """
    for name, fn in fns.items():
        for _ in range(warmup):
            fn()
            if sync:
                sync()
        if log:
            log(f"  warmed up {name}")
    wall: dict[str, list[float]] = {k: [] for k in fns}
    cpu: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            c0, t0 = time.process_time(), time.perf_counter()
            fn()
            if sync:
                sync()
            wall[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
    return {k: Timing(wall[k], cpu[k]) for k in fns}


def synthetic_mnist(n: int, seed: int = 0, device: str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` random standardised 784-feature rows and labels 0-9 (MNIST-sized, not MNIST).

    Random data is enough for speed: every step does the same arithmetic whatever the values.
    """
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, N_FEATURES, generator=g)
    y = torch.randint(0, N_CLASSES, (n,), generator=g)
    return X.to(device), y.to(device)


def mlp_spec(batchnorm: bool = True) -> NetworkSpec:
    """The benchmark network: 784-256-128-10, ReLU, batch norm (trainwell's defaults)."""
    return NetworkSpec(kind="mlp", input_shape=(N_FEATURES,), n_outputs=N_CLASSES, hidden=HIDDEN,
                       batchnorm=batchnorm)


def mlp(seed: int = 0, device: str = "cpu") -> torch.nn.Module:
    """A freshly initialised benchmark network (the same weights for the same seed)."""
    return build_network(mlp_spec(), generator=torch.Generator().manual_seed(seed)).to(device)


def n_weights() -> int:
    """Parameters that take part in the matrix multiplies (the 6·params·N rule)."""
    sizes = (N_FEATURES, *HIDDEN, N_CLASSES)
    return sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))


def table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub-flavoured markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)
