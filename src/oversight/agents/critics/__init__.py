"""Critics: agents that point out an artifact's weakness (a counterexample claim).

- search critics (:mod:`.search`): random testing and the guided, solver-aimed search;
- the learned critic (:mod:`.learned`): a pointer network aiming the backward solver;
- the claim critic (:mod:`.claim`): RRM's level-1 critic, a policy over pointed lines.

The learned and claim critics need torch and are imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from oversight.agents.critics.search import (
    CriticConfig,
    SearchCritic,
    Tester,
    critic_budget,
    structural_suspicion,
)
from oversight.core.lazy import lazy_exports

if TYPE_CHECKING:
    from oversight.agents.critics.claim import ClaimCritic, PointerPolicy
    from oversight.agents.critics.learned import LearnedCritic, PointerNet, new_pointer

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "ClaimCritic": ".claim",
        "PointerPolicy": ".claim",
        "LearnedCritic": ".learned",
        "PointerNet": ".learned",
        "new_pointer": ".learned",
    },
    globals(),
)

__all__ = [
    "ClaimCritic",
    "CriticConfig",
    "LearnedCritic",
    "PointerNet",
    "PointerPolicy",
    "SearchCritic",
    "Tester",
    "critic_budget",
    "new_pointer",
    "structural_suspicion",
]
