"""`Program`: a graph lowered for the generic accumulate-only core, and its folder form.

In memory: the quantized graph (each SpikedLinear weight is the (d_out, d_in) view of an
input-major int8 array WT (d_in, d_out), see lowering), the HardwareSpec and the Mapping.

On disk, one folder written atomically (all files appear together or not at all):

  program.json    the manifest (`snncompile.backends.base.write_manifest`): format, backend
                  "accum", source, lowering (the names of the lowering steps)
  graph.onnx      the quantized graph (snncompile.ir.serde; weights may go to graph.onnx.data)
  mapping.json    Mapping.to_json()
  hardware.toml   HardwareSpec.to_toml()

`Program.load(folder)` validates each file (SimulationError / IRError / HardwareSpecError /
HardwareFitError naming what is wrong) and re-stores the spiked weights input-major, one layer
at a time. `run` / `generate` are the reference semantics of the lowered graph (the
cycle-counting simulator, `snncompile.simulator.Simulator(program)`, matches them bit for bit).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from snncompile.backends.accum.hardware import HardwareSpec
from snncompile.backends.accum.mapping import Mapping
from snncompile.backends.accum.report import mapping_report, render_mapping_report
from snncompile.backends.base import (MANIFEST, PROGRAM_FORMAT, check_hashes, open_folder,
                                      save_folder)
from snncompile.backends.base import Program as BaseProgram
from snncompile.errors import IRError, SimulationError
from snncompile.ir.graph import Graph

FILES = (MANIFEST, "graph.onnx", "mapping.json", "hardware.toml")
__all__ = ["FILES", "PROGRAM_FORMAT", "Program"]


@dataclass
class Program(BaseProgram):
    """A lowered graph, its hardware and its mapping; `lowering` names the steps that made it."""

    backend = "accum"
    graph: Graph
    hardware: HardwareSpec
    mapping: Mapping
    source: str | None = None
    lowering: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        try:
            pairs = self.graph.spiked_projections()
        except IRError as exc:
            raise SimulationError(f"program: {exc}") from None
        projections = [n for n, _neuron in pairs]
        spiked = [n.name for n in projections]
        mapped = [lm.name for lm in self.mapping.layers]
        if spiked != mapped:
            raise SimulationError(f"program: the mapping covers layers {mapped}, the graph has "
                                  f"SpikedLinear nodes {spiked}")
        for n, neuron in pairs:
            if n.op.weight_bits == 0:
                raise SimulationError(f"program: layer {n.name!r} is not quantized")
            lm = self.mapping.layer(n.name)
            if (lm.d_in, lm.d_out) != (n.op.d_in, n.op.d_out):
                raise SimulationError(f"program: layer {n.name!r} is {n.op.d_in}x{n.op.d_out} "
                                      f"in the graph, {lm.d_in}x{lm.d_out} in the mapping")
            # D must be the level count of the neuron feeding the layer: the simulator encodes
            # with the mapping's D, the reference with the graph's (a mismatch gives other logits)
            for what, have, want in (("D", lm.D, neuron.op.D), ("block", lm.block, n.block)):
                if have != want:
                    raise SimulationError(f"mapping.json: layer {n.name!r}: field {what!r} is "
                                          f"{have!r}, the graph has {want!r}")
        self.mapping.check(self.hardware, [n.name for n in self.graph.nodes])

    def weight_t(self, node_name: str) -> np.ndarray:
        """Input-major int8 weights WT (d_in, d_out), C-contiguous, of a SpikedLinear node."""
        node = self.graph.node(node_name)
        w = self.graph.params[node.params["weight"]]
        wt = w.T
        return wt if wt.flags.c_contiguous else np.ascontiguousarray(wt)

    @property
    def name(self) -> str:
        return self.source or self.hardware.name

    def report(self) -> dict[str, Any]:
        """The mapping report (`report.mapping_report`) plus the backend and lowering steps."""
        return {**mapping_report(self), "backend": self.backend, "lowering": list(self.lowering)}

    def render_report(self, report: dict[str, Any], console, *, max_rows: int = 16) -> None:
        """The mapping report as rich tables, listing at most `max_rows` cores."""
        render_mapping_report(report, console, max_cores=max_rows)

    # -- folder ------------------------------------------------------------------------------
    def save(self, folder: str | Path) -> Path:
        """Write the program folder atomically; returns its path."""
        return save_folder(self, folder, {"mapping.json": self.mapping.to_json(),
                                          "hardware.toml": self.hardware.to_toml()})

    @classmethod
    def load(cls, folder: str | Path) -> "Program":
        """Read a program folder written by `save` (module docstring)."""
        from snncompile.backends.accum.lowering import to_input_major
        from snncompile.backends.accum.network import NetworkProgram
        from snncompile.ir import serde
        folder = Path(folder)
        if (folder / "placement.json").is_file() and not (folder / "mapping.json").exists():
            return NetworkProgram.load(folder)  # type: ignore[return-value]
        meta = open_folder(folder, cls.backend, ("mapping.json", "hardware.toml"))
        hw = HardwareSpec.from_toml(folder / "hardware.toml")
        try:
            mapping = Mapping.from_json((folder / "mapping.json").read_text())
        except UnicodeDecodeError:
            raise SimulationError(f"{folder / 'mapping.json'}: not UTF-8 text") from None
        graph = to_input_major(serde.load(folder / "graph.onnx"))
        prog = cls(graph, hw, mapping, source=meta["source"], lowering=tuple(meta["lowering"]))
        check_hashes(folder, meta)
        return prog

