"""`LoihiBackend`: lower an IR graph for a Loihi-2-style chip driven through Lava.

After the graph is verified, the lowering is a straight list of named steps (`STEPS`, run by
`snncompile.passes.run_steps` over a `LoihiLowering` state; the names are kept as
`LoihiProgram.lowering`):
 quantize  `quantize_weights` to int8 (symmetric, per output channel); a layer already
           quantized to fewer bits is kept (its integers are int8 values too);
 tile      for every SpikedLinear, the D of the SpikeEncode feeding it, and its split into
           Dense blocks within the per-core limits (`tiling.split_layer`: the shared tiling
           arithmetic with the limits in `spec.py`);
 place     SpikedLinear -> "neurocores", every other node -> "host" (`program.py`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from snncompile.backends.base import Backend
from snncompile.backends.loihi.encoding import ENCODINGS
from snncompile.backends.loihi.program import LayerPlan, LoihiProgram
from snncompile.backends.loihi.spec import LoihiSpec
from snncompile.backends.loihi.tiling import split_layer
from snncompile.errors import ConfigError, HardwareSpecError
from snncompile.ir.graph import Graph
from snncompile.passes import Step, quantize_weights, run_steps

PRESETS = ("loihi2", "default")   # names of the default LoihiSpec on the command line


class LoihiBackend(Backend):
    """lower(graph, hardware=None, *, encoding="graded", source=None) -> LoihiProgram;
    hardware is a LoihiSpec or None (the default Loihi 2 limits)."""

    name = "loihi"
    program_class = LoihiProgram

    def lower(self, graph: Graph, hardware: Any = None, *, encoding: str = "graded",
              source: str | None = None) -> LoihiProgram:
        return lower(graph, as_spec(hardware), encoding=encoding, source=source)

    def resolve_hardware(self, text: str | None) -> LoihiSpec:
        """None, "loihi2" or "default": the default Loihi 2 limits (`LoihiSpec()`)."""
        if text is None or text in PRESETS:
            return LoihiSpec()
        raise HardwareSpecError(f"the loihi backend knows the hardware {PRESETS[0]!r} "
                                f"(the default), not {text!r}")


def as_spec(hardware: Any) -> LoihiSpec:
    if hardware is None:
        return LoihiSpec()
    if isinstance(hardware, LoihiSpec):
        return hardware
    raise HardwareSpecError(f"the loihi backend takes a LoihiSpec or None as hardware, got "
                            f"{type(hardware).__name__}")


@dataclass(frozen=True)
class LoihiLowering:
    """The state the lowering steps pass along (module docstring)."""

    graph: Graph
    spec: LoihiSpec
    encoding: str = "graded"
    layers: tuple[LayerPlan, ...] = ()
    placement: dict[str, str] = field(default_factory=dict)


def quantize_step(s: LoihiLowering) -> LoihiLowering:
    """Quantize the spiked weights to int8."""
    graph = quantize_weights.run(s.graph, bits=s.spec.weight_bits).graph
    graph.verify()
    return dataclasses.replace(s, graph=graph)


def tile_step(s: LoihiLowering) -> LoihiLowering:
    """Split every spiked projection into Dense blocks (one virtual core per block and rail)."""
    rails = 1 if s.encoding == "graded" else 2
    layers = []
    for n, neuron in s.graph.spiked_projections():
        D = neuron.op.D
        rows, cols = split_layer(n.name, n.op.d_in, n.op.d_out, D, s.spec)
        layers.append(LayerPlan(n.name, n.block, n.op.d_in, n.op.d_out, D, rows, cols, rails))
    return dataclasses.replace(s, layers=tuple(layers))


def place_step(s: LoihiLowering) -> LoihiLowering:
    """Spiked layers on the neurocores, every other node on the host."""
    spiked = {lp.name for lp in s.layers}
    placement = {n.name: "neurocores" if n.name in spiked else "host" for n in s.graph.nodes}
    return dataclasses.replace(s, placement=placement)


STEPS: tuple[Step[LoihiLowering], ...] = (
    Step("quantize", quantize_step), Step("tile", tile_step), Step("place", place_step))


def lower(graph: Graph, spec: LoihiSpec, *, encoding: str = "graded",
          source: str | None = None) -> LoihiProgram:
    """Lower `graph`: verify it, then run `STEPS` (module docstring)."""
    if encoding not in ENCODINGS:
        raise ConfigError(f"encoding must be one of {ENCODINGS}, got {encoding!r}")
    if graph.is_network:
        raise ConfigError("the loihi backend lowers SpikingMamba graphs; lower a time-stepped "
                          "network with --backend accum --hw loihi1 (the Loihi 1 timing model)")
    graph.verify()
    done = run_steps(LoihiLowering(graph, spec, encoding), STEPS)
    st = done.state
    return LoihiProgram(st.graph, spec, encoding, st.layers, st.placement, source,
                        lowering=done.log)
