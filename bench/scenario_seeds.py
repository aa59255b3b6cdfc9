"""Re-run chosen scenarios of the diagnosis bank (``bench/scenarios.py``) under other seeds.

The bank runs every scenario once, with one seed. When a change to training (not to a rule)
flips a scenario's outcome, this says whether the flip is the seed's or the change's: it runs
the named scenarios with seeds 1..N and prints, per scenario, in how many seeds the top finding
names the fault (or, for a healthy run, no warning is raised). Run it once on each version of
the code, e.g.::

    OMP_NUM_THREADS=1 PYTHONPATH=/path/to/old/src python bench/scenario_seeds.py /path/to/old "fair: class" 5
    OMP_NUM_THREADS=1 python bench/scenario_seeds.py . "fair: class" 5

Arguments: the repository root whose ``bench/scenarios.py`` to use, a comma-separated list of
parts of scenario names, and the number of seeds (default 5). Nothing is written to the bank's cache.
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
    root = Path(argv[0]).resolve()
    names = argv[1].split(",")
    seeds = range(1, 1 + (int(argv[2]) if len(argv) > 2 else 5))
    sys.path.insert(0, str(root))
    bank = load_bank(root)
    outcomes: dict[str, list[bool]] = {}
    warnings.simplefilter("ignore")
    for seed in seeds:
        bank.SEED = seed  # read at call time by the splits and samples
        bank.FAST["random_state"] = seed  # built at import time
        for scenario in bank.SCENARIOS:
            if any(n in scenario.name for n in names):
                r = bank.run(scenario)
                good = r["hit1"] if r["expected"] else not r["alarms"]
                outcomes.setdefault(scenario.name, []).append(bool(good))
    import trainwell

    print(f"trainwell from {Path(trainwell.__file__).parent}; seeds {list(seeds)}")
    for name, good in outcomes.items():
        print(f"{name:<55} {sum(good)}/{len(good)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
