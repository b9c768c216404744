"""The cycle-counting Numba simulator of programs lowered for the generic accumulate-only core.

    from snncompile.simulator import Simulator, run
    sim = Simulator(program)            # program: snncompile.backends.accum.Program
    logits = sim.step(token)            # or sim.generate(prompt_ids, n) / run(program, tokens)
    sim.counters                        # RunCounts: per-node counters (and per-core, in `cores`)

Modules: `executor` (the NumPy executor: the IR's walk with float64 runners), `engine` (the
simulator: that executor with the spiking ops on the cores), `kernels` and `dense` (Numba
kernels + NumPy `_ref` twins), `timing` (the one timing model), `counters` (the int64 tally),
`simjson` (the sim.json format: schema, writer, reader).
"""

from snncompile.simulator.counters import CORE_KEYS, LAYER_KEYS, Tally
from snncompile.simulator.engine import SimResult, Simulator, SpikedLayer, run
from snncompile.simulator.executor import NumpyExecutor
from snncompile.simulator.simjson import (parse_sim, read_sim_doc, read_sim_json, sim_json,
                                          write_sim_json)

__all__ = ["CORE_KEYS", "LAYER_KEYS", "NumpyExecutor", "SimResult", "Simulator", "SpikedLayer",
           "Tally", "parse_sim", "read_sim_doc", "read_sim_json", "run", "sim_json",
           "write_sim_json"]
