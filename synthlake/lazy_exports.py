"""Lazy public names for a package (PEP 562): a name is imported from its home module the
first time it is read, then kept in the package's namespace.

Used by ``synthlake`` and ``synthlake.llm``, whose ``__init__`` would otherwise import
pydantic settings or provider SDKs for callers that need neither (a dbt Python model, a
benchmark's child process, ``synthlake doctor``).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_getattr(package: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package`` that imports ``name`` from ``homes[name]``."""

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
