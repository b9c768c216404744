"""`snncompile lower model.onnx --backend accum --hw FILE -o prog/`: lower and map a model."""

from __future__ import annotations

import json

import click


@click.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--backend", default="accum", show_default=True,
              help="Target backend (only 'accum' writes a program folder).")
@click.option("--hw", "hardware", default="default", show_default=True,
              help="Hardware description: a TOML file or a preset name (see `snncompile hw list`).")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False),
              help="Program folder to write (replaced atomically).")
@click.option("--rate", type=click.FloatRange(0, 1, min_open=True), default=0.25,
              show_default=True, help="Firing rate per micro-step slot assumed for the mapping.")
@click.option("--encoding", type=click.Choice(["binary", "graded"]), default=None,
              help="Override the hardware's spike encoding.")
@click.option("--cores", "max_cores", type=click.IntRange(min=1), default=16, show_default=True,
              help="How many cores to list in the report.")
@click.option("--json", "as_json", is_flag=True, help="Print the mapping report as JSON.")
def lower(model: str, backend: str, hardware: str, output: str, rate: float,
          encoding: str | None, max_cores: int, as_json: bool) -> None:
    """Quantize, tile and place MODEL (an snncompile ONNX file) and write a program folder.

    A model that does not fit the hardware fails with the layer and what it needs (exit 2)."""
    import dataclasses

    from rich.console import Console

    from snncompile.backends import get_backend
    from snncompile.backends.accum.backend import as_hardware
    from snncompile.backends.accum.report import mapping_report, render_mapping_report
    from snncompile.errors import ConfigError
    from snncompile.ir import serde

    if backend != "accum":
        raise ConfigError(f"--backend {backend!r} has no program folder to write; use 'accum' "
                          f"(`snncompile run` interprets a model on the reference backend)")
    spec = as_hardware(hardware)
    if encoding is not None:
        spec = dataclasses.replace(spec, spike_encoding=encoding)
    console = Console(stderr=as_json)
    with console.status(f"loading {model}"):
        graph = serde.load(model)
    with console.status(f"lowering onto {spec.name}"):
        program = get_backend(backend).lower(graph, spec, rate=rate, source=str(model))
    with console.status(f"writing {output}"):
        program.save(output)
    report = mapping_report(program)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    render_mapping_report(report, console, max_cores=max_cores)
    console.print(f"wrote {output}")
