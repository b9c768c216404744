"""`snncompile simulate prog/ --input x.npy [-o y.npy] [--json [sim.json]]`: a lowered
time-stepped network on the time-stepped simulator (`snncompile.simulator.stepped`).

x (T, n_in) integer spike counts (`spike_steps.load_spike_input`); y the graph's first
output stacked over the steps (T, d), bit-exact with `run prog/ --input x.npy`; sim.json
the counters (format snncompile-sim/2 with `steps`; docs/output-formats.md). The terminal
shows the counters in total and per step, the chip time and the host time."""

from __future__ import annotations

from typing import Any

import click


def simulate_network(program: str, prog: Any, input_path: str | None, out_path: str | None,
                     json_out: str | None, console) -> None:
    from snncompile.cli.jsonout import emit_json
    from snncompile.cli.simulate_cmd import counter_table
    from snncompile.cli.spike_steps import load_spike_input, save_npy
    from snncompile.simulator import sim_json
    from snncompile.simulator.simjson import validate as validate_sim
    from snncompile.simulator.stepped import SteppedNetwork

    if input_path is None:
        raise click.UsageError(f"{program!r} is a time-stepped network: give --input x.npy "
                               "(spike counts, T x n_in), not --prompt / --token-ids")
    n_in = int(prog.graph.metadata["network"]["inputs"])
    x = load_spike_input(input_path, n_in)
    with console.status(f"simulating {len(x)} steps"):
        net = SteppedNetwork(prog)
        res = net.run(x)
    c, hw = res.counters, prog.hardware
    tot = c.totals()
    T = max(c.tokens, 1)
    console.print(counter_table(tot, c.tokens, "step", f"{hw.name}, {c.meta['tiles_used']} tiles"))
    for name, n in res.spikes_per_layer.items():
        console.print(f"{name}: {n:,} spikes")
    console.print(f"chip time {res.time_s * 1e3:.4f} ms ({res.time_s / T * 1e6:.3f} us/step, "
                  f"cores {'in parallel' if c.meta['parallel_cores'] else 'layer by layer'}, "
                  f"sync {c.meta['sync_cycles'] / hw.clock_hz * 1e6:.2f} us/step); "
                  f"host time {res.wall_s:.3f} s")
    if out_path is not None:
        save_npy(out_path, res.outputs[0])
        console.print(f"wrote {out_path}")
    if json_out is not None:
        doc = sim_json(c, wall_time_s=res.wall_s)
        doc["input"] = str(input_path)
        validate_sim(doc)
        emit_json(doc, json_out)
