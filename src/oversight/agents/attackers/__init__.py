"""Attackers: the adaptive attacker that vets makers' backdoors against a critic copy, and the
trained composing attacker (torch, imported lazily) that writes backdoors from the grammar."""

from __future__ import annotations

from typing import TYPE_CHECKING

from oversight.agents.attackers.adaptive import AdaptiveAttacker
from oversight.core.lazy import lazy_exports

if TYPE_CHECKING:
    from oversight.agents.attackers.composer import (
        Attack,
        ComposerPolicy,
        ComposingAttacker,
        train_composer,
    )

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "Attack": ".composer",
        "ComposerPolicy": ".composer",
        "ComposingAttacker": ".composer",
        "train_composer": ".composer",
    },
    globals(),
)

__all__ = ["AdaptiveAttacker", "Attack", "ComposerPolicy", "ComposingAttacker", "train_composer"]
