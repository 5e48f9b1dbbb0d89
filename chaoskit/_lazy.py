"""Module-level ``__getattr__`` factories: names a package exposes but imports only on first use, so that
``import chaoskit`` and building a plugin manager stay cheap (``chaoskit --help``, ``chaoskit validate``)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def exports(module_name: str, names: Mapping[str, str], namespace: dict[str, Any]) -> Callable[[str], Any]:
    """``__getattr__`` for ``module_name``: each name in ``names`` comes from the module it maps to, and is then
    cached in ``namespace`` (the module's globals) so later lookups are plain attribute reads."""

    def __getattr__(name: str) -> Any:
        source = names.get(name)
        if source is None:
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(source), name)
        namespace[name] = value
        return value

    return __getattr__


def forward(module_name: str, implementation: str) -> Callable[[str], Any]:
    """``__getattr__`` for ``module_name`` that finds any missing public name in ``implementation``, imported on
    first use (the fault code that used to live in the light spec module)."""

    def __getattr__(name: str) -> Any:
        if name.startswith("__"):  # e.g. __path__, looked up by every ``from module import ...``
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        try:
            return getattr(importlib.import_module(implementation), name)
        except AttributeError:
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}") from None

    return __getattr__
