"""The cycle-counting Numba simulator of programs lowered for the generic accumulate-only core.

    from snncompile.simulator import Simulator, run
    sim = Simulator(program)            # program: snncompile.backends.accum.Program
    logits = sim.step(token)            # or sim.generate(prompt_ids, n) / run(program, tokens)
    sim.counters.totals()               # per-layer / per-core counters (sim.json schema)

Modules: `kernels` (Numba kernels + NumPy `_ref` twins), `timing` (the one timing model),
`dense` (the dense unit's float64 ops), `engine` (the walk), `counters`, `simjson`.
"""

from snncompile.simulator.counters import CORE_KEYS, LAYER_KEYS, SimCounters
from snncompile.simulator.engine import SimResult, Simulator, SpikedLayer, run
from snncompile.simulator.simjson import read_sim_json, sim_json, write_sim_json

__all__ = ["CORE_KEYS", "LAYER_KEYS", "SimCounters", "SimResult", "Simulator", "SpikedLayer",
           "read_sim_json", "run", "sim_json", "write_sim_json"]
