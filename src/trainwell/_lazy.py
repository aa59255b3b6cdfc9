"""Names a package exports but imports only on first use (PEP 562).

``import trainwell`` and ``trainwell --help`` then do not pay for torch, scikit-learn,
Optuna and matplotlib until a command or a name needs them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, exports: dict[str, str],
                 namespace: dict[str, Any]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``, whose ``exports`` map names to modules.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    exports : dict
        Public name -> relative module defining it (``".html"``).
    namespace : dict
        The package's ``globals()``: a name, once imported, is stored there, so later
        lookups do not come back here.
    """

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(exports[name], package), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
