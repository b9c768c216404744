"""The SNN/dense energy ratio against firing rate for a chosen pair of sides, with break-even.

A side pair is (cost table, dense baseline[, hardware for the SNN latency]). For every rate R
the graph's analytic counters (`analytic_counters`) are priced with the table (`price`) and
compared with the baseline (`baseline.compare`):

    ratio(R)          = E_dense / E_SNN          (above 1: the SNN uses less energy)
    latency_ratio(R)  = latency_dense / latency_SNN   (when the SNN side has hardware)
    break_even        = the R in [0, 1] with ratio(R) = 1 (None when the curve does not cross 1
                        there). Every analytic counter is affine in R and the dense side does
                        not depend on R (energy/reproduce.py, RatioModel), so
                        E_SNN(R) = E_SNN(0) + R * (E_SNN(1) - E_SNN(0)) and
                        R* = (E_dense - E_SNN(0)) / (E_SNN(1) - E_SNN(0))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from snncompile.energy.analytic import analytic_counters
from snncompile.energy.baseline import DenseBaseline, compare
from snncompile.energy.price import price
from snncompile.energy.table import CostTable
from snncompile.ir.graph import Graph


@dataclass(frozen=True)
class Side:
    """One pair of sides: the SNN's cost table (and hardware, for latency) and the baseline."""

    table: CostTable
    baseline: DenseBaseline
    hardware: Mapping[str, Any] | None = None
    method: str | None = None

    @property
    def label(self) -> str:
        hw = (self.hardware or {}).get("chip", {}).get("name")
        return (f"SNN {self.table.name}" + (f" on {hw}" if hw else "")
                + f" vs {self.baseline.name}")


@dataclass(frozen=True)
class RatePoint:
    rate: float
    ratio: float | None
    latency_ratio: float | None


@dataclass(frozen=True)
class Curve:
    side: Side
    method: str
    points: tuple[RatePoint, ...]
    break_even: float | None


def _compare(graph: Graph, side: Side, rate: float, **kw):
    counters = analytic_counters(graph, rate=rate, **kw)
    return compare(price(counters, side.table), side.baseline, method=side.method,
                   hardware=side.hardware)


def break_even(graph: Graph, side: Side, **kw) -> float | None:
    """The firing rate in [0, 1] at which E_dense = E_SNN (module docstring), or None."""
    c0, c1 = _compare(graph, side, 0.0, **kw), _compare(graph, side, 1.0, **kw)
    e0, e1, ed = c0.snn_energy.total, c1.snn_energy.total, c0.dense_energy.total
    if e1 == e0:
        return None
    r = (ed - e0) / (e1 - e0)
    return r if 0.0 <= r <= 1.0 else None


def ratio_curve(graph: Graph, side: Side, rates: Iterable[float], *, lm_head: bool = True,
                weight_reads: str = "per-spike") -> Curve:
    """ratio and latency ratio at each rate, and the break-even rate (module docstring).
    Raises BaselineError when the pair is not comparable."""
    kw = {"lm_head": lm_head, "weight_reads": weight_reads}
    pts, method = [], "twin"
    for r in rates:
        cmp = _compare(graph, side, float(r), **kw)
        method = cmp.method
        pts.append(RatePoint(float(r), cmp.ratio, cmp.latency_ratio))
    return Curve(side, method, tuple(pts), break_even(graph, side, **kw))
