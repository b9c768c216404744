"""The generic accumulate-only core backend: hardware description, lowering (quantize, tile,
pack, place), the `Program` folder and the mapping report.

    from snncompile.backends.accum import AccumBackend, HardwareSpec, Program
    program = AccumBackend().lower(graph, "default")     # or HardwareSpec.load("large")
    program.save("prog/"); Program.load("prog/")
"""

from snncompile.backends.accum.backend import AccumBackend, as_hardware
from snncompile.backends.accum.hardware import HardwareSpec, preset_names
from snncompile.backends.accum.lowering import lower
from snncompile.backends.accum.mapping import LayerMap, Mapping
from snncompile.backends.accum.program import Program

__all__ = ["AccumBackend", "HardwareSpec", "LayerMap", "Mapping", "Program", "as_hardware",
           "lower", "preset_names"]
