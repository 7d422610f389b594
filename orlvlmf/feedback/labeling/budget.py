"""Budget caps of labeling (``feedback.max_queries``, ``feedback.max_cost_usd``).

Scope (``feedback.budget_scope``):

* ``store`` (default): the caps count everything the label store recorded before this invocation
  (every run sharing the store) plus what this invocation spends — running ``label`` again with
  the same cap spends nothing more; raising the cap buys what it adds;
* ``invocation``: each invocation may spend up to the caps (answers already in the store are free).

Checked before each query starts: stop when the queries asked reach ``max_queries``, or when

    spent + max(0, in_flight * est - in_flight_spent) + est  >  max_cost_usd

where est is the mean total cost of a *finished* query (answered or failed, the store's earlier
ones of the same model included): each query in flight is expected to cost est in all (what it
already spent counts once), the next one est.  Until one query's cost is known, one query at a
time is asked (:attr:`Budget.WAIT`), so even the first ones cannot overshoot much.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional

SCOPES = ("store", "invocation")


@dataclass
class Budget:
    max_queries: Optional[int] = None
    max_cost_usd: Optional[float] = None
    spent_before: float = 0.0  # store scope: USD the store recorded before this invocation
    asked_before: int = 0  # store scope: queries the store recorded as asked before it
    scope: str = "invocation"

    WAIT: ClassVar[str] = "wait"  # no reason to stop, but the next query must wait

    @classmethod
    def of(cls, cfg, store) -> "Budget":
        """The caps of a chat config (``max_queries``, ``max_cost_usd``, ``budget_scope``), with
        what ``store`` recorded as spent when the scope is ``store``."""
        if getattr(cfg, "budget_scope", "store") != "store":
            return cls(cfg.max_queries, cfg.max_cost_usd)
        if cfg.max_queries is None and cfg.max_cost_usd is None:
            return cls(scope="store")
        spent, asked = store.spent()
        return cls(cfg.max_queries, cfg.max_cost_usd, spent, asked, scope="store")

    @staticmethod
    def estimate(finished_usd: float, finished: int) -> Optional[float]:
        """Mean total cost of a finished query (None before any finished)."""
        return finished_usd / finished if finished else None

    def stop_reason(self, asked: int, spent_usd: float, in_flight: int, in_flight_usd: float,
                    est: Optional[float]) -> Optional[str]:
        """Why the next query must not start; :attr:`WAIT` if it must wait; None: it may start.

        ``asked``: queries this invocation asked that count against ``max_queries``;
        ``spent_usd``: what this invocation spent (in-flight queries included);
        ``in_flight_usd``: the part of it spent by queries still in flight; ``est``: see
        :meth:`estimate`.
        """
        where = " in this store" if self.spent_before or self.asked_before else ""
        if self.max_queries is not None and self.asked_before + asked >= self.max_queries:
            return f"budget: max_queries={self.max_queries} reached" + (
                f" ({self.asked_before + asked} queries asked{where})" if where else "")
        if self.max_cost_usd is None:
            return None
        spent = self.spent_before + spent_usd
        per = f", about ${est:.4f} per query" if est is not None else ""
        reason = f"budget: max_cost_usd={self.max_cost_usd:g} reached (spent ${spent:.4f}{where}{per})"
        if spent >= self.max_cost_usd:
            return reason
        if est is None:
            return self.WAIT if in_flight else None
        if spent + max(0.0, in_flight * est - in_flight_usd) + est > self.max_cost_usd:
            return reason
        return None
