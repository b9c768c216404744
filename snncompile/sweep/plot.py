"""The sweep's PNG: one row of three panels per cost table.

  left    SNN energy per token vs the first axis, one line per combination of the other
          axes (the second axis first; one legend below the figure, at most 12 lines)
  middle  simulated time per token vs the first axis, same lines
  right   energy vs time of every point that ran, the Pareto front joined and ringed

Points that do not fit leave gaps in the lines and are counted in the title. A first axis
with non-numeric values (encodings, meshes) is drawn as evenly spaced categories.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from snncompile.atomic import atomic_path
from snncompile.sweep.axes import value_label
from snncompile.sweep.results import SweepResult, energy_of, preset_label, time_of

MAX_LINES = 12


def _numeric(values: list[Any]) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def write_png(result: SweepResult, path: str | Path) -> Path:
    """Draw the sweep (module docstring) and write it atomically to `path`."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    axes_spec = result.spec["axes"]
    presets = result.presets
    fig, grid = plt.subplots(len(presets), 3, figsize=(15, 4.2 * len(presets)), squeeze=False)
    failed = sum(p["status"] != "ok" for p in result.points)
    title = f"sweep {result.spec['name']}: {len(result.points)} points"
    if failed:
        title += f", {failed} did not run (do not fit / error)"
    fig.suptitle(title)
    x_name = axes_spec[0]["name"] if axes_spec else None
    x_values = [tuple(v) if isinstance(v, list) else v
                for v in (axes_spec[0]["values"] if axes_spec else [])]
    numeric = _numeric(x_values)
    x_pos = {v: (v if numeric else i) for i, v in enumerate(x_values)}
    other = [a["name"] for a in axes_spec[1:]]

    def key(v: Any) -> Any:
        return tuple(v) if isinstance(v, list) else v

    lines: dict[tuple, list[dict]] = {}
    for p in result.points:
        lines.setdefault(tuple(key(p["axes"][n]) for n in other), []).append(p)
    for row, preset in zip(grid, presets):
        ax_e, ax_t, ax_p = row
        label = preset_label(preset)
        for k, (combo, pts) in enumerate(lines.items()):
            if x_name is None or k >= MAX_LINES:
                break
            name = ", ".join(f"{n.split('.', 1)[-1]}={value_label(v)}"
                             for n, v in zip(other, combo)) or "all"
            xs, es, ts = [], [], []
            for p in sorted(pts, key=lambda p: x_pos[key(p["axes"][x_name])]):
                xs.append(x_pos[key(p["axes"][x_name])])
                ok = p["status"] == "ok"
                es.append(energy_of(p, preset) * 1e9 if ok else float("nan"))
                ts.append(time_of(p) * 1e6 if ok else float("nan"))
            if all(p["status"] != "ok" for p in pts):
                name += " (did not run)"
            ax_e.plot(xs, es, marker="o", label=name)
            ax_t.plot(xs, ts, marker="o", label=name)
        for ax, what in ((ax_e, f"SNN energy / token (nJ) [{label}]"),
                         (ax_t, "simulated time / token (us)")):
            ax.set_ylabel(what)
            if x_name is not None:
                ax.set_xlabel(x_name)
                if not numeric:
                    ax.set_xticks(range(len(x_values)), [value_label(v) for v in x_values])
            ax.grid(alpha=0.3)
        ok = result.ok_points()
        es = [energy_of(p, preset) * 1e9 for p in ok]
        ts = [time_of(p) * 1e6 for p in ok]
        ax_p.scatter(ts, es, s=18, color="tab:gray", label="points")
        front = sorted((t, e) for p, t, e in zip(ok, ts, es) if p["pareto"][preset])
        if front:
            ax_p.plot([t for t, _ in front], [e for _, e in front], color="tab:red",
                      marker="o", markerfacecolor="none", markersize=9, label="Pareto front")
        ax_p.set_xlabel("simulated time / token (us)")
        ax_p.set_ylabel(f"SNN energy / token (nJ) [{label}]")
        ax_p.grid(alpha=0.3)
        ax_p.legend(fontsize=7)
    fig.tight_layout()
    handles, labels = grid[0][0].get_legend_handles_labels()
    if len(handles) > 1:  # one legend for all rows, below the figure
        fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0),
                   ncol=min(3, len(handles)), fontsize=8, title=", ".join(other))
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return Path(path)
