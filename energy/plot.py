"""PNG charts (matplotlib, Agg backend; imported only when a chart is asked for).

`write_png(report, path)`: one stacked bar per layer (Mamba2 block, or a node outside the
blocks), SNN energy split by component (AC, MAC, neuron, memory as weight reads / state
traffic / spike-message buffers, NoC, static), with the dense (ANN) energy of the same layer
as a black tick, so the per-layer ratio can be read off.

`write_layers_png(comparison, path)`: one model on one chip against its dense twin
(energy/baseline.py): energy per layer, SNN and dense stacked side by side, and latency per
layer, both sides named in the titles.

`write_ratio_png(curves, path)`: E_dense / E_SNN against the firing rate for any pairs of
sides (energy/ratio_curve.py), break-even (1x) and each pair's break-even rate marked.
"""

from __future__ import annotations

from snncompile.atomic import atomic_path
from snncompile.energy.price import EnergyReport
from snncompile.energy.report import run_unit
from snncompile.errors import MissingDependencyError

COLORS = {"ac": "#4C72B0", "mac": "#DD8452", "neuron": "#55A868", "memory": "#C44E52",
          "noc": "#8172B3", "static": "#937860", "memory_weights": "#C44E52",
          "memory_state": "#E8A0A2", "memory_buffers": "#7A1F22"}
LABELS = {"ac": "AC", "mac": "MAC", "neuron": "neuron", "memory": "memory", "noc": "NoC",
          "static": "static", "memory_weights": "memory: weight reads",
          "memory_state": "memory: state traffic",
          "memory_buffers": "memory: spike/message buffers"}
SPLIT = ("ac", "mac", "neuron", "memory_weights", "memory_state", "memory_buffers", "noc",
         "static")  # the components with memory split, in stacking order


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
        for c in SPLIT:
            vals = [getattr(e, c) * 1e-6 for e in snn]  # pJ -> µJ
            if not any(vals):
                continue
            ax.bar(x, vals, bottom=bottom, color=COLORS[c], label=f"SNN {LABELS[c]}", width=0.8)
            bottom = [b + v for b, v in zip(bottom, vals)]
        ann = [b.ann.total * 1e-6 for b in blocks]
        ax.scatter(x, ann, marker="_", s=120, color="black", zorder=3,
                   label=f"dense model total at {report.table.name}'s prices")
        ax.set_xticks(x)
        ax.set_xticklabels(labels, rotation=90, fontsize=7)
        ax.set_xlabel("block (Mamba2 block index, or node)")
        u, us = run_unit(report)
        per = f"per {u}" if report.tokens == 1 else f"over {report.tokens} {us}"
        ax.set_ylabel(f"energy, µJ ({per})")
        r = report.ratio
        default = (f"SNN {report.table.name} vs dense model at {report.table.name}'s prices, "
                   f"{report.meta.get('mode')}: E_ANN/E_SNN = "
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


def _save(fig, path) -> None:
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")


def write_layers_png(comparison, path, title: str | None = None) -> None:
    """Energy and latency per layer (Mamba2 block, or a node outside the blocks): the SNN on
    its chip against the dense twin (a baseline.Comparison), written atomically."""
    from snncompile.energy.price import sum_energy

    plt = pyplot()
    cmp = comparison
    report, dense = cmp.report, cmp.dense
    index = {l.name: i for i, l in enumerate(report.layers)}
    blocks = report.blocks()
    ids = [[index[n.name] for n in b.nodes] for b in blocks]
    labels = [b.label.replace("layers.", "") for b in blocks]
    per = 1 / max(report.tokens, 1)
    snn = [sum_energy(cmp.snn_node_energy(i) for i in g) for g in ids]
    den = [sum_energy(dense.nodes[i].energy for i in g) for g in ids]
    x = list(range(len(blocks)))
    w = 0.4
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(max(9.0, 0.3 * len(blocks) + 3), 8.0), dpi=120,
                                 sharex=True)
    try:
        for side, vals, off, hatch in (("SNN", snn, -w / 2, None), ("dense", den, w / 2, "//")):
            bottom = [0.0] * len(blocks)
            for c in SPLIT:
                v = [getattr(e, c) * 1e-6 * per for e in vals]  # pJ -> µJ per token
                if not any(v):
                    continue
                a1.bar([i + off for i in x], v, bottom=bottom, width=w, color=COLORS[c],
                       hatch=hatch, edgecolor="white" if hatch else None, linewidth=0,
                       label=f"{side} {LABELS[c]}")
                bottom = [b + y for b, y in zip(bottom, v)]
        a1.set_ylabel("energy per token, µJ")
        a1.legend(fontsize=7, ncol=2, loc="upper left")
        a1.grid(axis="y", alpha=0.3)
        r = cmp.ratio
        a1.set_title(title or (
            f"SNN: table {report.table.name}, hardware {cmp.snn_hardware}  vs  dense: "
            f"{dense.baseline.name} ({cmp.label}); E_dense/E_SNN = "
            + ("-" if r is None else f"{r:.2f}x")), fontsize=9)
        lat = cmp.latency
        if lat is not None:
            a2.bar([i - w / 2 for i in x], [sum(lat.per_node_s[i] for i in g) * per * 1e6
                                           for g in ids], width=w, color="#4C72B0",
                   label=f"SNN latency ({lat.basis}, {lat.hardware})")
        a2.bar([i + w / 2 for i in x], [sum(dense.nodes[i].time_s for i in g) * per * 1e6
                                       for g in ids], width=w, color="#DD8452",
               label=f"dense latency ({dense.baseline.name})")
        lr = cmp.latency_ratio
        a2.set_title("latency per layer" + ("" if lr is None else
                                            f": latency_dense / latency_SNN = {lr:.2f}x")
                     + ("" if lat is not None else " (SNN side: no hardware, not modelled)"),
                     fontsize=9)
        a2.set_ylabel("latency per token, µs")
        a2.set_xticks(x)
        a2.set_xticklabels(labels, rotation=90, fontsize=7)
        a2.set_xlabel("block (Mamba2 block index, or node)")
        a2.legend(fontsize=7, loc="upper left")
        a2.grid(axis="y", alpha=0.3)
        _save(fig, path)
    finally:
        plt.close(fig)


def write_ratio_png(curves, path, title: str | None = None) -> None:
    """E_dense / E_SNN against firing rate for each curve (ratio_curve.Curve), log scale, with
    break-even (1x) and each curve's break-even rate marked; written atomically."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9.0, 5.4), dpi=120)
    try:
        cmap = plt.get_cmap("tab10")
        for k, c in enumerate(curves):
            pts = [p for p in c.points if p.ratio is not None and p.ratio > 0]
            color = cmap(k % 10)
            method = ("arithmetic only, the paper's method" if c.method == "arithmetic"
                      else "dense twin")
            ax.plot([p.rate for p in pts], [p.ratio for p in pts], "-", color=color,
                    label=f"{c.side.label} ({method})")
            if c.break_even is not None:
                ax.axvline(c.break_even, color=color, ls=":", lw=0.9)
                ax.plot([c.break_even], [1.0], "o", color=color, ms=6,
                        label=f"break-even R = {c.break_even:.3f}")
        ax.axhline(1.0, color="black", lw=0.9, label="break-even (1x)")
        ax.set_yscale("log")
        ax.set_xlabel("firing rate R per micro-step slot")
        ax.set_ylabel("E_dense / E_SNN (above 1: the SNN uses less energy)")
        ax.grid(alpha=0.3, which="both")
        ax.set_title(title or "SNN against its named dense baseline, by firing rate", fontsize=10)
        ax.legend(fontsize=7, loc="upper right")
        _save(fig, path)
    finally:
        plt.close(fig)
