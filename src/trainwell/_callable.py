"""Packages that can be called as their main function (``trainwell.tune(...)``, ``trainwell.compare(...)``).

A function exported under its package's own name would hide the package
(``import trainwell.tune.space`` then breaks, and which of the two ``trainwell.tune`` means
depends on import order); making the package module itself callable keeps both working.
"""

from __future__ import annotations

import sys
import types


def make_callable(package: str, function: str) -> None:
    """Let ``package(...)`` call ``package.function(...)``; its submodules stay importable."""

    class CallableModule(types.ModuleType):
        def __call__(self, *args, **kwargs):
            return getattr(self, function)(*args, **kwargs)

    sys.modules[package].__class__ = CallableModule
