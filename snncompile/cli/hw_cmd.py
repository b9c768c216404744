"""`snncompile hw show [FILE] [--json [FILE]] [--toml [FILE]]` / `snncompile hw list`: hardware
descriptions. `--toml` writes the description as a hardware file that `hw show FILE` and
`lower --hw FILE` read back; `--json` writes `snncompile-hw/1` (docs/output-formats.md)."""

from __future__ import annotations

import click

from snncompile.cli.jsonout import STDOUT, emit_json, json_option

HW_FORMAT = "snncompile-hw/1"


@click.group()
def hw() -> None:
    """Inspect hardware descriptions of the generic accumulate-only core."""


@hw.command("show")
@click.argument("file", required=False)
@json_option("Write the description as JSON (snncompile-hw/1)")
@click.option("--toml", "toml_out", metavar="[FILE]", is_flag=False, flag_value=STDOUT,
              default=None, type=click.Path(dir_okay=False, allow_dash=True),
              help="Write the description as a hardware TOML file that `hw show` and "
                   "`lower --hw` read back (--toml: stdout; --toml FILE: that file).")
def show(file: str | None, json_out: str | None, toml_out: str | None) -> None:
    """Print hardware FILE (a TOML path or a preset name; default: the default preset)."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from snncompile.atomic import check_outputs
    from snncompile.backends.accum.hardware import HardwareSpec, field_sources

    check_outputs([json_out, toml_out], [file])
    spec = HardwareSpec.load(file)
    sources = field_sources(file)
    if json_out is not None and toml_out is not None:
        raise click.UsageError("give one of --json and --toml")
    if json_out is not None:
        emit_json({"format": HW_FORMAT, "hardware": spec.to_dict(),
                   "sources": [{"field": k, "source": v} for k, v in sources.items()]},
                  json_out)
        return
    if toml_out is not None:
        text = f"# snncompile hardware description ({HW_FORMAT})\n" + spec.to_toml()
        if toml_out == STDOUT:
            click.echo(text, nl=False)
        else:
            from snncompile.atomic import write_text_atomic
            write_text_atomic(toml_out, text)
            click.echo(f"wrote {toml_out}", err=True)
        return
    table = Table(title=f"{escape(spec.name)}: {spec.cores} cores ({spec.mesh[0]}x{spec.mesh[1]} mesh), "
                        f"{spec.ac_lanes * spec.clock_hz * spec.cores:.3g} AC/s peak")
    table.add_column("field", no_wrap=True)
    table.add_column("value", justify="right")
    table.add_column("meaning")
    if sources:
        table.add_column("source (the file's comment)")
    for key, value, doc in spec.describe():
        row = [key, escape(value), escape(doc)]
        if sources:
            row.append(escape(sources.get(key, "(default)")))
        table.add_row(*row)
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
