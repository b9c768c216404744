"""`snncompile lava MODEL --prompt TEXT [--tokens N] [--encoding graded|binary] [--json]`:
run a model's spiked layers in real Lava (lava-nc). MODEL is an snncompile ONNX file (lowered
for the Loihi-2-style target on the fly) or a loihi program folder from
`snncompile lower --backend loihi`."""

from __future__ import annotations

import json

import click


@click.command()
@click.argument("model", type=click.Path())
@click.option("--prompt", required=True, help="Text fed to the model (byte tokens).")
@click.option("--tokens", "n_tokens", type=click.IntRange(0, 10000), default=4,
              show_default=True, help="New tokens to generate greedily (reference interpreter).")
@click.option("--encoding", type=click.Choice(["graded", "binary"]), default=None,
              help="graded (default for a model file): 24-bit payloads, 1 Lava step/token; "
                   "binary: D steps/token, 2 rails. A program folder keeps its own.")
@click.option("--timeout", type=click.FloatRange(1, None), default=None,
              help="Seconds before the Lava subprocess is stopped (default: from its size).")
@click.option("--json", "as_json", is_flag=True, help="Print the report and counters as JSON.")
def lava(model: str, prompt: str, n_tokens: int, encoding: str | None, timeout: float | None,
         as_json: bool) -> None:
    """Run MODEL (an snncompile ONNX file, lowered to Lava Dense blocks here, or a loihi
    program folder from `snncompile lower --backend loihi`) in lava-nc.

    Open-loop replay: the reference interpreter runs the quantized model on the prompt (and
    generates --tokens greedily); every spiked projection's recorded input spikes then run
    through Lava's bit-accurate Dense processes in one Python 3.10 subprocess, and every
    accumulation is checked equal to the reference's (exit 2 naming the layer and token if
    not). Needs `make install-lava` (or SNNCOMPILE_LAVA_PYTHON)."""
    from pathlib import Path

    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from snncompile.backends import get_backend
    from snncompile.backends.loihi import find_lava_python, run_in_lava
    from snncompile.data.tokenizer import decode, encode
    from snncompile.errors import SimulationError
    from snncompile.ir import serde

    ids = encode(prompt)
    if not ids:
        raise SimulationError("--prompt is empty")
    console = Console(stderr=as_json)
    if Path(model).is_dir():
        program = load_loihi_program(model, encoding)
        find_lava_python()
    else:
        find_lava_python()
        with console.status(f"loading {model}"):
            graph = serde.load(model)
        with console.status("lowering for loihi"):
            program = get_backend("loihi").lower(graph, encoding=encoding or "graded",
                                                 source=str(model))
    report = program.report()
    with console.status(f"replaying {len(ids) + max(n_tokens - 1, 0)} tokens through Lava"):
        result = run_in_lava(program, ids, generate=n_tokens, timeout=timeout)
    if as_json:
        click.echo(json.dumps({"lowering": report, "run": result.as_dict(),
                               "text": prompt + decode(result.generated)}, indent=2))
        return
    program.render_report(report, console)
    console.print(Text(prompt, style="bold") + Text(decode(result.generated), style="green"))
    run = result.run
    t = Table(title=f"Lava {run.lava_version} ({run.encoding} spikes) over "
                    f"{len(result.tokens)} tokens: accumulations equal the reference")
    for col in ("layer", "Lava steps", "messages", "synaptic ops", "ACs"):
        t.add_column(col, justify="left" if col == "layer" else "right")
    for r in run.layers.values():
        t.add_row(r.name, str(r.time_steps), f"{r.messages:,}", f"{r.synaptic_ops:,}",
                  f"{r.acs:,}")
    tot = run.totals()
    t.add_row("total", str(tot["time_steps"]), f"{tot['messages']:,}",
              f"{tot['synaptic_ops']:,}", f"{tot['acs']:,}")
    console.print(t)
    console.print(f"Lava: {run.networks} networks, {run.processes} processes, "
                  f"{run.lava_build_s + run.lava_run_s:.2f} s building and running, "
                  f"{run.wall_s:.2f} s subprocess wall; reference replay "
                  f"{result.replay.wall_s:.2f} s (open loop: Lava's outputs are checked, "
                  f"not fed back)")


def load_loihi_program(folder: str, encoding: str | None = None):
    """The LoihiProgram saved in `folder` (SimulationError when it is another backend's, or
    when `encoding` differs from the one it was lowered for)."""
    from snncompile.backends import load_program
    from snncompile.backends.base import read_manifest
    from snncompile.errors import SimulationError

    backend = read_manifest(folder)["backend"]
    if backend != "loihi":
        raise SimulationError(f"{folder!r} is a {backend} program; `snncompile lava` runs loihi "
                              f"programs (`snncompile lower MODEL --backend loihi -o DIR`)")
    program = load_program(folder)
    if encoding is not None and encoding != program.encoding:
        raise SimulationError(f"--encoding {encoding}: {folder!r} was lowered for "
                              f"{program.encoding} spikes (lower it again with --encoding "
                              f"{encoding})")
    return program
