"""The sweep's terminal table (rich): one row per point, the axes, cores used, cycles and
time per token, ACs per token, then per cost table the SNN energy per token, E_ANN/E_SNN and
a star on the Pareto front. Points that do not fit say so; the first such error is quoted
below the table.
"""

from __future__ import annotations

from typing import Any

from snncompile.sweep.axes import value_label
from snncompile.sweep.results import SweepResult, energy_of, preset_label

STATUS_TEXT = {"does_not_fit": "no fit", "error": "error"}


def render(result: SweepResult, console: Any, max_rows: int = 60) -> None:
    from rich.table import Table

    names = result.axis_names
    t = Table(title=f"sweep {result.spec['name']}: {len(result.points)} points "
                    f"({_run_text(result.run)})")
    t.add_column("#", justify="right")
    for n in names:
        t.add_column(n.split(".", 1)[-1])  # the key; the full names are in results.csv
    for col in ("cores", "cyc/tok", "us/tok", "ACs/tok"):
        t.add_column(col, justify="right")
    for preset in result.presets:
        label = preset_label(preset)
        t.add_column(f"nJ/tok {label}", justify="right")
        t.add_column("ANN/SNN", justify="right")
    for p in result.points[:max_rows]:
        cells = [str(p["index"])] + [value_label(p["axes"][n]) for n in names]
        if p["status"] != "ok":
            cells += [f"[red]{STATUS_TEXT.get(p['status'], p['status'])}[/red]", "-", "-", "-"]
            cells += ["-", "-"] * len(result.presets)
        else:
            cells += [f"{p['cores_used']}/{p['cores']}", f"{p['cycles_per_token']:,.0f}",
                      f"{p['time_per_token_s'] * 1e6:,.2f}", f"{p['per_token']['acs']:,.0f}"]
            for preset in result.presets:
                star = " [bold green]*[/bold green]" if p["pareto"][preset] else ""
                ratio = p["energy"][preset]["ratio"]
                cells += [f"{energy_of(p, preset) / 1e3:,.3f}{star}",
                          "-" if ratio is None else f"{ratio:.2f}"]
        t.add_row(*cells)
    console.print(t)
    if len(result.points) > max_rows:
        console.print(f"... {len(result.points) - max_rows} more points in results.csv")
    bad = [p for p in result.points if p["status"] != "ok"]
    if bad:
        console.print(f"{len(bad)} point(s) did not run; e.g. point {bad[0]['index']}: "
                      f"{bad[0]['error']['type']}: {bad[0]['error']['message']}")
    if result.ok_points():
        console.print("[bold green]*[/bold green] = on the Pareto front (energy vs time per "
                      "token) for that cost table")


def _run_text(run: dict[str, Any]) -> str:
    parts = [str(run.get("executor", "local"))]
    if "workers" in run:
        parts.append(f"{run['workers']} worker(s)")
    if "wall_s" in run:
        parts.append(f"{run['wall_s']:.1f} s")
    return ", ".join(parts)
