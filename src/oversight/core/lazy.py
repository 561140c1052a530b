"""Public names that live in torch-needing modules, imported on first use.

A package's ``__init__`` re-exports its public names; those whose module imports torch (or an
LLM client) are listed here instead, so ``import oversight`` and every ``__init__`` stay light.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, names: Mapping[str, str], namespace: Mapping[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``: ``names`` maps a public name to the
    module (relative to the package, e.g. ``".learned"``) that defines it."""

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(names[name], package), name)

    def __dir__() -> list[str]:
        return sorted({*namespace, *names})

    return __getattr__, __dir__
