"""`snncompile demo`: export, lower, simulate and price the bundled model; one output folder."""

from __future__ import annotations

import click

from snncompile.cli.jsonout import emit_json, json_option, to_stdout
from snncompile.cli.params import tokenizer_option
from snncompile.demo import DEFAULT_PRESETS, DEFAULT_PROMPT


@click.command()
@click.option("--checkpoint", type=click.Path(file_okay=False), default=None,
              help="A SpikingMamba checkpoint folder [default: the bundled student].")
@click.option("-o", "--output", default="out/demo", show_default=True,
              type=click.Path(file_okay=False), help="Output folder (replaced atomically).")
@click.option("--prompt", default=DEFAULT_PROMPT, show_default=True, help="Prompt text.")
@click.option("--tokens", "n_tokens", type=click.IntRange(1, 4096), default=24,
              show_default=True, help="New tokens to generate.")
@click.option("--hw", "hardware", default="default", show_default=True,
              help="Hardware preset name or TOML file for the accum backend.")
@click.option("--preset", "presets", multiple=True, default=DEFAULT_PRESETS, show_default=True,
              help="Cost table(s) to price the simulated run with (repeatable).")
@tokenizer_option()
@json_option("Write the summary as JSON (summary.json, snncompile-demo-summary/1)")
def demo(checkpoint, output, prompt, n_tokens, hardware, presets, json_out, tokenizer=None):
    """The main job: export -> lower (accum) -> simulate -> energy, on the bundled model."""
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn)
    from rich.table import Table

    from snncompile.atomic import check_outputs
    from snncompile.demo import demo_tokenizer, run_demo

    check_outputs([output, json_out], [checkpoint, hardware, *presets, tokenizer])

    console = Console(stderr=to_stdout(json_out))
    steps = ["load", "export", "run-float", "lower", "run-reference", "simulate"]
    tok = demo_tokenizer(checkpoint, tokenizer)
    sim_total = len(tok.encode(prompt)) + n_tokens - 1
    with Progress(TextColumn("[progress.description]{task.description}"), BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                  transient=True) as bar:
        stage = bar.add_task("pipeline", total=len(steps))
        sim_task = bar.add_task("simulating tokens", total=sim_total, visible=False)

        def status(name: str) -> None:
            bar.update(stage, description=f"pipeline: {name}", completed=steps.index(name))
            if name == "simulate":
                bar.update(sim_task, visible=True)

        summary = run_demo(checkpoint, output, prompt=prompt, n_tokens=n_tokens,
                           hardware=hardware, presets=tuple(presets), status=status,
                           on_token=lambda _t: bar.advance(sim_task), tokenizer=tok)
    if json_out is not None:
        emit_json(summary.to_dict(), json_out)
        return
    s = summary
    console.print(f"[bold]snncompile demo[/bold]: {s.checkpoint} -> {s.output}")
    console.print(f"prompt      {s.prompt!r}")
    console.print(f"simulator   {s.continuation!r}  "
                  f"({'identical to' if s.simulator_matches_reference else 'DIFFERS from'} the "
                  "reference on the lowered program)")
    console.print(f"float model {s.continuation_float!r}  "
                  f"({'same' if s.quantized_matches_float else 'differs after int8 quantization'})")
    t = Table(title=f"per token (mean over {s.tokens} tokens), simulated on the accum core")
    t.add_column("measure")
    t.add_column("value", justify="right")
    t.add_row("cores used", f"{s.cores_used}")
    t.add_row("cycles", f"{s.per_token['cycles']:,.0f}")
    t.add_row("simulated latency", f"{s.per_token['time_s'] * 1e6:,.2f} us")
    t.add_row("ACs (spiked projections)", f"{s.per_token['acs']:,.0f}")
    t.add_row("MACs (dense ops)", f"{s.per_token['macs']:,.0f}")
    t.add_row("firing rate per micro-step slot", f"{s.firing_rate:.4f}")
    console.print(t)
    e = Table(title="energy per token (SNN on the core vs the same model dense, both at the "
                    "cost table's prices)")
    for col in ("cost table", "E_SNN", "E_ANN", "E_ANN / E_SNN", "basis"):
        e.add_column(col, justify="right" if col.startswith("E") else "left")
    for p in s.energy:
        e.add_row(p.preset, f"{p.per_token['snn_j']['total'] * 1e9:,.2f} nJ",
                  f"{p.per_token['ann_j']['total'] * 1e9:,.2f} nJ",
                  "-" if p.ratio is None else f"{p.ratio:.2f}x", p.ratio_basis)
    console.print(e)
    twins = [p for p in s.energy if p.comparison and "ratio" in p.comparison]
    if twins:
        d = Table(title="per token against each cost table's dense twin (docs/baselines.md)")
        for col in ("cost table", "dense twin", "E_dense / E_SNN", "latency SNN",
                    "latency dense"):
            d.add_column(col, justify="left" if col in ("cost table", "dense twin") else "right")
        for p in twins:
            c = p.comparison
            t = c["per_token"]
            d.add_row(p.preset, c["baseline"] + (" (arithmetic only, the paper's method)"
                                                 if c["method"] == "arithmetic" else ""),
                      "-" if c["ratio"] is None else f"{c['ratio']:.2f}x",
                      "-" if t["snn_latency_s"] is None else f"{t['snn_latency_s'] * 1e6:,.2f} us",
                      f"{t['dense_latency_s'] * 1e6:,.2f} us")
        console.print(d)
    console.print(f"files in {s.output}: " + ", ".join(s.files))
