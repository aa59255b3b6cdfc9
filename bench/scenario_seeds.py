"""Re-run chosen scenarios of the diagnosis bank (``bench/scenarios.py``) under other seeds.

The bank runs every scenario once, with one seed. When a change to training (not to a rule)
flips a scenario's outcome, this says whether the flip is the seed's or the change's: it runs
the named scenarios with seeds 1..N and prints, per scenario, in how many seeds the top finding
names the fault (or, for a healthy run, no warning is raised). Run it once on each version of
the code, e.g.::

    OMP_NUM_THREADS=1 PYTHONPATH=/path/to/old/src python bench/scenario_seeds.py /path/to/old "fair: class" 5
    OMP_NUM_THREADS=1 python bench/scenario_seeds.py . "fair: class" 5

Arguments: the repository root whose ``bench/scenarios.py`` to use, a comma-separated list of
parts of scenario names (``all`` for every scenario), and the number of seeds (default 5). Nothing is
written to the bank's cache. ``--max-epoch-stride N`` runs the monitors with another
:data:`~trainwell.diagnose.probes.base.MAX_EPOCH_STRIDE` (an experiment on the monitoring rate).
"""

from __future__ import annotations

import importlib.util
import sys
import warnings
from pathlib import Path


def load_bank(root: Path):
    """``bench/scenarios.py`` of ``root``, imported as a module of its own."""
    spec = importlib.util.spec_from_file_location("scenario_bank", root / "bench" / "scenarios.py")
    bank = importlib.util.module_from_spec(spec)
    sys.modules["scenario_bank"] = bank
    spec.loader.exec_module(bank)
    return bank


def main(argv: list[str]) -> int:
    stride = next((int(a.partition("=")[2]) for a in argv if a.startswith("--max-epoch-stride=")), None)
    argv = [a for a in argv if not a.startswith("--")]
    root = Path(argv[0]).resolve()
    names = [""] if argv[1] == "all" else argv[1].split(",")
    seeds = range(1, 1 + (int(argv[2]) if len(argv) > 2 else 5))
    sys.path.insert(0, str(root))
    bank = load_bank(root)
    if stride is not None:
        from trainwell.diagnose.probes import base

        base.MAX_EPOCH_STRIDE = stride
        base.epoch_stride.cache_clear()
    outcomes: dict[str, list[bool]] = {}
    parts: dict[str, str] = {}
    faults: dict[str, bool] = {}
    warnings.simplefilter("ignore")
    for seed in seeds:
        bank.SEED = seed  # read at call time by the splits and samples
        bank.FAST["random_state"] = seed  # built at import time
        for scenario in bank.SCENARIOS:
            if any(n in scenario.name for n in names):
                r = bank.run(scenario)
                good = r["hit1"] if r["expected"] else not r["alarms"]
                outcomes.setdefault(scenario.name, []).append(bool(good))
                parts[scenario.name], faults[scenario.name] = r["part"], bool(r["expected"])
                if not good:  # what was said instead: the top finding of a missed fault, the alarms of a healthy run
                    said = r["top"] if r["expected"] else ",".join(r["alarms"])
                    print(f"seed {seed}: {scenario.name}: {said}", flush=True)
    import trainwell

    print(f"trainwell from {Path(trainwell.__file__).parent}; seeds {list(seeds)}")
    for name, good in outcomes.items():
        print(f"{name:<55} {sum(good)}/{len(good)}")
    for part in dict.fromkeys(parts.values()):
        for fault, what in ((True, "faults named at top-1"), (False, "healthy runs without a warning")):
            runs = [good for name, good in outcomes.items() if parts[name] == part and faults[name] == fault]
            total = sum(len(g) for g in runs)
            if total:
                print(f"{part}: {what}: {sum(sum(g) for g in runs)}/{total} (scenario-seeds)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
