"""`snncompile energy`: price a model's decoding step, analytically or from simulator counters.

Analytic mode (the paper-style AC-vs-MAC estimate, or any cost table):
    snncompile energy --config mamba2-1.3b --fire-rate 0.12 --preset paper-45nm
    snncompile energy --model model.onnx --mean-spikes 0.5 --no-lm-head --json
Measured mode (the simulator's counters, adding memory, NoC and static power where the
table prices them):
    snncompile energy --from sim.json --preset accum
Every comparison names both sides: the SNN's cost table and hardware, and the dense baseline
(energy/baselines/*.toml, docs/baselines.md; default: the table's dense twin), with energy and
latency on both sides. Mismatched sides (technology, memory on one side only) are refused.
    snncompile energy --config mamba2-1.3b --fire-rate 0.12 --preset accum --hw default \
        --layers-png layers.png --rate-png ratio.png --pair loihi1-sanafe:dense-loihi1-sanafe
"""

from __future__ import annotations

from pathlib import Path

import click

from snncompile.cli.params import FiniteFloatRange

from snncompile.cli.jsonout import emit_json, json_option
from snncompile.energy.analytic import DEFAULT_D, WEIGHT_READS


def _load_config(spec: str):
    from snncompile.errors import ConfigError
    from snncompile.models.config import resolve_config

    try:
        return resolve_config(spec)
    except ConfigError as exc:
        raise ConfigError(f"--config {exc}") from None


@click.command()
@click.option("--config", "config_spec", metavar="NAME|PATH",
              help="Analytic: a public config (mamba2-130m ... mamba2-2.7b) or a config.json.")
@click.option("--model", "model_path", type=click.Path(dir_okay=False),
              help="Analytic: an exported model.onnx (its neurons fix D).")
@click.option("--from", "sim_path", type=click.Path(dir_okay=False),
              help="Measured: the simulator's sim.json.")
@click.option("--fire-rate", type=FiniteFloatRange(),
              help="Firing rate R per micro-step slot: sum|s| = R * d_in * D.")
@click.option("--mean-spikes", type=FiniteFloatRange(),
              help="Mean spike count per neuron and token: sum|s| = m * d_in (m = R * D).")
@click.option("--rates-from", type=click.Path(dir_okay=False),
              help="Analytic with the per-node firing rates measured in this sim.json.")
@click.option("--lm-head/--no-lm-head", "lm_head", default=None,
              help="Count the (dense) LM head in both models [analytic default: counted; "
                   "measured default: as simulated].")
@click.option("--D", "D", type=click.IntRange(1, 1 << 16), default=None,
              help=f"Spike levels / micro-steps per token for --config [default {DEFAULT_D}, "
                   "the project's SI-LIF default].")
@click.option("--preset", default="paper-45nm", show_default=True, metavar="NAME|PATH",
              help="Cost table: a bundled name (see --list-presets) or a .toml file.")
@click.option("--weight-reads", type=click.Choice(WEIGHT_READS), default="per-spike",
              show_default=True,
              help="Analytic memory model of spiked projections: a weight fetch per spike "
                   "event, or per active input (lower bound).")
@click.option("--tokens", type=click.IntRange(1, 10**12), default=1, show_default=True,
              help="Analytic: number of decoding steps to count.")
@click.option("--per-op", is_flag=True, help="Terminal table per node instead of per block.")
@json_option("Write the JSON report (snncompile-energy/2, joules)")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), help="Write a CSV report.")
@click.option("--png", "png_path", type=click.Path(dir_okay=False),
              help="Write a per-layer stacked bar chart (PNG).")
@click.option("--list-presets", is_flag=True, help="List the bundled cost tables and exit.")
@click.option("--baseline", "baseline_spec", metavar="NAME|PATH",
              help="Dense baseline to compare with (see --list-baselines) [default: the cost "
                   "table's dense twin].")
@click.option("--method", type=click.Choice(("twin", "arithmetic")), default=None,
              help="twin: every priced component on both sides; arithmetic: AC + MAC only, the "
                   "paper's method [default: arithmetic for a table without memory, else twin].")
@click.option("--hw", "hw_spec", metavar="PRESET|FILE",
              help="Analytic: the chip for the SNN's latency estimate [default: the baseline's "
                   "chip preset, else the table's].")
@click.option("--layers-png", type=click.Path(dir_okay=False),
              help="Write energy and latency per layer, SNN against the dense baseline (PNG).")
@click.option("--rate-png", type=click.Path(dir_okay=False),
              help="Analytic: write E_dense / E_SNN against firing rate with break-even (PNG).")
@click.option("--pair", "pairs", multiple=True, metavar="TABLE:BASELINE[:HW]",
              help="Another pair of sides for --rate-png (repeatable).")
@click.option("--list-baselines", is_flag=True,
              help="List the bundled dense baselines and exit.")
def energy(config_spec, model_path, sim_path, fire_rate, mean_spikes, rates_from, lm_head, D,
           preset, weight_reads, tokens, per_op, json_out, csv_path, png_path, list_presets,
           baseline_spec, method, hw_spec, layers_png, rate_png, pairs, list_baselines):
    """Energy of one decoding step: SNN (ACs for spiked projections) vs the dense Mamba2.

    E_ANN = E_MAC * dense MACs; E_SNN = E_AC * ACs + E_MAC * MACs of what stays dense, plus
    memory, NoC and static power where the cost table prices them. The dense side is a named
    baseline (the table's dense twin by default), with latency on both sides; every ratio
    names both sides. Always says whether the LM head was counted."""

    from snncompile.atomic import check_outputs
    from snncompile.energy import report as rep
    from snncompile.energy.table import list_tables

    check_outputs([csv_path, png_path, json_out, layers_png, rate_png],
                  [config_spec, model_path, sim_path, rates_from, preset, baseline_spec,
                   hw_spec])

    if list_presets:
        from snncompile.energy.baseline import twin_of_table
        for name in list_tables():
            t = cost_table(name)
            click.echo(f"{name}: {t.description} [dense twin: {twin_of_table(name) or 'none'}]")
        return
    if list_baselines:
        from snncompile.energy.baseline import list_baselines as names, load_baseline
        for name in names():
            b = load_baseline(name)
            click.echo(f"{name} ({b.technology}; twin of tables {', '.join(b.twin_tables)}"
                       + (f", presets {', '.join(b.twin_presets)}" if b.twin_presets else "")
                       + f"): {b.description}")
        return
    sources = [s for s in (config_spec, model_path, sim_path) if s]
    if len(sources) != 1:
        raise click.UsageError("give exactly one of --config, --model or --from")

    if rate_png and sim_path:
        raise click.UsageError("--rate-png is for analytic mode (--config or --model)")
    if pairs and not rate_png:
        raise click.UsageError("--pair adds a curve to --rate-png")
    if sim_path:
        if hw_spec:
            raise click.UsageError("--hw is for analytic mode; --from uses the simulated chip")
        counters, table = _measured(sim_path, preset, lm_head, fire_rate, mean_spikes,
                                    rates_from, D)
        graph = None
    else:
        counters, table, graph = _analytic(config_spec, model_path, fire_rate, mean_spikes,
                                           rates_from, lm_head, D, preset, weight_reads, tokens)

    from snncompile.energy.price import price
    report = price(counters, table)
    baseline = _baseline(baseline_spec, table)
    comparison = None
    if baseline is not None:
        from snncompile.energy.baseline import compare
        hardware = None if sim_path else _latency_hardware(hw_spec, baseline, preset)
        comparison = compare(report, baseline, method=method, hardware=hardware)
    elif method or hw_spec or layers_png:
        from snncompile.errors import BaselineError
        raise BaselineError(f"cost table {table.name!r} has no bundled dense twin: name one "
                            "with --baseline (see --list-baselines)")
    curves = None
    if rate_png:
        curves = _curves(graph, report, baseline, comparison, pairs, weight_reads,
                         True if lm_head is None else lm_head)

    if csv_path:
        rep.write_csv(report, csv_path, comparison)
    if png_path:
        from snncompile.energy.plot import write_png
        write_png(report, png_path)
    if layers_png:
        from snncompile.energy.plot import write_layers_png
        write_layers_png(comparison, layers_png)
    if rate_png:
        from snncompile.energy.plot import write_ratio_png
        write_ratio_png(curves, rate_png)
    if json_out is not None:
        emit_json(rep.report_dict(report, comparison), json_out)
        click.echo(rep.lm_head_line(report), err=True)
    else:
        rep.render(report, per_op=per_op, comparison=comparison)
    for p in (csv_path, png_path, layers_png, rate_png):
        if p:
            click.echo(f"wrote {p}", err=True)


def _baseline(spec, table):
    """The named baseline, else the table's bundled dense twin, else None."""
    from snncompile.energy.baseline import load_baseline, twin_of_table

    if spec:
        return load_baseline(spec)
    name = twin_of_table(table.name)
    return None if name is None else load_baseline(name)


def _hardware_dict(spec):
    from snncompile.backends.accum.hardware import HardwareSpec
    return HardwareSpec.load(spec).to_dict()


def _latency_hardware(hw_spec, baseline, preset):
    """The chip of the SNN's analytic latency: --hw, else the baseline's first twin preset,
    else the cost table's own preset, else None (no chip: latency not modelled)."""
    from snncompile.energy.table import hardware_preset

    if hw_spec:
        return _hardware_dict(hw_spec)
    name = baseline.twin_presets[0] if baseline.twin_presets else hardware_preset(preset)
    return None if name is None else _hardware_dict(name)


def _curves(graph, report, baseline, comparison, pairs, weight_reads, lm_head):
    """The ratio-vs-rate curves: the pair in use, then every --pair TABLE:BASELINE[:HW]."""
    from snncompile.energy.baseline import load_baseline
    from snncompile.energy.ratio_curve import Side, ratio_curve
    from snncompile.errors import BaselineError

    sides = []
    if comparison is not None:
        hw = None
        if comparison.latency is not None:
            hw = _latency_hardware(None, baseline, report.table.path)
        sides.append(Side(report.table, baseline, hw, comparison.method))
    for spec in pairs:
        parts = spec.split(":")
        if len(parts) not in (2, 3) or not all(parts):
            raise click.UsageError(f"--pair {spec!r}: give TABLE:BASELINE or TABLE:BASELINE:HW")
        b = load_baseline(parts[1])
        hw = _hardware_dict(parts[2]) if len(parts) == 3 else _latency_hardware(None, b, parts[0])
        sides.append(Side(cost_table(parts[0], hw), b, hw))
    if not sides:
        raise BaselineError("--rate-png needs a pair of sides: the table's dense twin, "
                            "--baseline or --pair")
    rates = [0.5 * i / 40 for i in range(41)]
    return [ratio_curve(graph, s, rates, lm_head=lm_head, weight_reads=weight_reads)
            for s in sides]


def cost_table(name_or_path, hardware=None):
    """A cost table; one priced from a hardware description gets `hardware` (sim.json's), else
    the accum preset the table names. The energy package takes hardware as data only: presets
    are resolved here."""
    from snncompile.energy.table import hardware_preset, load_table, table_path
    from snncompile.errors import CostTableError, HardwareSpecError

    if hardware is None:
        preset = hardware_preset(name_or_path)
        if preset is not None:
            from snncompile.backends.accum.hardware import HardwareSpec
            try:
                hardware = HardwareSpec.load(preset).to_dict()
            except HardwareSpecError as exc:
                raise CostTableError(f"cost table {table_path(name_or_path).name}: "
                                     f"hardware = {preset!r}: {exc}") from None
    return load_table(name_or_path, hardware=hardware)


def _analytic(config_spec, model_path, fire_rate, mean_spikes, rates_from, lm_head, D, preset,
              weight_reads, tokens):
    from snncompile.energy.analytic import analytic_counters, rates_from_counters, spiking_graph
    from snncompile.simulator.simjson import read_sim_json
    from snncompile.errors import ConfigError

    given = [n for n, v in (("--fire-rate", fire_rate), ("--mean-spikes", mean_spikes),
                            ("--rates-from", rates_from)) if v is not None]
    if len(given) != 1:
        raise click.UsageError("analytic mode needs exactly one of --fire-rate, --mean-spikes "
                               f"or --rates-from (got {', '.join(given) or 'none'})")
    table = cost_table(preset)
    meta: dict = {}
    if model_path:
        if D is not None:
            raise ConfigError("--D applies to --config only: an exported model's neurons fix D")
        from snncompile.ir.serde import load
        graph = load(model_path)
        meta["model"] = str(model_path)
    else:
        graph = spiking_graph(_load_config(config_spec), D)
        meta["config"] = config_spec
    rates = None
    if rates_from:
        rates = rates_from_counters(graph, read_sim_json(rates_from))
        meta["source"] = str(rates_from)
    counters = analytic_counters(graph, rate=fire_rate, mean_spikes=mean_spikes, rates=rates,
                                 lm_head=True if lm_head is None else lm_head,
                                 weight_reads=weight_reads, tokens=tokens, meta=meta)
    return counters, table, graph


def _measured(sim_path, preset, lm_head, fire_rate, mean_spikes, rates_from, D):
    from snncompile.errors import ConfigError
    from snncompile.ir.ops import OPS
    from snncompile.simulator.simjson import read_sim_json

    def readout(n) -> bool:
        cls = OPS.get(n.op)
        return bool(cls is not None and cls.readout)

    bad = [n for n, v in (("--fire-rate", fire_rate), ("--mean-spikes", mean_spikes),
                          ("--rates-from", rates_from), ("--D", D)) if v is not None]
    if bad:
        raise click.UsageError(f"{bad[0]} is for analytic mode; --from uses the measured counters")
    counters = read_sim_json(sim_path)
    has_head = any(readout(n) for n in counters.nodes)
    if lm_head is None:
        lm_head = has_head
    elif lm_head and not has_head:
        raise ConfigError(f"--lm-head: {Path(sim_path).name} has no LMHead layer to count")
    if not lm_head:
        counters = counters.select(lambda n: not readout(n))
    counters = counters.with_meta(lm_head=lm_head)
    table = cost_table(preset, hardware=counters.meta.get("hardware") or None)
    return counters, table
