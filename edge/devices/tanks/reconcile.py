"""Wet-stock reconciliation of one tank over a period (a shift or a business day).

Layer: edge (pure core). All volumes in litres, compensated to the reference temperature:

    book closing     = opening + deliveries − metered sales
    variance         = measured closing − book closing          (negative: product missing)
    variance %       = variance / metered sales × 100           (of throughput; 0 when nothing sold)
    over threshold   = |variance| > max(threshold_pct % × sales, threshold_min_l)

A tank that leaks shows a growing negative variance; a meter that over-reads a positive one.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Reconciliation", "reconcile"]


@dataclass(frozen=True, slots=True)
class Reconciliation:
    tank: int
    period_start: str
    period_end: str
    opening_l: float
    deliveries_l: float
    sales_l: float
    book_closing_l: float
    measured_closing_l: float
    variance_l: float
    variance_pct: float
    over_threshold: bool

    def to_dict(self) -> dict[str, object]:
        return {
            "tank": self.tank,
            "period_start": self.period_start,
            "period_end": self.period_end,
            "opening_l": round(self.opening_l, 2),
            "deliveries_l": round(self.deliveries_l, 2),
            "sales_l": round(self.sales_l, 2),
            "book_closing_l": round(self.book_closing_l, 2),
            "measured_closing_l": round(self.measured_closing_l, 2),
            "variance_l": round(self.variance_l, 2),
            "variance_pct": round(self.variance_pct, 3),
            "over_threshold": self.over_threshold,
        }


def reconcile(
    tank: int,
    period: tuple[str, str],
    opening_l: float,
    deliveries_l: float,
    sales_l: float,
    measured_closing_l: float,
    threshold_pct: float,
    threshold_min_l: float,
) -> Reconciliation:
    book = opening_l + deliveries_l - sales_l
    variance = measured_closing_l - book
    pct = 100.0 * variance / sales_l if sales_l > 0 else 0.0
    limit = max(threshold_pct / 100.0 * sales_l, threshold_min_l)
    return Reconciliation(
        tank=tank,
        period_start=period[0],
        period_end=period[1],
        opening_l=opening_l,
        deliveries_l=deliveries_l,
        sales_l=sales_l,
        book_closing_l=book,
        measured_closing_l=measured_closing_l,
        variance_l=variance,
        variance_pct=pct,
        over_threshold=abs(variance) > limit,
    )
