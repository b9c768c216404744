"""`snncompile nir import net.nir -o net.onnx --dt DT` and `snncompile nir export net.onnx -o
net.nir`: NIR interchange (docs/nir.md; snncompile.nir).

import: the NIR file's primitives become IR ops (forward-Euler discretisation with step
--dt seconds); the graph carries dt and the source framework (--source, default the file's
metadata "source", else "nir") in metadata["network"]. --reset subtract | subtract_next
overrides the reset of every spiking neuron whose node does not say (NIR resets to v_reset;
snnTorch's exporter drops its reset_mechanism: "subtract_next" is snnTorch's "subtract").
--quantize-decays rounds decays to Loihi's 12-bit fractions so that shared-parameter layers
become LIF / IF / CubaLIF ops that lower to the cores. A bad, truncated or foreign file, an
unknown or unsupported node is one line and exit 2; nothing is written then.

export: a time-stepped network back to NIR (--dt if the graph has none); a graph NIR cannot
express is refused naming its first such op; --subgraph writes the spiking projections alone
(one unconnected Input -> Linear -> Output chain per SpikedLinear)."""

from __future__ import annotations

import click

from snncompile.cli.params import FiniteFloatRange


@click.group("nir")
def nir() -> None:
    """NIR interchange: import a NIR graph as an IR network, export an IR network as NIR."""


@nir.command("import")
@click.argument("source_file", metavar="NET.nir", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="ONNX file to write (the IR network).")
@click.option("--dt", required=True, type=FiniteFloatRange(0, None, min_open=True),
              help="Time step in seconds (snnTorch's exporter uses 1e-4).")
@click.option("--source", default=None,
              help="Framework that wrote the file, kept in metadata network.source "
                   "[default: the file's metadata 'source', else 'nir'].")
@click.option("--reset", type=click.Choice(["file", "subtract", "subtract_next"]),
              default="file", show_default=True,
              help="Reset of spiking neurons whose node does not say: file (to v_reset, NIR's "
                   "own), subtract (v - threshold after the spike) or subtract_next (at the next "
                   "step: snnTorch's reset_mechanism 'subtract').")
@click.option("--quantize-decays", is_flag=True,
              help="Round decays to 12-bit fractions (alpha = (4096 - dv) / 4096) so that "
                   "layers with shared parameters become LIF / IF / CubaLIF ops.")
def nir_import(source_file: str, output: str, dt: float, source: str | None, reset: str,
               quantize_decays: bool) -> None:
    """Import NET.nir (a NIR HDF5 file) as an IR network ONNX file."""
    from snncompile.atomic import check_outputs
    from snncompile.ir import serde
    from snncompile.nir import import_nir

    check_outputs([output, serde.data_path(output)], [source_file])
    graph = import_nir(source_file, dt, source=source,
                       reset=None if reset == "file" else reset,
                       quantize_decays=quantize_decays)
    path = serde.save(graph, output)
    kinds = ", ".join(f"{n.op_type}" for n in graph.nodes)
    click.echo(f"wrote {path}: {len(graph.nodes)} nodes ({kinds}), "
               f"{graph.metadata['network']['inputs']} inputs, dt {dt:g} s, source "
               f"{graph.metadata['network']['source']}")


@nir.command("export")
@click.argument("model", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="NIR file to write (HDF5).")
@click.option("--dt", type=FiniteFloatRange(0, None, min_open=True), default=None,
              help="Time step in seconds [default: the graph's metadata network.dt].")
@click.option("--subgraph", is_flag=True,
              help="Write the spiking projections alone: one Input -> Linear -> Output "
                   "chain per SpikedLinear, nothing between them.")
def nir_export(model: str, output: str, dt: float | None, subgraph: bool) -> None:
    """Export MODEL (an IR ONNX file) as a NIR graph."""
    from snncompile.atomic import check_outputs
    from snncompile.ir import serde
    from snncompile.nir import export_nir

    check_outputs([output], [model, serde.data_path(model)])
    graph = serde.load(model)
    g = export_nir(graph, output, dt=dt, subgraph=subgraph)
    click.echo(f"wrote {output}: {len(g.nodes)} NIR nodes"
               + (" (spiking projections)" if subgraph else f", {len(g.edges)} edges"))
