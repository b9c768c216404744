"""`LoihiProgram`: a quantized graph, its spiked projections as Lava Dense blocks, and where
every other node runs.

    graph      the lowered IR graph (SpikedLinear weights int8, per output channel scales)
    spec       LoihiSpec (per-core limits)
    encoding   "graded" (24-bit payloads, 1 Lava step per token) | "binary" (D steps, 2 rails)
    layers     one LayerPlan per SpikedLinear: its row / column blocks
    placement  node -> "neurocores" (SpikedLinear: its Dense blocks) | "host"

Every node that is not a SpikedLinear runs on the host: the dense ops (embedding, norms,
convolution, SSM scan, gates, LM head) and the SpikeEncode neurons, whose integer levels are
injected into the chip as spike messages (in Lava: a RingBuffer source per column block).
Loihi 2 has 6 embedded x86 cores per chip that could take the small per-channel ops; with no
public figure for their memory or speed, the program does not split host work between them
and an external host, and records both as "host".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from snncompile.backends.loihi.encoding import steps_per_token
from snncompile.backends.loihi.spec import LoihiSpec
from snncompile.errors import IRError
from snncompile.ir.graph import Graph

Ranges = tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class LayerPlan:
    """One SpikedLinear as R x C Dense blocks; `rails` Dense processes per block (1 graded,
    2 binary); every Dense process is one virtual core."""

    name: str
    block: int | None
    d_in: int
    d_out: int
    D: int
    rows: Ranges
    cols: Ranges
    rails: int

    @property
    def n_blocks(self) -> int:
        return len(self.rows) * len(self.cols)

    @property
    def dense_processes(self) -> int:
        return self.n_blocks * self.rails

    @property
    def weight_bytes(self) -> int:
        """Synaptic memory over all Dense processes (8-bit weights, rails duplicate them)."""
        return self.d_in * self.d_out * self.rails

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "block": self.block, "d_in": self.d_in, "d_out": self.d_out,
                "D": self.D, "grid": [len(self.rows), len(self.cols)],
                "rows": [list(r) for r in self.rows], "cols": [list(c) for c in self.cols],
                "rails": self.rails, "dense_processes": self.dense_processes,
                "virtual_cores": self.dense_processes, "weight_bytes": self.weight_bytes}


@dataclass
class LoihiProgram:
    """A graph lowered for a Loihi-2-style target (module docstring)."""

    graph: Graph
    spec: LoihiSpec
    encoding: str
    layers: tuple[LayerPlan, ...]
    placement: dict[str, str] = field(default_factory=dict)
    source: str | None = None

    @property
    def name(self) -> str:
        return self.source or "model"

    def layer(self, name: str) -> LayerPlan:
        for lp in self.layers:
            if lp.name == name:
                return lp
        raise IRError(f"program has no spiked layer named {name!r}")

    def weight(self, name: str) -> np.ndarray:
        """Wq int8 (d_out, d_in) of spiked layer `name`."""
        node = self.graph.node(name)
        return np.asarray(self.graph.params[node.params["weight"]])

    @property
    def virtual_cores(self) -> int:
        return sum(lp.dense_processes for lp in self.layers)

    @property
    def chips(self) -> int:
        return -(-self.virtual_cores // self.spec.cores_per_chip) if self.layers else 0

    def report(self) -> dict[str, Any]:
        """Dense processes, virtual cores, chips, per-layer blocks and the host's nodes."""
        host = [n for n, p in self.placement.items() if p == "host"]
        ops: dict[str, int] = {}
        for n in self.graph.nodes:
            if self.placement.get(n.name) == "host":
                ops[n.op_type] = ops.get(n.op_type, 0) + 1
        max_D = max((lp.D for lp in self.layers), default=1)
        return {
            "program": self.name, "target": self.spec.name, "spec": self.spec.to_dict(),
            "encoding": self.encoding,
            "lava_steps_per_token": steps_per_token(self.encoding, max_D),
            "spiked_layers": len(self.layers),
            "dense_processes": self.virtual_cores, "virtual_cores": self.virtual_cores,
            "chips": self.chips,
            "weight_bytes": sum(lp.weight_bytes for lp in self.layers),
            "host_nodes": len(host), "host_ops": ops,
            "layers": [lp.to_dict() for lp in self.layers],
        }


def render_report(report: dict[str, Any], console) -> None:
    """Print `LoihiProgram.report()` as a summary line and a rich table of layers."""
    from rich.table import Table

    console.print(
        f"[bold]{report['program']}[/] on [bold]{report['target']}[/] "
        f"({report['encoding']} spikes, {report['lava_steps_per_token']} Lava step(s)/token): "
        f"[bold]{report['dense_processes']}[/] Dense processes = "
        f"{report['virtual_cores']} virtual cores on {report['chips']} chip(s) "
        f"({report['spec']['cores_per_chip']} virtual cores/chip), "
        f"{report['weight_bytes']:,} weight bytes; {report['host_nodes']} nodes on the host")
    t = Table(title="spiked layers -> Lava Dense blocks")
    for col in ("layer", "d_in x d_out", "D", "blocks (RxC)", "rails", "virtual cores"):
        t.add_column(col, justify="left" if col == "layer" else "right")
    for lp in report["layers"]:
        t.add_row(lp["name"], f"{lp['d_in']} x {lp['d_out']}", str(lp["D"]),
                  f"{lp['grid'][0]}x{lp['grid'][1]}", str(lp["rails"]),
                  str(lp["virtual_cores"]))
    console.print(t)
