"""The one unit every budget is counted in: evaluating one program line on one input costs 1."""

from __future__ import annotations

from dataclasses import dataclass

from oversight.core.errors import BudgetExceeded


@dataclass
class Meter:
    """Counts line evaluations against a limit (``None``: unlimited)."""

    limit: int | None = None
    spent: int = 0

    @property
    def left(self) -> int | None:
        return None if self.limit is None else self.limit - self.spent

    def can_afford(self, cost: int) -> bool:
        return self.limit is None or self.spent + cost <= self.limit

    def charge(self, cost: int) -> None:
        """Spend ``cost`` or raise :class:`BudgetExceeded` without spending anything."""
        if not self.can_afford(cost):
            raise BudgetExceeded(f"cost {cost} exceeds the {self.left} line evaluations left")
        self.spent += cost
