"""What a command costs before it does any work: ``trainwell --help``, ``trainwell predict`` of 100 rows.

Each command runs as its own process (a fresh interpreter, as a user's shell starts it),
``--repeats`` times after one warm-up run, taking turns so a load change hits all alike;
medians of wall-clock time are printed with the CPU model and flags. Targets (issue 21):
``--help`` under 0.5 s, ``predict`` of 100 rows under 1.5 s. Beside them, the floor: a bare
``python -c pass`` and ``python -c "import torch"``. The figures mean something only on a quiet
machine: the load average is printed, and a figure taken above ~0.5 per core is noise.

    python bench/startup.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import load_iris


def cpu_model_and_flags() -> tuple[str, str]:
    """The first CPU's ``model name`` and the SIMD part of its ``flags`` from /proc/cpuinfo."""
    model, flags = platform.processor() or "unknown", ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and model in ("", "unknown", platform.processor()):
                model = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                flags = " ".join(f for f in line.split(":", 1)[1].split() if f.startswith(("avx", "amx", "fma", "sse4")))
                break
    except OSError:
        pass
    return model, flags


def _run(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    trainwell = [sys.executable, "-m", "trainwell"]
    with tempfile.TemporaryDirectory() as tmp:
        X, y = load_iris(return_X_y=True, as_frame=True)
        table = X.assign(species=y)
        table.to_csv(f"{tmp}/iris.csv", index=False)
        subprocess.run([*trainwell, "fit", f"{tmp}/iris.csv", "--target", "species", "--out", f"{tmp}/run",
                        "--max-epochs", "5", "--quiet"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        rows = pd.concat([X] * 2, ignore_index=True).iloc[:100]
        rows.to_csv(f"{tmp}/new.csv", index=False)
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "python -c 'import torch'": [sys.executable, "-c", "import torch"],
            "trainwell --help": [*trainwell, "--help"],
            "trainwell predict (100 rows)": [*trainwell, "predict", f"{tmp}/run", f"{tmp}/new.csv"],
        }
        for cmd in commands.values():  # warm-up: the file cache, .pyc files
            _run(cmd)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.repeats):
            for name, cmd in commands.items():
                times[name].append(_run(cmd))
    model, flags = cpu_model_and_flags()
    print(f"CPU: {model}; {os.cpu_count()} cores; flags: {flags}")
    print(f"load average before/after: {os.getloadavg()[0]:.2f}; torch threads default; repeats {args.repeats}")
    targets = {"trainwell --help": 0.5, "trainwell predict (100 rows)": 1.5}
    print("| command | median wall (s) | min (s) | target |")
    print("|---|---|---|---|")
    for name, values in times.items():
        target = targets.get(name)
        verdict = "" if target is None else f"< {target} s: {'met' if statistics.median(values) < target else 'missed'}"
        print(f"| {name} | {statistics.median(values):.3f} | {np.min(values):.3f} | {verdict} |")


if __name__ == "__main__":
    main()
