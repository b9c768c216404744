"""The mapping report of a Program: cores used, per-core utilization, per-layer tiling, and
the expected inter-core spike traffic and hop counts (placed vs. a row-major baseline).

`mapping_report(program) -> dict` (JSON-serializable); `render_mapping_report(report,
console, max_cores=16)` prints it as rich tables.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from snncompile.backends.accum.program import Program


def mapping_report(program: "Program") -> dict[str, Any]:
    hw, m = program.hardware, program.mapping
    usage = m.core_usage(hw)
    cores = []
    for u in usage.values():
        r, c = hw.coord(u.core)
        cores.append({"core": u.core, "row": r, "col": c, "tiles": u.tiles,
                      "neurons": u.neurons, "neurons_pct": 100.0 * u.neurons / hw.neurons_per_core,
                      "axons": u.axons, "sram_bytes": u.sram,
                      "sram_pct": 100.0 * u.sram / hw.weight_sram_bytes, "layers": list(u.layers)})
    layers = []
    for lm in m.layers:
        layers.append({"name": lm.name, "d_in": lm.d_in, "d_out": lm.d_out, "D": lm.D,
                       "grid": [lm.R, lm.C], "tiles": lm.R * lm.C,
                       "cores": len(set(lm.tile_cores)), "host": m.hosts[lm.name],
                       "weight_bytes": sum(rows * hw.row_bytes(cols)
                                           for _, _, rows, cols, _ in lm.tiles())})
    n = len(cores) or 1
    est = m.estimate
    placed, base = est.get("optimized", {}), est.get("row_major", {})
    return {
        "program": program.name, "hardware": hw.name, "mesh": list(hw.mesh), "cores": hw.cores,
        "cores_used": len(cores), "dense_unit": hw.dense_placement,
        "encoding": hw.spike_encoding, "weight_bits": hw.weight_bits,
        "utilization": {
            "neurons_mean_pct": sum(c["neurons_pct"] for c in cores) / n,
            "neurons_max_pct": max((c["neurons_pct"] for c in cores), default=0.0),
            "sram_mean_pct": sum(c["sram_pct"] for c in cores) / n,
            "sram_max_pct": max((c["sram_pct"] for c in cores), default=0.0),
            "weight_bytes": sum(c["sram_bytes"] for c in cores),
        },
        "traffic_estimate": {
            "rate": m.rate, "messages_per_token": placed.get("messages", 0.0),
            "hops_per_token": placed.get("hops", 0.0), "mean_hops": placed.get("mean_hops", 0.0),
            "max_hops": placed.get("max_hops", 0),
            "row_major_hops_per_token": base.get("hops", 0.0),
        },
        "layers": layers, "per_core": cores,
    }


def render_mapping_report(report: dict[str, Any], console, max_cores: int = 16) -> None:
    from rich.table import Table

    t = report["traffic_estimate"]
    u = report["utilization"]
    console.print(
        f"[bold]{report['program']}[/] on [bold]{report['hardware']}[/] "
        f"({report['mesh'][0]}x{report['mesh'][1]} mesh, {report['encoding']} spikes, "
        f"int{report['weight_bits']} weights, {report['dense_unit']} dense unit): "
        f"[bold]{report['cores_used']}[/] of {report['cores']} cores used, "
        f"{u['weight_bytes']:,} weight bytes")
    console.print(
        f"utilization: neurons mean {u['neurons_mean_pct']:.1f}% max {u['neurons_max_pct']:.1f}%, "
        f"weight SRAM mean {u['sram_mean_pct']:.1f}% max {u['sram_max_pct']:.1f}%")
    base = t["row_major_hops_per_token"]
    gain = (f" (row-major placement: {base:,.0f}, {base / t['hops_per_token']:.2f}x)"
            if t["hops_per_token"] > 0 else "")
    console.print(
        f"inter-core traffic estimate at firing rate {t['rate']}: "
        f"{t['messages_per_token']:,.0f} messages/token, {t['hops_per_token']:,.0f} hops/token"
        f"{gain}, mean {t['mean_hops']:.2f} hops, max {t['max_hops']}")
    lt = Table(title="layers", show_lines=False)
    for col in ("layer", "d_in x d_out", "tiles (RxC)", "cores", "host", "weight bytes"):
        lt.add_column(col, justify="left" if col == "layer" else "right")
    for layer in report["layers"]:
        lt.add_row(layer["name"], f"{layer['d_in']}x{layer['d_out']}",
                   f"{layer['tiles']} ({layer['grid'][0]}x{layer['grid'][1]})",
                   str(layer["cores"]), str(layer["host"]), f"{layer['weight_bytes']:,}")
    console.print(lt)
    ct = Table(title=f"cores (first {max_cores} of {report['cores_used']})"
               if report["cores_used"] > max_cores else "cores")
    for col in ("core", "(row,col)", "tiles", "neurons", "axons", "SRAM bytes", "layers"):
        ct.add_column(col, justify="left" if col == "layers" else "right")
    for c in report["per_core"][:max_cores]:
        ct.add_row(str(c["core"]), f"({c['row']},{c['col']})", str(c["tiles"]),
                   f"{c['neurons']} ({c['neurons_pct']:.0f}%)", str(c["axons"]),
                   f"{c['sram_bytes']:,} ({c['sram_pct']:.0f}%)", ", ".join(c["layers"]))
    console.print(ct)
