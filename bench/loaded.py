"""``python -m bench --loaded``: the thread policy on a deliberately loaded machine (issue 22, target 1).

One spinning Python process per core (:func:`bench.threads.spinning_load`, started and stopped
here, each bounded in time) while the default classifier fits small real tables with one
intra-op thread, every core and ``threads="auto"``, taking turns. The target: ``auto`` within
1.3x of one thread on every table. The report names the CPU and its SIMD flags, torch, and the
load average before and during the run; it ends with a ``**Summary:**`` line that
``python -m bench`` quotes in its issue 22 section (:func:`bench.targets.threads_target`).
"""

from __future__ import annotations

import datetime
import os
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path

import torch

from bench.startup import cpu_model_and_flags
from bench.threads import LOADED_TARGET, policy_markdown, policy_rows, spinning_load, verdict

#: Table names, epochs, rounds (every core: rounds and seconds per fit) of the full and the quick run.
#: The full run takes 2-4 minutes on a loaded 2-core machine; every core's fits are the slow ones
#: there (35-53x one thread in bench/threads.md), hence one round and a budget. 30 epochs: at 10,
#: a breast_cancer fit took 0.08 s, short enough for one scheduler hiccup to move a ratio by 50 %.
FULL = {"tables": ("breast_cancer", "digits", "adult"), "epochs": 30, "repeats": 7, "many_repeats": 1,
        "many_budget_s": 20.0}
QUICK = {"tables": ("breast_cancer",), "epochs": 2, "repeats": 1, "many_repeats": 1, "many_budget_s": 0.5}


def loaded_report(quick: bool = False, note: str = "", log: Callable[[str], None] | None = None) -> str:
    """Run the policy table under a spinning load and return the markdown of ``bench/results-loaded.md``.

    Parameters
    ----------
    quick : bool
        One table, two epochs, one round: checks the harness in seconds; the figures mean nothing.
    note : str
        A sentence about the conditions, copied into the report.
    log : callable, optional
        Progress lines.

    Returns
    -------
    str
        The report.
    """
    say = log or (lambda _msg: None)
    cores = os.cpu_count() or 1
    settings = QUICK if quick else FULL
    model, flags = cpu_model_and_flags()
    started = datetime.datetime.now(datetime.timezone.utc)
    before = os.getloadavg()
    start = time.perf_counter()
    spinners = min(cores, 2) if quick else cores  # quick: a harness check, kept light on a many-core CI machine
    say(f"thread policy under load: {spinners} spinning processes, tables {', '.join(settings['tables'])}")
    with spinning_load(spinners, max_seconds=60 if quick else 900), LoadSampler() as sampled:
        rows = policy_rows(cores, mlp=False, log=say, **settings)
    seconds = time.perf_counter() - start
    after = os.getloadavg()
    worst = max(r.auto_vs_one for r in rows)
    during = [load for load, _ in sampled] or [after[0]]
    runnable = [n for _, n in sampled] or [0]
    out = ["# The thread policy on a loaded machine (issue 22, target 1)", "",
           f"Written by `python -m bench --loaded{' --quick' if quick else ''}` on "
           f"{started:%Y-%m-%d %H:%M} UTC (`bench/loaded.py`).", ""]
    if quick:
        out += ["**Quick mode: one table, two epochs, one round: the numbers are not meaningful.**", ""]
    if note:
        out += [note, ""]
    out += [f"- CPU: {model}; {cores} logical cores; SIMD flags: {flags or 'none listed'}.",
            f"- torch {torch.__version__} (CPU capability {torch.backends.cpu.get_cpu_capability()}).",
            f"- The load: {spinners} spinning Python processes "
            f"({'one per core' if spinners == cores else 'quick mode'}), started before the first fit and "
            "stopped after the last, on top of whatever else was running. Load average (1, 5, 15 min) before: "
            f"{_loads(before)}; during (1 min, sampled every second; it lags the load by about a minute): "
            f"{min(during):.1f} to {max(during):.1f}; after: {_loads(after)}. Runnable tasks on the machine "
            f"during (the instant count of /proc/loadavg): median {statistics.median(runnable):.0f}, "
            f"max {max(runnable)}, on {cores} cores.",
            f"- {settings['epochs']} epochs of the default classifier (`early_stopping=False`, "
            "`diagnostics=False`) per fit, after untimed one-epoch fits (each setting before the first table, "
            f"one thread before the others); median of {settings['repeats']} fit{'s' if settings['repeats'] > 1 else ''} per cell, the settings taking "
            f"turns. Every core: {settings['many_repeats']} fit per table, stopped once past "
            f"{settings['many_budget_s']:g} s and then scaled to the whole fit from the steps it ran (marked ~).",
            "",
            "## Seconds per fit", "", policy_markdown(rows, cores), "",
            f"## Against the target: `threads=\"auto\"` within {LOADED_TARGET}x of one thread", ""]
    out += [f"- {r.table}: auto / 1 thread = {r.auto_vs_one:.2f}x: {verdict(r.auto_vs_one)}." for r in rows]
    out += ["", f"**Summary:** the worst auto / 1 thread is {worst:.2f}x over {len(rows)} "
            f"table{'s' if len(rows) > 1 else ''}; target ≤ {LOADED_TARGET}x: {verdict(worst)}.", "",
            f"Total: {seconds:.0f} s under load.", ""]
    return "\n".join(out)


class LoadSampler:
    """Samples ``/proc/loadavg`` every ``every`` seconds on a thread while the block runs.

    A list of ``(1-minute load average, runnable tasks)``; empty where ``/proc/loadavg`` is absent.
    Hand-written (a daemon thread and a file read) because psutil is not a dependency of the bench.
    """

    def __init__(self, every: float = 1.0):
        self.every, self.samples, self._stop = every, [], threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while True:
            try:
                fields = Path("/proc/loadavg").read_text().split()
                self.samples.append((float(fields[0]), int(fields[3].split("/")[0])))
            except (OSError, IndexError, ValueError):
                return
            if self._stop.wait(self.every):
                return

    def __enter__(self) -> list[tuple[float, int]]:
        self._thread.start()
        return self.samples

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def _loads(loads: tuple[float, float, float]) -> str:
    return " ".join(f"{x:.1f}" for x in loads)
