"""`snncompile energy`: price a model's decoding step, analytically or from simulator counters.

Analytic mode (the paper-style AC-vs-MAC estimate, or any cost table):
    snncompile energy --config mamba2-1.3b --fire-rate 0.12 --preset paper-45nm
    snncompile energy --model model.onnx --mean-spikes 0.5 --no-lm-head --json
Measured mode (the simulator's counters, adding memory, NoC and static power where the
table prices them):
    snncompile energy --from sim.json --preset accum
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
def energy(config_spec, model_path, sim_path, fire_rate, mean_spikes, rates_from, lm_head, D,
           preset, weight_reads, tokens, per_op, json_out, csv_path, png_path, list_presets):
    """Energy of one decoding step: SNN (ACs for spiked projections) vs the dense Mamba2.

    E_ANN = E_MAC * dense MACs; E_SNN = E_AC * ACs + E_MAC * MACs of what stays dense, plus
    memory, NoC and static power where the cost table prices them. Always says whether the
    LM head was counted."""

    from snncompile.atomic import check_outputs
    from snncompile.energy import report as rep
    from snncompile.energy.table import list_tables

    check_outputs([csv_path, png_path, json_out],
                  [config_spec, model_path, sim_path, rates_from, preset])

    if list_presets:
        for name in list_tables():
            t = cost_table(name)
            click.echo(f"{name}: {t.description}")
        return
    sources = [s for s in (config_spec, model_path, sim_path) if s]
    if len(sources) != 1:
        raise click.UsageError("give exactly one of --config, --model or --from")

    if sim_path:
        counters, table = _measured(sim_path, preset, lm_head, fire_rate, mean_spikes,
                                    rates_from, D)
    else:
        counters, table = _analytic(config_spec, model_path, fire_rate, mean_spikes, rates_from,
                                    lm_head, D, preset, weight_reads, tokens)

    from snncompile.energy.price import price
    report = price(counters, table)

    if csv_path:
        rep.write_csv(report, csv_path)
    if png_path:
        from snncompile.energy.plot import write_png
        write_png(report, png_path)
    if json_out is not None:
        emit_json(rep.report_dict(report), json_out)
        click.echo(rep.lm_head_line(report), err=True)
    else:
        rep.render(report, per_op=per_op)
    for p in (csv_path, png_path):
        if p:
            click.echo(f"wrote {p}", err=True)


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
    return counters, table


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
