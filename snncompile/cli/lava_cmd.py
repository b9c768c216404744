"""`snncompile lava MODEL --prompt TEXT [--tokens N] [--encoding graded|binary] [--json]`:
run a model's spiked layers in real Lava (lava-nc). MODEL is an snncompile ONNX file (lowered
for the Loihi-2-style target on the fly) or a loihi program folder from
`snncompile lower --backend loihi`."""

from __future__ import annotations

import click

from snncompile.cli.params import FiniteFloatRange

from snncompile.cli.jsonout import emit_json, json_option, to_stdout


@click.command()
@click.argument("model", type=click.Path())
@click.option("--prompt", required=True, help="Text fed to the model (byte tokens).")
@click.option("--tokens", "n_tokens", type=click.IntRange(0, 10000), default=4,
              show_default=True, help="New tokens to generate greedily (reference interpreter).")
@click.option("--encoding", type=click.Choice(["graded", "binary"]), default=None,
              help="graded (default for a model file): 24-bit payloads, 1 Lava step/token; "
                   "binary: D steps/token, 2 rails. A program folder keeps its own.")
@click.option("--timeout", type=FiniteFloatRange(1, None), default=None,
              help="Seconds before the Lava subprocess is stopped (default: from its size).")
@json_option("Write the report and counters as JSON (snncompile-lava/2)")
def lava(model: str, prompt: str, n_tokens: int, encoding: str | None, timeout: float | None,
         json_out: str | None) -> None:
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
    console = Console(stderr=to_stdout(json_out))
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
    if json_out is not None:
        emit_json(lava_doc(report, result, prompt, decode(result.generated)), json_out)
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


def lava_doc(report: dict, result, prompt: str, continuation: str) -> dict:
    """The `lava --json` document (docs/output-formats.md, snncompile-lava/2): the shared
    names (`prompt`, `continuation`, `token_ids`, `tokens` a count, `nodes`, `total`, `_s`)."""
    run = result.run
    return {"format": "snncompile-lava/2", "program": result.program, "prompt": prompt,
            "continuation": continuation, "token_ids": [int(t) for t in result.generated],
            "new_tokens": len(result.generated), "tokens": len(result.tokens),
            "mode": "open-loop replay of the reference's spike inputs",
            "matches_reference": result.matches, "encoding": run.encoding,
            "lava_version": run.lava_version, "wall_time_s": run.wall_s,
            "lava_build_time_s": run.lava_build_s, "lava_run_time_s": run.lava_run_s,
            "reference_wall_time_s": result.replay.wall_s, "networks": run.networks,
            "processes": run.processes, "network_steps": run.network_steps,
            "nodes": [r.as_dict() for r in run.layers.values()], "total": run.totals(),
            "lowering": report}
