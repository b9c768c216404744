"""snncompile.energy: price counters with a cost table.

    counters: the one record, snncompile.ir.counts.RunCounts (analytic: the IR's accounting
    at a firing rate | measured: the simulator's counters, or its sim.json)
      -> price(counters, table) -> EnergyReport (per node, per layer, totals; SNN vs dense ANN)
      -> report writers (rich table, JSON, CSV) and plot.write_png

Modules: `table` (cost tables in energy/tables/*.toml, loader and validator), `analytic` (counters from `Op.counts` at a rate),
`price` (the pure pricing function), `report` (JSON/CSV/terminal), `plot` (PNG),
`reproduce` (the paper's AC-vs-MAC reproduction and the memory-aware comparison),
`baseline` (dense baselines in energy/baselines/*.toml, their pricing and timing, and the
comparison of an SNN report with one: docs/baselines.md), `ratio_curve` (ratio against firing
rate, break-even), `comparison_table` (each chip against its dense twin).
"""

from snncompile.energy.analytic import (DEFAULT_D, WEIGHT_READS, analytic_counters,
                                        rates_from_counters, rates_from_neurons,
                                        spiking_graph)
from snncompile.ir.counts import NodeCounts, RunCounts
from snncompile.simulator.simjson import parse_sim, read_sim_json
from snncompile.energy.price import Energy, EnergyReport, LayerEnergy, price
from snncompile.energy.table import COMPONENTS, PRICES, CostTable, list_tables, load_table

__all__ = [
    "DEFAULT_D", "WEIGHT_READS", "analytic_counters", "rates_from_counters", "rates_from_neurons",
    "spiking_graph",
    "NodeCounts", "RunCounts", "parse_sim", "read_sim_json",
    "Energy", "EnergyReport", "LayerEnergy", "price",
    "COMPONENTS", "PRICES", "CostTable", "list_tables", "load_table",
]
