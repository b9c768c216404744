"""Sweep results: the Pareto front, results.json and the rows of results.csv.

Pareto front (per cost table): among the points that ran, point p is on the front when no
other point q has E(q) <= E(p) and T(q) <= T(p) with one of them strictly smaller, where E is
the SNN energy per token (J) and T the simulated time per token (s). Points with identical
(E, T) are on the front together or not at all.

results.json (format `snncompile-sweep-results/1`, docs/output-formats.md):
    {"format": ..., "spec": SweepSpec.to_dict(), "run": {"executor", "workers", "wall_time_s"},
     "points": [run_point record + "pareto": {preset: bool}, ...]}       # in point order
results.csv (`snncompile-sweep-csv/1`): one row per point x cost table (`CSV_FIELDS`, then one
column per axis after "point"): axis values, the token count, cores used, cycles and time per
token, ACs and MACs per token, SNN energy per token by component (J), the dense (ANN) energy,
the ratio E_ANN/E_SNN, Pareto membership, the error of a point that does not fit; with the
spec's [quality] table, then `QUALITY_FIELDS` (bits per byte, token perplexity, firing rate).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from snncompile.sweep.axes import value_label
from snncompile.sweep.point import COMPONENTS

FORMAT = "snncompile-sweep-results/1"
CSV_FIELDS = (("preset", "status", "tokens", "cores", "cores_used", "cycles_per_token",
               "time_per_token_s", "acs_per_token", "macs_per_token", "spikes_per_token",
               "noc_hops_per_token")
              + tuple(f"e_snn_{c}_j_per_token" for c in COMPONENTS)
              + ("e_ann_j_per_token", "ratio", "ratio_basis", "pareto", "error"))
# after CSV_FIELDS, only when the spec has a [quality] table
QUALITY_FIELDS = ("bpb", "perplexity", "firing_rate")


@dataclass
class SweepResult:
    """A finished sweep: its spec (dict form), the point records in order, run metadata."""

    spec: dict[str, Any]
    points: list[dict[str, Any]]
    run: dict[str, Any] = field(default_factory=dict)

    @property
    def presets(self) -> list[str]:
        return list(self.spec["energy"]["presets"])

    @property
    def axis_names(self) -> list[str]:
        return [a["name"] for a in self.spec["axes"]]

    def ok_points(self) -> list[dict[str, Any]]:
        return [p for p in self.points if p["status"] == "ok"]

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "spec": self.spec, "run": self.run, "points": self.points}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)


def energy_of(point: dict[str, Any], preset: str) -> float:
    """The SNN energy per token of a point that ran, in joules."""
    return point["energy"][preset]["per_token"]["snn_j"]["total"]


def time_of(point: dict[str, Any]) -> float:
    """The simulated time per token of a point that ran, in seconds."""
    return point["per_token"]["time_s"]


def pareto_front(pairs: Sequence[tuple[float, float]]) -> list[bool]:
    """On-front flags of (energy, time) pairs, minimising both (module docstring)."""
    order = sorted(range(len(pairs)), key=lambda i: (pairs[i][1], pairs[i][0]))
    flags = [False] * len(pairs)
    best = float("inf")  # lowest energy among strictly faster points
    k = 0
    while k < len(order):
        t = pairs[order[k]][1]
        group = []
        while k < len(order) and pairs[order[k]][1] == t:
            group.append(order[k])
            k += 1
        e_min = min(pairs[i][0] for i in group)
        if e_min < best:
            for i in group:
                flags[i] = pairs[i][0] == e_min
            best = e_min
    return flags


def mark_pareto(points: list[dict[str, Any]], presets: Sequence[str]) -> None:
    """Add `pareto: {preset: bool}` to every point record (False where it did not run)."""
    for p in points:
        p["pareto"] = {preset: False for preset in presets}
    ok = [p for p in points if p["status"] == "ok"]
    for preset in presets:
        flags = pareto_front([(energy_of(p, preset), time_of(p)) for p in ok])
        for p, f in zip(ok, flags):
            p["pareto"][preset] = f


def preset_label(preset: str) -> str:
    """A cost table's short name: the file stem of a path, else the name itself."""
    return Path(preset).stem if preset.endswith(".toml") else preset


def csv_rows(result: SweepResult) -> list[dict[str, Any]]:
    """One dict per point x cost table, keys "point", the axis names, then CSV_FIELDS."""
    rows = []
    for p in result.points:
        for preset in result.presets:
            row: dict[str, Any] = {"point": p["index"]}
            for name in result.axis_names:
                row[name] = value_label(p["axes"][name])
            row.update(preset=preset_label(preset), status=p["status"], cores=p["cores"],
                       pareto=p.get("pareto", {}).get(preset, False),
                       error=(p["error"] or {}).get("message", ""))
            if p["status"] == "ok":
                e = p["energy"][preset]
                pt = p["per_token"]
                row.update(tokens=p["tokens"], cores_used=p["cores_used"],
                           cycles_per_token=pt["cycles"], time_per_token_s=pt["time_s"],
                           acs_per_token=pt["acs"], macs_per_token=pt["macs"],
                           spikes_per_token=pt["spikes"], noc_hops_per_token=pt["noc_hops"],
                           e_ann_j_per_token=e["per_token"]["ann_j"]["total"],
                           ratio=e["ratio"], ratio_basis=e["ratio_basis"])
                row.update({f"e_snn_{c}_j_per_token": e["per_token"]["snn_j"][c]
                            for c in COMPONENTS})
            if "quality" in p:
                row.update({k: p["quality"][k] for k in QUALITY_FIELDS})
            rows.append(row)
    return rows


def to_csv(result: SweepResult) -> str:
    buf = io.StringIO()
    names = ["point", *result.axis_names, *CSV_FIELDS,
             *(QUALITY_FIELDS if "quality" in result.spec else ())]
    w = csv.DictWriter(buf, fieldnames=names, restval="", lineterminator="\n")
    w.writeheader()
    for row in csv_rows(result):
        w.writerow(row)
    return buf.getvalue()
