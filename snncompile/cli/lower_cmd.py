"""`snncompile lower model.onnx --backend NAME [--hw HW] -o prog/`: lower a model for a backend
and write its program folder.

The backend comes from the registry (`snncompile.backends.BACKENDS`); it resolves `--hw`
(`Backend.resolve_hardware`) and takes only its own lowering options (`Backend.option_names`:
accum takes --rate and --encoding, loihi --encoding, reference none); an option the backend
does not take is an error naming it. The report printed afterwards is the program's
(`Program.report()` / `render_report`).

`--hw auto` (accum only) lowers onto the smallest bundled preset the model fits
(`backends.accum.autoselect`: ordered by total weight memory, cores x core.weight_sram_bytes,
then cores, then name); the choice is printed and, with --json, reported as
`hardware_preset`. A model no preset fits is a one-line HardwareFitError."""

from __future__ import annotations

import click

from snncompile.cli.params import FiniteFloatRange

from snncompile.cli.jsonout import emit_json, json_option, to_stdout

LOWER_FORMAT = "snncompile-lower/1"

# command-line flag -> lowering option of `Backend.lower`
FLAGS = {"rate": "--rate", "encoding": "--encoding", "split": "--split"}
AUTO = "auto"  # --hw auto: the smallest bundled accum preset the model fits


@click.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--backend", "backend_name", default="accum", show_default=True,
              help="Target backend: accum (generic core), loihi (Lava Dense blocks) or "
                   "reference (the graph as it is).")
@click.option("--hw", "hardware", default=None,
              help="Hardware description, as the backend reads it: accum, a TOML file, a "
                   "preset (default 'default', see `snncompile hw list`) or 'auto' (the "
                   "smallest bundled preset the model fits); loihi, 'loihi2' (the default); "
                   "reference takes none.")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False),
              help="Program folder to write (replaced atomically).")
@click.option("--rate", type=FiniteFloatRange(0, 1, min_open=True), default=None,
              help="accum: firing rate per micro-step slot assumed for the mapping "
                   "[default: 0.25].")
@click.option("--encoding", type=click.Choice(["binary", "graded"]), default=None,
              help="accum: override the hardware's spike encoding; loihi: graded (default) "
                   "or binary.")
@click.option("--split", type=click.Choice(["auto", "outputs", "partial"]), default=None,
              help="accum, time-stepped networks: how a layer larger than one core is split "
                   "(by outputs, by partial sums, or auto: outputs where they fit) "
                   "[default: auto].")
@click.option("--cores", "max_cores", type=click.IntRange(min=1), default=16, show_default=True,
              help="How many rows of long tables (accum: cores) the report lists.")
@json_option("Write the program's report as JSON (snncompile-lower/1)")
def lower(model: str, backend_name: str, hardware: str | None, output: str, rate: float | None,
          encoding: str | None, split: str | None, max_cores: int,
          json_out: str | None) -> None:
    """Lower MODEL (an snncompile ONNX file) for a backend and write a program folder
    (accum: quantize, tile, pack, place; loihi: quantize, tile into Dense blocks, place).

    A model that does not fit the hardware fails with the layer and what it needs (exit 2)."""
    from rich.console import Console

    from snncompile.atomic import check_outputs
    from snncompile.backends import get_backend
    from snncompile.errors import ConfigError
    from snncompile.ir import serde

    auto = hardware == AUTO
    check_outputs([output, json_out], [model, serde.data_path(model),
                                       None if auto else hardware])

    backend = get_backend(backend_name)
    if auto and backend.name != "accum":
        raise ConfigError(f"--hw {AUTO} chooses among the accum presets; the {backend.name} "
                          f"backend does not take it")
    options = {k: v for k, v in (("rate", rate), ("encoding", encoding), ("split", split))
               if v is not None}
    known = backend.option_names()
    for key in options:
        if key not in known:
            takes = (f"it takes {', '.join(FLAGS.get(k, k) for k in known)}" if known
                     else "it takes no lowering options")
            raise ConfigError(f"{FLAGS[key]} is not an option of the {backend.name} backend "
                              f"({takes})")
    spec = None if auto else backend.resolve_hardware(hardware)
    console = Console(stderr=to_stdout(json_out))
    with console.status(f"loading {model}"):
        graph = serde.load(model)
    chosen = None
    if auto:
        from snncompile.backends.accum.autoselect import lower_on_smallest

        with console.status("lowering onto the smallest preset the model fits"):
            chosen, spec, program = lower_on_smallest(
                lambda hw: backend.lower(graph, hw, source=str(model), **options))
        console.print(f"--hw auto: {chosen} ({spec.cores:,} cores x "
                      f"{spec.weight_sram_bytes:,} bytes of weight SRAM)")
    else:
        with console.status(f"lowering for {backend.name}"):
            program = backend.lower(graph, spec, source=str(model), **options)
    with console.status(f"writing {output}"):
        program.save(output)
    report = program.report()
    if json_out is not None:
        extra = {} if chosen is None else {"hardware_preset": chosen}
        emit_json({"format": LOWER_FORMAT, "backend": backend.name, "output": str(output),
                   **extra, **report}, json_out)
        return
    program.render_report(report, console, max_rows=max_cores)
    console.print(f"wrote {output}")
