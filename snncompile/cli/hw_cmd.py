"""`snncompile hw show [FILE] [--json]` / `snncompile hw list`: hardware descriptions."""

from __future__ import annotations

import json

import click


@click.group()
def hw() -> None:
    """Inspect hardware descriptions of the generic accumulate-only core."""


@hw.command("show")
@click.argument("file", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the description as JSON.")
def show(file: str | None, as_json: bool) -> None:
    """Print hardware FILE (a TOML path or a preset name; default: the default preset)."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from snncompile.backends.accum.hardware import HardwareSpec

    spec = HardwareSpec.load(file)
    if as_json:
        click.echo(json.dumps(spec.to_dict(), indent=2))
        return
    table = Table(title=f"{spec.name}: {spec.cores} cores ({spec.mesh[0]}x{spec.mesh[1]} mesh), "
                        f"{spec.ac_lanes * spec.clock_hz * spec.cores:.3g} AC/s peak")
    table.add_column("field")
    table.add_column("value", justify="right")
    table.add_column("meaning")
    for key, value, doc in spec.describe():
        table.add_row(key, escape(value), escape(doc))
    Console().print(table)


@hw.command("list")
def list_presets() -> None:
    """List the bundled presets."""
    from snncompile.backends.accum.hardware import HardwareSpec, preset_names

    for name in preset_names():
        s = HardwareSpec.load(name)
        click.echo(f"{name:10s} {s.name}: {s.cores} cores ({s.mesh[0]}x{s.mesh[1]}), "
                   f"{s.weight_sram_bytes // 1024} KB weight SRAM/core, {s.spike_encoding} spikes, "
                   f"{s.dense_placement} dense unit")
