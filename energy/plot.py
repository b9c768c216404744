"""PNG charts (matplotlib, Agg backend; imported only when a chart is asked for).

`write_png(report, path)`: one stacked bar per layer (Mamba2 block, or a node outside the
blocks), SNN energy split by component (AC, MAC, neuron, memory, NoC, static), with the dense
(ANN) energy of the same layer as a black tick, so the per-layer ratio can be read off.
"""

from __future__ import annotations

from snncompile.atomic import atomic_path
from snncompile.energy.price import EnergyReport
from snncompile.energy.table import COMPONENTS
from snncompile.errors import MissingDependencyError

COLORS = {"ac": "#4C72B0", "mac": "#DD8452", "neuron": "#55A868", "memory": "#C44E52",
          "noc": "#8172B3", "static": "#937860"}
LABELS = {"ac": "AC", "mac": "MAC", "neuron": "neuron", "memory": "memory", "noc": "NoC",
          "static": "static"}


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    try:
        import matplotlib
    except ImportError:
        raise MissingDependencyError("PNG output needs matplotlib: pip install matplotlib") from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    return plt


def write_png(report: EnergyReport, path, title: str | None = None) -> None:
    """Stacked bar chart of the per-layer energy by component, written atomically."""
    plt = pyplot()
    blocks = report.blocks()
    labels = [b.label.replace("layers.", "") for b in blocks]
    x = list(range(len(blocks)))
    fig, ax = plt.subplots(figsize=(max(8.0, 0.22 * len(blocks) + 3), 4.8), dpi=120)
    try:
        bottom = [0.0] * len(blocks)
        snn = [b.snn for b in blocks]
        for c in COMPONENTS:
            vals = [getattr(e, c) * 1e-6 for e in snn]  # pJ -> µJ
            if not any(vals):
                continue
            ax.bar(x, vals, bottom=bottom, color=COLORS[c], label=f"SNN {LABELS[c]}", width=0.8)
            bottom = [b + v for b, v in zip(bottom, vals)]
        ann = [b.ann.total * 1e-6 for b in blocks]
        ax.scatter(x, ann, marker="_", s=120, color="black", zorder=3, label="dense (ANN) total")
        ax.set_xticks(x)
        ax.set_xticklabels(labels, rotation=90, fontsize=7)
        ax.set_xlabel("block (Mamba2 block index, or node)")
        per = "per token" if report.tokens == 1 else f"over {report.tokens} tokens"
        ax.set_ylabel(f"energy, µJ ({per})")
        r = report.ratio
        default = (f"{report.table.name}, {report.meta.get('mode')}: E_ANN/E_SNN = "
                   + ("-" if r is None else f"{r:.2f}x"))
        lm = report.meta.get("lm_head")
        if lm is not None:
            default += ", LM head " + ("counted" if lm else "not counted")
        ax.set_title(title or default, fontsize=10)
        ax.legend(fontsize=8, loc="upper left")
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)
