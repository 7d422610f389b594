"""Budget caps of one labeling invocation (``feedback.max_queries``, ``feedback.max_cost_usd``).

Checked before each query starts: the run stops cleanly when ``max_queries`` queries were started,
or when spent + (in flight + 1) * (mean cost per answered query) would pass ``max_cost_usd`` — so
it stays within the cap up to the estimate's error.  Answers already in the store cost nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass
class Budget:
    max_queries: Optional[int] = None
    max_cost_usd: Optional[float] = None

    def stop_reason(self, started: int, spent_usd: float, costed: int, in_flight: int) -> str | None:
        """Why the next query must not start (None: it may).

        ``started``: queries started so far; ``spent_usd``: their cost so far; ``costed``: answered
        queries whose cost is known; ``in_flight``: queries started and not finished.
        """
        if self.max_queries is not None and started >= self.max_queries:
            return f"budget: max_queries={self.max_queries} reached"
        if self.max_cost_usd is not None:
            est = spent_usd / costed if costed else 0.0
            if spent_usd + (in_flight + 1) * est > self.max_cost_usd or spent_usd >= self.max_cost_usd:
                return (f"budget: max_cost_usd={self.max_cost_usd:g} reached "
                        f"(spent ${spent_usd:.4f}, about ${est:.4f} per query)")
        return None
