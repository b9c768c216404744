"""`Program`: a graph lowered for the generic accumulate-only core, and its folder form.

In memory: the quantized graph (each SpikedLinear weight is the (d_out, d_in) view of an
input-major int8 array WT (d_in, d_out), see lowering), the HardwareSpec and the Mapping.

On disk, one folder written atomically (all files appear together or not at all):

  program.json    {"format": "snncompile-program/1", "backend": "accum", "source": ...}
  graph.onnx      the quantized graph (snncompile.ir.serde; weights may go to graph.onnx.data)
  mapping.json    Mapping.to_json()
  hardware.toml   HardwareSpec.to_toml()

`Program.load(folder)` validates each file (SimulationError / IRError / HardwareSpecError /
HardwareFitError naming what is wrong) and re-stores the spiked weights input-major, one layer
at a time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from snncompile.atomic import atomic_path
from snncompile.backends.accum.hardware import HardwareSpec
from snncompile.backends.accum.mapping import Mapping
from snncompile.errors import SimulationError
from snncompile.ir.graph import Graph

PROGRAM_FORMAT = "snncompile-program/1"
FILES = ("program.json", "graph.onnx", "mapping.json", "hardware.toml")


@dataclass
class Program:
    """A lowered graph, its hardware and its mapping."""

    graph: Graph
    hardware: HardwareSpec
    mapping: Mapping
    source: str | None = None

    def __post_init__(self) -> None:
        spiked = [n.name for n in self.graph.nodes if n.op_type == "SpikedLinear"]
        mapped = [lm.name for lm in self.mapping.layers]
        if spiked != mapped:
            raise SimulationError(f"program: the mapping covers layers {mapped}, the graph has "
                                  f"SpikedLinear nodes {spiked}")
        for n in self.graph.nodes:
            if n.op_type == "SpikedLinear":
                if n.op.weight_bits == 0:
                    raise SimulationError(f"program: layer {n.name!r} is not quantized")
                lm = self.mapping.layer(n.name)
                if (lm.d_in, lm.d_out) != (n.op.d_in, n.op.d_out):
                    raise SimulationError(f"program: layer {n.name!r} is {n.op.d_in}x{n.op.d_out} "
                                          f"in the graph, {lm.d_in}x{lm.d_out} in the mapping")
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

    # -- folder ------------------------------------------------------------------------------
    def save(self, folder: str | Path) -> Path:
        """Write the program folder atomically; returns its path."""
        from snncompile.ir import serde
        folder = Path(folder)
        with atomic_path(folder, directory=True) as tmp:
            serde.save(self.graph, tmp / "graph.onnx")
            (tmp / "mapping.json").write_text(self.mapping.to_json())
            (tmp / "hardware.toml").write_text(self.hardware.to_toml())
            (tmp / "program.json").write_text(json.dumps(
                {"format": PROGRAM_FORMAT, "backend": "accum", "source": self.source}, indent=1))
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> "Program":
        """Read a program folder written by `save` (module docstring)."""
        from snncompile.backends.accum.lowering import to_input_major
        from snncompile.ir import serde
        folder = Path(folder)
        if not folder.is_dir():
            raise SimulationError(f"{str(folder)!r} is not a program folder (no such directory)")
        missing = [f for f in FILES if not (folder / f).is_file()]
        if missing:
            raise SimulationError(f"{str(folder)!r} is not a complete program folder: "
                                  f"missing {', '.join(missing)}")
        try:
            meta = json.loads((folder / "program.json").read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise SimulationError(f"{folder / 'program.json'}: invalid JSON ({exc})") from None
        if not isinstance(meta, dict) or meta.get("format") != PROGRAM_FORMAT:
            raise SimulationError(f"{folder / 'program.json'}: format is not {PROGRAM_FORMAT!r}")
        if meta.get("backend") != "accum":
            raise SimulationError(f"{folder / 'program.json'}: backend {meta.get('backend')!r} "
                                  f"is not 'accum'")
        hw = HardwareSpec.from_toml(folder / "hardware.toml")
        try:
            mapping = Mapping.from_json((folder / "mapping.json").read_text())
        except UnicodeDecodeError:
            raise SimulationError(f"{folder / 'mapping.json'}: not UTF-8 text") from None
        graph = to_input_major(serde.load(folder / "graph.onnx"))
        return cls(graph, hw, mapping, source=meta.get("source"))
