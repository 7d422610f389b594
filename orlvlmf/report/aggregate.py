"""Aggregate per-seed results into the paper's "mean (std)" form."""

from __future__ import annotations

import math
from typing import Iterable, Sequence


def mean_std(values: Iterable[float | None]) -> tuple[float, float] | None:
    """Mean and population std of the values that are not ``None``; ``None`` if there are none."""
    xs = [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not xs:
        return None
    m = sum(xs) / len(xs)
    return m, math.sqrt(sum((x - m) ** 2 for x in xs) / len(xs))


def fmt_mean_std(values: Sequence[float | None], digits: int = 2) -> str:
    """``0.93 (0.04)``, or ``–`` when nothing was measured."""
    ms = mean_std(values)
    return "–" if ms is None else f"{ms[0]:.{digits}f} ({ms[1]:.{digits}f})"
