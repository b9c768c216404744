"""The sweep's terminal table (rich): one row per point, the axes (by their key; the full
names are in results.csv), cores used, cycles and time per token, ACs per token, then per
cost table the SNN energy per token in nJ, E_ANN/E_SNN in brackets and a star on the Pareto
front. Points that do not fit say so; the first such error is quoted
below the table.
"""

from __future__ import annotations

from typing import Any

from snncompile.sweep.axes import value_label
from snncompile.sweep.results import SweepResult, energy_of, preset_label

STATUS_TEXT = {"does_not_fit": "no fit", "error": "error"}


def render(result: SweepResult, console: Any, max_rows: int = 60) -> None:
    from rich import box
    from rich.table import Table

    names = result.axis_names
    t = Table(title=f"sweep {result.spec['name']}: {len(result.points)} points "
                    f"({_run_text(result.run)})", box=box.SIMPLE_HEAD, pad_edge=False)
    t.add_column("#", justify="right")
    for a in result.spec["axes"]:  # by key (ac_lanes); the full names head results.csv
        widest = max(len(value_label(v)) for v in a["values"])
        t.add_column(a["name"].split(".", 1)[-1], overflow="fold", min_width=min(widest, 12))
    for col in ("cores", "cyc/tok", "us/tok", "ACs/tok"):
        t.add_column(col, justify="right", overflow="fold", min_width=6)
    for preset in result.presets:
        t.add_column(f"{preset_label(preset)}\nnJ/tok (ratio)", justify="right",
                     overflow="fold")
    for p in result.points[:max_rows]:
        cells = [str(p["index"])] + [value_label(p["axes"][n]) for n in names]
        if p["status"] != "ok":
            cells += [f"[red]{STATUS_TEXT.get(p['status'], p['status'])}[/red]", "-", "-", "-"]
            cells += ["-"] * len(result.presets)
        else:
            cells += [f"{p['cores_used']}/{p['cores']}", si(p["cycles_per_token"]),
                      si(p["time_per_token_s"] * 1e6), si(p["per_token"]["acs"])]
            for preset in result.presets:
                star = "[bold green]*[/bold green]" if p["pareto"][preset] else ""
                ratio = p["energy"][preset]["ratio"]
                ratio_text = "-" if ratio is None else f"{ratio:.2f}"
                cells.append(f"{star}{si(energy_of(p, preset) / 1e3)} ({ratio_text})")
        t.add_row(*cells)
    console.print(t)
    if len(result.points) > max_rows:
        console.print(f"... {len(result.points) - max_rows} more points in results.csv")
    bad = [p for p in result.points if p["status"] != "ok"]
    if bad:
        console.print(f"{len(bad)} point(s) did not run; e.g. point {bad[0]['index']}: "
                      f"{bad[0]['error']['type']}: {bad[0]['error']['message']}")
    if result.ok_points():
        console.print("nJ/tok = SNN energy per token, (ratio) = E_ANN / E_SNN, "
                      "[bold green]*[/bold green] = on the Pareto front (energy vs time per "
                      "token) for that cost table")


def si(v: float) -> str:
    """Three significant digits with a k/M/G/T suffix: 69930 -> '69.9k', 6.219 -> '6.22'."""
    v = float(f"{v:.3g}")  # round first: 999.6 -> 1000 -> '1.00k'
    for scale, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, "")):
        if abs(v) >= scale or scale == 1.0:
            x = v / scale
            digits = 2 if abs(x) < 10 else 1 if abs(x) < 100 else 0
            return f"{x:.{digits}f}{suffix}"
    return str(v)  # unreachable


def _run_text(run: dict[str, Any]) -> str:
    parts = [str(run.get("executor", "local"))]
    if "workers" in run:
        parts.append(f"{run['workers']} worker(s)")
    if "wall_s" in run:
        parts.append(f"{run['wall_s']:.1f} s")
    return ", ".join(parts)
