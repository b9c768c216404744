"""`snncompile inspect model.onnx`: per-layer table of an IR file (shapes, params, MACs/ACs)."""

from __future__ import annotations

from typing import Any

import click

from snncompile.cli.jsonout import emit_json, json_option
from snncompile.cli.params import FiniteFloatRange

INSPECT_FORMAT = "snncompile-inspect/1"


def layer_rows(graph, fire_rate: float) -> list[dict[str, Any]]:
    """One row per node: op, shapes, parameter count, spiked/dense, D, and the per-token
    MACs/ACs (SNN) and dense MACs, with SpikedLinear ACs at firing rate `fire_rate`
    (d_out * rate * d_in * D)."""
    import numpy as np

    from snncompile.ir.ops import spike_sum_at_rate

    shapes = graph.value_shapes()
    specs = graph.param_specs()
    seen: set[str] = set()
    rows = []
    for n in graph.nodes:
        D = None
        spike_sum = None
        if n.op.emits_spikes:
            D = n.op.D
        elif n.op.spike_inputs():
            v = n.inputs[n.op.spike_inputs()[0]]  # a network's input: spike counts, level 1
            D = 1 if v in graph.inputs else graph.spike_source(n.name).op.D
            d_in = shapes[n.inputs[n.op.spike_inputs()[0]]][0]
            spike_sum = spike_sum_at_rate(d_in, D, fire_rate)
        c = n.op.counts(spike_sum)
        nparams = 0
        for pname in n.params.values():
            if pname not in seen:  # a shared (tied) weight counts once
                seen.add(pname)
                nparams += int(np.prod(specs[pname][0]))
        spiked = "spiked" if D is not None else "dense"
        rows.append({"name": n.name, "op": n.op_type,
                     "inputs": [list(shapes[v]) for v in n.inputs],
                     "outputs": [list(shapes[v]) for v in n.outputs],
                     "params": nparams, "kind": spiked, "D": D,
                     "macs": c.macs, "acs": c.acs, "dense_macs": c.dense_macs,
                     "dense_acs": c.dense_acs})
    return rows


def _fmt(x) -> str:
    if x is None:
        return "-"
    if isinstance(x, float) and not x.is_integer():
        return f"{x:,.1f}"
    return f"{int(x):,}"


@click.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--fire-rate", type=FiniteFloatRange(0.0, 1.0), default=0.1, show_default=True,
              help="Firing rate per micro-step slot used for the ACs of spiked projections.")
@json_option("Write the rows as JSON (snncompile-inspect/1)")
def inspect(model: str, fire_rate: float, json_out: str | None) -> None:
    """Show MODEL (an snncompile ONNX file) layer by layer, with per-token MACs and ACs."""
    from rich.console import Console
    from rich.table import Table

    from snncompile.atomic import check_outputs
    from snncompile.ir import serde

    check_outputs([json_out], [model, serde.data_path(model)])
    graph = serde.load(model)
    rows = layer_rows(graph, fire_rate)
    totals = {k: sum(r[k] for r in rows) for k in ("params", "macs", "acs", "dense_macs",
                                                     "dense_acs")}
    if json_out is not None:
        emit_json({"format": INSPECT_FORMAT, "model": model, "fire_rate": fire_rate,
                   "metadata": graph.metadata, "tokens": 1, "nodes": rows,
                   "total": totals}, json_out)
        return
    import sys

    table = Table(title=f"{model}  (per token; spiked ACs at fire rate {fire_rate:g})")
    for col, just in (("node", "left"), ("op", "left"), ("in -> out", "left"),
                      ("params", "right"), ("kind", "left"), ("D", "right"), ("MACs", "right"),
                      ("ACs", "right"), ("dense MACs", "right")):
        table.add_column(col, justify=just, no_wrap=True)
    for r in rows:
        shape = (",".join("x".join(map(str, s)) or "()" for s in r["inputs"]) + " -> "
                 + ",".join("x".join(map(str, s)) or "()" for s in r["outputs"]))
        table.add_row(r["name"], r["op"], shape, _fmt(r["params"]), r["kind"], _fmt(r["D"]),
                      _fmt(r["macs"]), _fmt(r["acs"]), _fmt(r["dense_macs"]))
    table.add_row("total", "", "", _fmt(totals["params"]), "", "", _fmt(totals["macs"]),
                  _fmt(totals["acs"]), _fmt(totals["dense_macs"]), style="bold")
    Console(width=None if sys.stdout.isatty() else 160).print(table)
