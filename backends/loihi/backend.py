"""`LoihiBackend`: lower an IR graph for a Loihi-2-style chip driven through Lava.

Steps (a straight list):
 1. verify the graph;
 2. `quantize_weights` to int8 (symmetric, per output channel); a layer already quantized to
    fewer bits is kept (its integers are int8 values too);
 3. for every SpikedLinear, the D of the SpikeEncode feeding it, and its split into Dense
    blocks within the per-core limits (`tiling.split_layer`, limits in `spec.py`);
 4. placement: SpikedLinear -> "neurocores", every other node -> "host" (`program.py`).
"""

from __future__ import annotations

from typing import Any

from snncompile.backends.base import Backend
from snncompile.backends.loihi.encoding import ENCODINGS
from snncompile.backends.loihi.program import LayerPlan, LoihiProgram
from snncompile.backends.loihi.spec import LoihiSpec
from snncompile.backends.loihi.tiling import split_layer
from snncompile.errors import ConfigError, HardwareSpecError, IRError
from snncompile.ir.graph import Graph
from snncompile.passes import quantize_weights


class LoihiBackend(Backend):
    """lower(graph, hardware=None, encoding="graded") -> LoihiProgram; hardware is a
    LoihiSpec or None (the default Loihi 2 limits)."""

    name = "loihi"

    def lower(self, graph: Graph, hardware: Any = None, *, encoding: str = "graded",
              source: str | None = None) -> LoihiProgram:
        return lower(graph, as_spec(hardware), encoding=encoding, source=source)


def as_spec(hardware: Any) -> LoihiSpec:
    if hardware is None:
        return LoihiSpec()
    if isinstance(hardware, LoihiSpec):
        return hardware
    raise HardwareSpecError(f"the loihi backend takes a LoihiSpec or None as hardware, got "
                            f"{type(hardware).__name__}")


def lower(graph: Graph, spec: LoihiSpec, *, encoding: str = "graded",
          source: str | None = None) -> LoihiProgram:
    """Lower `graph` (module docstring)."""
    if encoding not in ENCODINGS:
        raise ConfigError(f"encoding must be one of {ENCODINGS}, got {encoding!r}")
    graph.verify()
    graph = quantize_weights.run(graph, bits=spec.weight_bits).graph
    graph.verify()
    producers = graph.producers()
    rails = 1 if encoding == "graded" else 2
    layers = []
    placement: dict[str, str] = {}
    for n in graph.nodes:
        if n.op_type != "SpikedLinear":
            placement[n.name] = "host"
            continue
        src = producers.get(n.inputs[0])
        if src is None or src.op_type != "SpikeEncode":
            raise IRError(f"node {n.name!r}: the input of a SpikedLinear must come from a "
                          f"SpikeEncode")
        D = src.op.D
        rows, cols = split_layer(n.name, n.op.d_in, n.op.d_out, D, spec)
        layers.append(LayerPlan(n.name, n.block, n.op.d_in, n.op.d_out, D, rows, cols, rails))
        placement[n.name] = "neurocores"
    return LoihiProgram(graph, spec, encoding, tuple(layers), placement, source)
