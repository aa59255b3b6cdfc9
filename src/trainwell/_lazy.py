"""Names a package exports but imports only on first use (PEP 562).

``import trainwell`` and ``trainwell --help`` then do not pay for torch, scikit-learn,
Optuna and matplotlib until a command or a name needs them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

#: package -> {module: public names it defines}: the one list of what each package exports lazily
EXPORTS: dict[str, dict[str, tuple[str, ...]]] = {
    "trainwell": {
        ".estimators": ("NeuralNetClassifier", "NeuralNetRegressor", "load",),
        ".compare": ("compare", "fix", "mcnemar", "wilcoxon",),
        ".diagnose": ("Finding", "check",),
        ".tune": ("lr_find",),
    },
    "trainwell.compare": {
        ".evaluate": ("CompareResult", "compare", "confirm",),
        ".fixing": ("FixResult", "fix",),
        ".plot": ("plot_scores",),
        ".stats": ("McNemarResult", "WilcoxonResult", "holm", "mcnemar", "wilcoxon",),
    },
    "trainwell.diagnose": {
        ".advice": ("advise",),
        ".checks": ("check",),
        ".findings": ("Finding", "Findings", "rank",),
        ".monitors": ("default_monitors",),
        ".speed": ("step_time_advice",),
    },
    "trainwell.report": {
        ".html": ("build_report",),
        ".inputs": ("report_inputs", "write_report_inputs",),
        ".mlflow_log": ("MlflowLogger",),
        ".runfolder": ("save_run",),
        ".tensorboard": ("TensorBoardLogger",),
    },
    "trainwell.tune": {
        ".border": ("BorderWarning", "check_borders",),
        ".lrfind": ("LRFindResult", "lr_find",),
        ".search": ("TuneResult", "tune",),
        ".space": ("DEFAULT_SPACE", "parse_space_strings",),
        ".storage": ("StorageSpec",),
    },
}


def lazy_exports(package: str,
                 namespace: dict[str, Any]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``, which exports ``EXPORTS[package]``.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    namespace : dict
        The package's ``globals()``: a name, once imported, is stored there, so later
        lookups do not come back here.
    """

    exports = {name: module for module, names in EXPORTS[package].items() for name in names}

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(exports[name], package), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
