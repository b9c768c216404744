"""`snncompile simulate prog/ --prompt TEXT [--tokens N] [--json out.json]`."""

from __future__ import annotations

import time

import click

from snncompile.cli.jsonout import emit_json, json_option, to_stdout
from snncompile.cli.params import token_ids_option, tokenizer_option


@click.command()
@click.argument("program", type=click.Path(file_okay=False))
@click.option("--prompt", default=None, help="Text fed to the model (see --tokenizer).")
@token_ids_option()
@tokenizer_option()
@click.option("--tokens", "n_tokens", type=click.IntRange(0, 100000), default=16,
              show_default=True, help="New tokens to generate (greedy).")
@click.option("--encoding", type=click.Choice(["binary", "graded"]), default=None,
              help="Spike encoding (default: the program's hardware setting).")
@click.option("--input", "input_path", type=click.Path(dir_okay=False), default=None,
              help="Network programs: spike counts per step, a .npy of ints (T x n_in).")
@click.option("-o", "--output", "out_path", type=click.Path(dir_okay=False), default=None,
              help="With --input: write the first graph output over the steps (.npy, T x d).")
@json_option("Write the counters as sim.json (docs/output-formats.md)")
def simulate(program: str, prompt: str | None, token_ids: str | None, tokenizer: str | None,
             n_tokens: int, encoding: str | None, input_path: str | None, out_path: str | None,
             json_out: str | None) -> None:
    """Run PROGRAM (a folder from `snncompile lower`) on the cycle-counting simulator."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.text import Text

    from snncompile.atomic import check_outputs
    from snncompile.backends import load_program
    from snncompile.backends.base import read_manifest
    from snncompile.cli.prompting import check_prompt_args, model_vocab, resolve_prompt
    from snncompile.errors import SimulationError
    from snncompile.simulator import Simulator, sim_json
    from snncompile.simulator.simjson import validate as validate_sim

    # `--json prog/graph.onnx` would destroy the program
    check_outputs([json_out, out_path], [program, input_path, tokenizer])
    console = Console(stderr=to_stdout(json_out))
    if input_path is not None or out_path is not None:
        from snncompile.cli.simulate_net import simulate_network
        if input_path is None:
            raise click.UsageError("-o/--output needs --input (a network's spike counts)")
        if prompt is not None or token_ids is not None:
            raise click.UsageError("give --input (a network) or --prompt / --token-ids "
                                   "(a token model), not both")
        if read_manifest(program)["backend"] != "accum":
            raise SimulationError(f"{program!r}: the time-stepped simulator runs accum programs")
        prog = load_program(program)
        if not prog.graph.is_network:
            raise SimulationError(f"--input is for time-stepped networks; {program!r} is a "
                                  "token model (use --prompt)")
        return simulate_network(program, prog, input_path, out_path, json_out, console)
    check_prompt_args(prompt, token_ids)
    with console.status(f"loading {program}"):
        kind = read_manifest(program)["backend"]
        if kind != "accum":
            raise SimulationError(
                f"{program!r} is a {kind} program; the simulator runs accum programs"
                + (" (run a loihi program with `snncompile lava`)" if kind == "loihi" else ""))
        prog = load_program(program)
        if prog.graph.is_network:
            raise click.UsageError(f"{program!r} is a time-stepped network: give --input "
                                   "x.npy (spike counts, T x n_in), not --prompt / --token-ids")
        p = resolve_prompt(prompt, token_ids, tokenizer, program, model_vocab(prog.graph),
                           empty_error=SimulationError)
        ids = p.ids
        sim = Simulator(prog, encoding)
    total = len(ids) + max(n_tokens - 1, 0)
    t0 = time.perf_counter()
    with Progress(TextColumn("[progress.description]{task.description}"), BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                  transient=True) as bar:
        task = bar.add_task("simulating tokens", total=total)
        new = sim.generate(ids, n_tokens, on_token=lambda _t: bar.advance(task))
    wall = time.perf_counter() - t0
    continuation = p.continuation(new)
    console.print(Text(p.text, style="bold") + Text(continuation, style="green"))
    c, hw = sim.counters, prog.hardware
    tot = c.totals()
    cycles = tot.cycles
    console.print(counter_table(tot, c.tokens, "token", f"{sim.encoding} spikes, {hw.name}"))
    console.print(f"simulated time {cycles / hw.clock_hz * 1e3:.3f} ms "
                  f"({cycles / max(c.tokens, 1):,.0f} cycles/token at "
                  f"{hw.clock_hz / 1e9:g} GHz); "
                  f"host time {wall:.2f} s")
    if json_out is not None:
        doc = sim_json(c, prompt=p.text, continuation=continuation, token_ids=list(new),
                       wall_time_s=wall)
        doc.update(p.doc())
        validate_sim(doc)
        emit_json(doc, json_out)


def counter_table(totals, n: int, unit: str, what: str):
    """The counters (LAYER_KEYS) in total over n `unit`s and per `unit`, as a rich table."""
    from rich.table import Table

    from snncompile.simulator import LAYER_KEYS

    table = Table(title=f"counters: total over {n} {unit}s and per {unit} ({what})")
    table.add_column("counter")
    table.add_column("total", justify="right")
    table.add_column(f"per {unit}", justify="right")
    for key in LAYER_KEYS:
        v = getattr(totals, key)
        table.add_row(key, f"{v:,}", f"{v / max(n, 1):,.1f}")
    return table
