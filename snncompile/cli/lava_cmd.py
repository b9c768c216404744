"""`snncompile lava model.onnx --prompt TEXT [--tokens N] [--encoding graded|binary] [--json]`:
lower a model for the Loihi-2-style target and run its spiked layers in real Lava (lava-nc)."""

from __future__ import annotations

import json

import click


@click.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--prompt", required=True, help="Text fed to the model (byte tokens).")
@click.option("--tokens", "n_tokens", type=click.IntRange(0, 10000), default=4,
              show_default=True, help="New tokens to generate greedily (reference interpreter).")
@click.option("--encoding", type=click.Choice(["graded", "binary"]), default="graded",
              show_default=True,
              help="graded: 24-bit payloads, 1 Lava step/token; binary: D steps/token, 2 rails.")
@click.option("--timeout", type=click.FloatRange(1, None), default=None,
              help="Seconds before the Lava subprocess is stopped (default: from its size).")
@click.option("--json", "as_json", is_flag=True, help="Print the report and counters as JSON.")
def lava(model: str, prompt: str, n_tokens: int, encoding: str, timeout: float | None,
         as_json: bool) -> None:
    """Lower MODEL (an snncompile ONNX file) to Lava Dense blocks and run them in lava-nc.

    Open-loop replay: the reference interpreter runs the quantized model on the prompt (and
    generates --tokens greedily); every spiked projection's recorded input spikes then run
    through Lava's bit-accurate Dense processes in one Python 3.10 subprocess, and every
    accumulation is checked equal to the reference's (exit 2 naming the layer and token if
    not). Needs `make install-lava` (or SNNCOMPILE_LAVA_PYTHON)."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from snncompile.backends import get_backend
    from snncompile.backends.loihi import find_lava_python, render_report, run_in_lava
    from snncompile.data.tokenizer import decode, encode
    from snncompile.errors import SimulationError
    from snncompile.ir import serde

    ids = encode(prompt)
    if not ids:
        raise SimulationError("--prompt is empty")
    find_lava_python()
    console = Console(stderr=as_json)
    with console.status(f"loading {model}"):
        graph = serde.load(model)
    with console.status("lowering for loihi"):
        program = get_backend("loihi").lower(graph, encoding=encoding, source=str(model))
    report = program.report()
    with console.status(f"replaying {len(ids) + max(n_tokens - 1, 0)} tokens through Lava"):
        result = run_in_lava(program, ids, generate=n_tokens, timeout=timeout)
    if as_json:
        click.echo(json.dumps({"lowering": report, "run": result.as_dict(),
                               "text": prompt + decode(result.generated)}, indent=2))
        return
    render_report(report, console)
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
