"""The command line imports what a command needs when it needs it (timings: bench/startup.py)."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "sklearn", "pandas", "numpy", "scipy", "matplotlib", "optuna")


def _loaded_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", f"{code}\nimport sys; print(' '.join(sys.modules))"],
                         check=True, capture_output=True, text=True).stdout.split()
    return {name for name in HEAVY if name in out}


def test_help_loads_no_heavy_library():
    assert _loaded_after("from trainwell.cli import build_parser; build_parser().format_help()") == set()


def test_the_package_and_its_errors_load_no_heavy_library():
    assert _loaded_after("import trainwell, trainwell.exceptions") == set()


def test_not_fitted_is_scikit_learns_not_fitted_error():
    from sklearn.exceptions import NotFittedError

    from trainwell.exceptions import NotFitted, TrainwellError

    assert issubclass(NotFitted, NotFittedError) and issubclass(NotFitted, TrainwellError)
