"""`snncompile sweep SPEC.toml -o OUT [--workers N | --scheduler ADDR | --dask-local N]`:
hardware-mapping experiments (snncompile.sweep)."""

from __future__ import annotations

import click

from snncompile.cli.jsonout import emit_json, json_option, to_stdout
from snncompile.cli.params import tokenizer_option


@click.command()
@click.argument("spec_path", metavar="SPEC.toml", type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(file_okay=False),
              help="Output folder: results.json, results.csv, sweep.png (replaced atomically).")
@click.option("--workers", type=click.IntRange(1, 1024), default=1, show_default=True,
              help="Local executor: 1 runs in this process, N > 1 a pool of N processes.")
@click.option("--scheduler", metavar="ADDRESS",
              help="Run on an existing dask.distributed cluster (e.g. tcp://host:8786).")
@click.option("--dask-local", type=click.IntRange(1, 1024), metavar="N",
              help="Start a dask LocalCluster of N worker processes and run on it.")
@click.option("--plan", is_flag=True, help="List the experiment points and exit.")
@json_option("Write results.json (snncompile-sweep-results/1; on stdout, tables and "
             "progress go to stderr)")
@click.option("--png/--no-png", default=True, show_default=True, help="Write sweep.png.")
@click.option("--max-rows", type=click.IntRange(min=1), default=60, show_default=True,
              help="Rows of the terminal table.")
@tokenizer_option("Tokenizer of the workload prompt (overrides workload.tokenizer): a "
                  "tokenizer.json, a folder holding one, or 'bytes' [default: the one the "
                  "model carries, else bytes].")
def sweep(spec_path: str, output: str | None, workers: int, scheduler: str | None,
          dask_local: int | None, plan: bool, json_out: str | None, png: bool,
          max_rows: int, tokenizer: str | None = None) -> None:
    """Run the cartesian product of SPEC's axes (hardware fields, mapping choices): lower,
    simulate the prompt and price every point with each cost table; tabulate, plot and mark
    the energy-vs-latency Pareto front. A point that does not fit is recorded, not fatal."""
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    from snncompile.atomic import check_outputs
    from snncompile.sweep import load_spec, make_executor, run_sweep, write_outputs
    from snncompile.sweep.report import render

    check_outputs([output, json_out], [spec_path, tokenizer])
    spec = load_spec(spec_path)
    if tokenizer is not None:
        import dataclasses
        spec = dataclasses.replace(spec, tokenizer=tokenizer)
    from snncompile.sweep.runner import spec_tokenizer
    spec_tokenizer(spec)  # a tokenizer that does not fit the model fails before any point
    console = Console(stderr=to_stdout(json_out))
    if plan:
        _print_plan(spec, console)
        return
    if not output:
        raise click.UsageError("give -o/--output (or --plan to list the points)")
    executor = make_executor(workers, scheduler, dask_local)
    n = spec.n_points()
    where = (f"dask scheduler {scheduler}" if scheduler else
             f"a dask LocalCluster of {dask_local} workers" if dask_local else
             "this process" if workers == 1 else f"{workers} local processes")
    console.print(f"sweep {spec.name}: {n} point(s) on {where}")
    counts = {"ok": 0, "does_not_fit": 0, "error": 0}
    with Progress(TextColumn("[progress.description]{task.description}"), BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task("points", total=n)

        def done(record) -> None:
            counts[record["status"]] = counts.get(record["status"], 0) + 1
            bar.update(task, advance=1, description=(
                f"points ({counts['ok']} ran, {counts['does_not_fit']} do not fit"
                + (f", {counts['error']} errors" if counts["error"] else "") + ")"))

        result = run_sweep(spec, executor, on_point=done)
    files = write_outputs(result, output, png=png)
    render(result, console, max_rows=max_rows)
    console.print(f"wrote {output}/ ({', '.join(f.name for f in files)})")
    if json_out is not None:
        emit_json(result.to_dict(), json_out)


def _print_plan(spec, console) -> None:
    from rich.table import Table

    from snncompile.sweep.axes import value_label
    from snncompile.sweep.results import preset_label

    t = Table(title=f"sweep {spec.name}: {spec.n_points()} point(s), base hardware "
                    f"{spec.base_name}, cost tables "
                    f"{', '.join(preset_label(p) for p in spec.presets)}")
    t.add_column("#", justify="right")
    for a in spec.axes:
        t.add_column(a.name)
    t.add_column("cores", justify="right")
    t.add_column("rate", justify="right")
    for p in spec.points():
        t.add_row(str(p.index), *(value_label(p.values[a.name]) for a in spec.axes),
                  str(p.hardware.cores), f"{p.rate:g}")
    console.print(t)
