"""The sweep's terminal tables (rich), one row per point, axes by their key (`ac_lanes`; the
full names head results.csv):

  performance   cores used / chip cores, cycles, simulated time (us) and ACs per token,
                and bits per byte when the spec has a [quality] table; points that do not
                fit say so
  energy        per cost table: SNN energy per token (nJ), E_ANN / E_SNN in brackets, a star
                on that table's Pareto front (energy vs time per token)

Two narrow tables rather than one wide one, so both read in an 80-column terminal. The first
point that did not run is quoted below, with its error.
"""

from __future__ import annotations

from typing import Any

from snncompile.sweep.axes import value_label
from snncompile.sweep.results import SweepResult, energy_of, preset_label

STATUS_TEXT = {"does_not_fit": "no fit", "error": "error"}


def render(result: SweepResult, console: Any, max_rows: int = 60) -> None:
    """Print the performance and energy tables of `result` on a rich console."""
    shown = result.points[:max_rows]
    perf = _table(result, f"sweep {result.spec['name']}: {len(result.points)} points "
                          f"({_run_text(result.run)})")
    quality = "quality" in result.spec
    cols = ("cores", "cyc/tok", "us/tok", "ACs/tok") + (("bpb",) if quality else ())
    for col in cols:
        perf.add_column(col, justify="right")
    for p in shown:
        if p["status"] != "ok":
            cells = [f"[red]{STATUS_TEXT.get(p['status'], p['status'])}[/red]"]
            cells += ["-"] * (len(cols) - 1)
        else:
            cells = [f"{p['cores_used']}/{p['cores']}", si(p["per_token"]["cycles"]),
                     si(p["per_token"]["time_s"] * 1e6), si(p["per_token"]["acs"])]
            if quality:
                cells.append(f"{p['quality']['bpb']:.4f}")
        perf.add_row(*_axis_cells(result, p), *cells)
    console.print(perf)

    energy = _table(result, "SNN energy per token, nJ (E_ANN / E_SNN: the dense model priced "
                            "with the column's cost table); * = Pareto front")
    for preset in result.presets:
        energy.add_column(preset_label(preset), justify="right")
    for p in shown:
        cells = []
        for preset in result.presets:
            if p["status"] != "ok":
                cells.append("-")
                continue
            star = "[bold green]*[/bold green]" if p["pareto"][preset] else ""
            ratio = p["energy"][preset]["ratio"]
            ratio_text = "-" if ratio is None else f"{ratio:.2f}"
            cells.append(f"{star}{si(energy_of(p, preset) * 1e9)} ({ratio_text})")
        energy.add_row(*_axis_cells(result, p), *cells)
    console.print(energy)
    if len(result.points) > max_rows:
        console.print(f"... {len(result.points) - max_rows} more points in results.csv")
    bad = [p for p in result.points if p["status"] != "ok"]
    if bad:
        console.print(f"{len(bad)} point(s) did not run; e.g. point {bad[0]['index']}: "
                      f"{bad[0]['error']['type']}: {bad[0]['error']['message']}")


def _table(result: SweepResult, title: str):
    from rich import box
    from rich.table import Table
    t = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)
    t.add_column("#", justify="right")
    for name in result.axis_names:
        t.add_column(name.split(".", 1)[-1])
    return t


def _axis_cells(result: SweepResult, p: dict[str, Any]) -> list[str]:
    return [str(p["index"])] + [value_label(p["axes"][n]) for n in result.axis_names]


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
    if "wall_time_s" in run:
        parts.append(f"{run['wall_time_s']:.1f} s")
    return ", ".join(parts)
