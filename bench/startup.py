"""What a command costs before it does any work: ``trainwell --help``, ``trainwell predict`` of 100 rows.

Each command runs as its own process (a fresh interpreter, as a user's shell starts it),
``--repeats`` times after one warm-up run, taking turns so a load change hits all alike;
medians of wall-clock time are printed with the CPU model and flags. Targets (issue 21):
``--help`` under 0.5 s, ``predict`` of 100 rows under 1.5 s. Beside them, the floor: a bare
``python -c pass`` and ``python -c "import torch"``; and the first fit in a fresh process
against its second (issue 22: the tax at most 1 s, :func:`first_fit_seconds`). The figures
mean something only on a quiet machine: the load average is printed, and a figure taken above
~0.5 per core is noise.

    python bench/startup.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import json
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


#: Issue 21/22's targets, wall-clock seconds in a fresh process.
TARGETS = {"trainwell --help": 0.5, "trainwell predict (100 rows)": 1.5}


def startup_commands(tmp: str, floors: bool = True) -> dict[str, list[str]]:
    """The commands to time, after fitting the small iris run that ``predict`` reads (in ``tmp``).

    ``floors``: add a bare ``python -c pass`` and ``python -c "import torch"`` beside them.
    """
    trainwell = [sys.executable, "-m", "trainwell"]
    X, y = load_iris(return_X_y=True, as_frame=True)
    X.assign(species=y).to_csv(f"{tmp}/iris.csv", index=False)
    subprocess.run([*trainwell, "fit", f"{tmp}/iris.csv", "--target", "species", "--out", f"{tmp}/run",
                    "--max-epochs", "5", "--quiet"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pd.concat([X] * 2, ignore_index=True).iloc[:100].to_csv(f"{tmp}/new.csv", index=False)
    commands = {"python -c pass": [sys.executable, "-c", "pass"],
                "python -c 'import torch'": [sys.executable, "-c", "import torch"]} if floors else {}
    return {**commands, "trainwell --help": [*trainwell, "--help"],
            "trainwell predict (100 rows)": [*trainwell, "predict", f"{tmp}/run", f"{tmp}/new.csv"]}


def time_commands(commands: dict[str, list[str]], repeats: int) -> dict[str, list[float]]:
    """Wall seconds of each command, ``repeats`` times after one warm-up run, the commands taking turns."""
    for cmd in commands.values():  # warm-up: the file cache, .pyc files
        _run(cmd)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(repeats):
        for name, cmd in commands.items():
            times[name].append(_run(cmd))
    return times


_FIRST_FIT = """
import json, time
t0 = time.perf_counter()
from sklearn.datasets import load_breast_cancer
from trainwell import NeuralNetClassifier
X, y = load_breast_cancer(return_X_y=True)
t1 = time.perf_counter()
fits = []
for _ in range(2):
    start = time.perf_counter()
    NeuralNetClassifier(max_epochs=20, random_state=0).fit(X, y)
    fits.append(time.perf_counter() - start)
print(json.dumps({"imports": t1 - t0, "first": fits[0], "second": fits[1]}))
"""


def first_fit_seconds() -> dict[str, float]:
    """In a fresh interpreter: the imports, then the first and the second fit of one small table.

    breast_cancer (569 rows), the default classifier, ``max_epochs=20``; the clock starts for
    each fit after ``from trainwell import NeuralNetClassifier`` (which imports torch) and the data.
    The first-fit tax (issue 22: at most 1 s) is ``first - second``.

    Returns
    -------
    dict
        ``imports``, ``first``, ``second``: wall seconds.
    """
    out = subprocess.run([sys.executable, "-c", _FIRST_FIT], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        times = time_commands(startup_commands(tmp), args.repeats)
    model, flags = cpu_model_and_flags()
    print(f"CPU: {model}; {os.cpu_count()} cores; flags: {flags}")
    print(f"load average before/after: {os.getloadavg()[0]:.2f}; torch threads default; repeats {args.repeats}")
    print("| command | median wall (s) | min (s) | target |")
    print("|---|---|---|---|")
    for name, values in times.items():
        target = TARGETS.get(name)
        verdict = "" if target is None else f"< {target} s: {'met' if statistics.median(values) < target else 'missed'}"
        print(f"| {name} | {statistics.median(values):.3f} | {np.min(values):.3f} | {verdict} |")
    fit = first_fit_seconds()
    tax = fit["first"] - fit["second"]
    print(f"\nFirst fit against second (breast_cancer, 20 epochs, fresh process): {fit['first']:.2f} s / "
          f"{fit['second']:.2f} s, a tax of {tax:.2f} s (target 1 s: {'met' if tax <= 1 else 'missed'}); "
          f"imports before them {fit['imports']:.2f} s.")


if __name__ == "__main__":
    main()
