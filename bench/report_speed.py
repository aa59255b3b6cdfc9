"""What a run folder with its HTML report costs: ``python bench/report_speed.py``.

Times :func:`trainwell.report.save_run` (the model, the report's inputs and ``report.html``:
everything a fit adds to its run folder) for the run the test suite checks the report of:
iris, a 50-epoch fit with every monitor attached, one step an epoch (a report's cost grows
with epochs and layers, not steps). Reported: process CPU time (the work done; on a shared
machine a wall clock also measures the neighbours) and wall time, the median of
``--repeats`` calls after a warm-up call, with the CPU model and its flags from
``/proc/cpuinfo``. The report was designed to cost under 3 s of CPU time for this run;
the script says whether it does (it asserts nothing: timing belongs here, not in the tests).

Run::

    python bench/report_speed.py               # 5 timed calls, about 20-30 s on 2 cores
    python bench/report_speed.py --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import machine  # noqa: E402

BUDGET_CPU_SECONDS = 3.0


def cpu_flags() -> str:
    """The ``flags`` line of ``/proc/cpuinfo`` (the first CPU's), or a note that there is none."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith(("flags", "Features")):  # x86, Arm
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "(no /proc/cpuinfo flags on this system)"


def fitted_run():
    """The test suite's 50-epoch iris run (tests/test_report.py) and its held-out rows."""
    from sklearn.datasets import load_iris
    from sklearn.model_selection import train_test_split

    from trainwell import NeuralNetClassifier

    frame = load_iris(as_frame=True).frame
    X = frame.drop(columns="target")
    y = np.array(["setosa", "versicolor", "virginica"])[frame["target"]]
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)
    est = NeuralNetClassifier(max_epochs=50, patience=100, batch_size=128, random_state=0).fit(X_train, y_train)
    assert est.n_iter_ == 50, est.n_iter_
    return est, X_test, y_test


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed calls after one warm-up call (default 5)")
    args = parser.parse_args(argv)

    import trainwell.report.plots  # noqa: F401  (matplotlib's import, ~0.5 s once per process, is not the report's)
    from trainwell.report import save_run

    facts = machine()  # before the timing: its load average is the one at the start
    est, X_test, y_test = fitted_run()
    cpu, wall = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats + 1):
            run_dir = Path(tmp) / f"run{i}"
            c0, t0 = time.process_time(), time.perf_counter()
            save_run(est, run_dir, X_test, y_test)
            if i:  # the first call is the warm-up
                cpu.append(time.process_time() - c0)
                wall.append(time.perf_counter() - t0)

    for key, value in facts.items():
        print(f"{key}: {value}")
    print(f"CPU flags: {cpu_flags()}")
    print()
    cpu_median = statistics.median(cpu)
    print(f"save_run of a 50-epoch iris run (median of {args.repeats} after a warm-up):")
    print(f"  CPU time  {cpu_median:.3f} s   (each: {', '.join(f'{s:.3f}' for s in cpu)})")
    print(f"  wall time {statistics.median(wall):.3f} s   (each: {', '.join(f'{s:.3f}' for s in wall)})")
    within = "within" if cpu_median < BUDGET_CPU_SECONDS else "OVER"
    print(f"  {within} the report's budget of {BUDGET_CPU_SECONDS:g} s of CPU time")


if __name__ == "__main__":
    main()
