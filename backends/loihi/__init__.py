"""The Lava / Loihi-2-style backend: int8 Dense blocks within per-core limits, run in real
lava-nc (Python 3.10 subprocess) and checked bit for bit against the reference.

    from snncompile.backends.loihi import LoihiBackend, run_in_lava
    program = LoihiBackend().lower(graph, encoding="graded")    # or "binary"
    program.report()                                          # Dense processes, cores, chips
    result = run_in_lava(program, token_ids)                  # open-loop replay, checked
    program.save("prog/"); LoihiProgram.load("prog/")         # the program folder
    program.generate(token_ids, 4)                            # new ids, replayed through Lava

Modules: `spec` (limits), `tiling` (blocks), `encoding` (int8 and spikes as Lava Dense
arguments), `program`, `backend` (lowering), `execute` (replay, subprocess, comparison),
`lava_runner` (the standalone script run by the lava venv; never imported here).
"""

from snncompile.backends.loihi.backend import LoihiBackend, lower
from snncompile.backends.loihi.execute import (LavaResult, LavaRun, LayerJob, LayerResult,
                                               find_lava_python, replay, run_in_lava,
                                               run_layers)
from snncompile.backends.loihi.program import LayerPlan, LoihiProgram, render_report
from snncompile.backends.loihi.spec import LoihiSpec

__all__ = ["LavaResult", "LavaRun", "LayerJob", "LayerPlan", "LayerResult", "LoihiBackend",
           "LoihiProgram", "LoihiSpec", "find_lava_python", "lower", "render_report", "replay",
           "run_in_lava", "run_layers"]
