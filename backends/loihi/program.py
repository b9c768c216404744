"""`LoihiProgram`: a quantized graph, its spiked projections as Lava Dense blocks, and where
every other node runs.

    graph      the lowered IR graph (SpikedLinear weights int8, per output channel scales)
    spec       LoihiSpec (per-core limits)
    encoding   "graded" (24-bit payloads, 1 Lava step per token) | "binary" (D steps, 2 rails)
    layers     one LayerPlan per SpikedLinear: its row / column blocks
    placement  node -> "neurocores" (SpikedLinear: its Dense blocks) | "host"
    lowering   the names of the lowering steps that produced it

The program checks itself on construction: one LayerPlan per SpikedLinear in graph order
(shapes, block and D matching the graph and its SpikeEncode), blocks that tile each weight
matrix and fit the spec, one rail per encoding level, a placement for every node.

On disk, one folder written atomically (`save`; all files appear together or not at all):

  program.json   the manifest (`snncompile.backends.base.write_manifest`), backend "loihi"
  graph.onnx     the quantized graph (snncompile.ir.serde)
  loihi.json     {"format": "snncompile-loihi/1", "spec": LoihiSpec fields, "encoding": ...,
                  "layers": [{"name", "block", "d_in", "d_out", "D", "rows": [[start, stop],
                  ...], "cols": [...], "rails"}, ...], "placement": {node: "neurocores"|"host"}}

`LoihiProgram.load(folder)` validates every field (SimulationError naming the file and the
field; IRError for a bad graph.onnx). `run(tokens)` is the reference semantics of the lowered
graph; `generate(ids, n)` runs the open-loop Lava replay (`execute.run_in_lava`: the reference
generates, Lava's Dense blocks recompute every spiked projection and are checked bit for bit)
and returns the n new ids.

Every node that is not a SpikedLinear runs on the host: the dense ops (embedding, norms,
convolution, SSM scan, gates, LM head) and the SpikeEncode neurons, whose integer levels are
injected into the chip as spike messages (in Lava: a RingBuffer source per column block).
Loihi 2 has 6 embedded x86 cores per chip that could take the small per-channel ops; with no
public figure for their memory or speed, the program does not split host work between them
and an external host, and records both as "host".
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from snncompile.backends.base import MANIFEST, Program, check_hashes, open_folder, save_folder
from snncompile.backends.loihi.encoding import ENCODINGS, steps_per_token
from snncompile.backends.loihi.spec import LoihiSpec
from snncompile.errors import HardwareSpecError, IRError, SimulationError
from snncompile.ir.graph import Graph

Ranges = tuple[tuple[int, int], ...]
LOIHI_FORMAT = "snncompile-loihi/1"
LOIHI_FILE = "loihi.json"
FILES = (MANIFEST, "graph.onnx", LOIHI_FILE)
PLACES = ("neurocores", "host")
_LAYER_KEYS = ("name", "block", "d_in", "d_out", "D", "rows", "cols", "rails")


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
        """The plan and its derived sizes (the report's layer entry)."""
        return {**self.to_json(), "grid": [len(self.rows), len(self.cols)],
                "dense_processes": self.dense_processes,
                "virtual_cores": self.dense_processes, "weight_bytes": self.weight_bytes}

    def to_json(self) -> dict[str, Any]:
        """The plan alone (a `layers` entry of loihi.json)."""
        return {"name": self.name, "block": self.block, "d_in": self.d_in, "d_out": self.d_out,
                "D": self.D, "rows": [list(r) for r in self.rows],
                "cols": [list(c) for c in self.cols], "rails": self.rails}


@dataclass
class LoihiProgram(Program):
    """A graph lowered for a Loihi-2-style target (module docstring)."""

    backend = "loihi"
    graph: Graph
    spec: LoihiSpec
    encoding: str
    layers: tuple[LayerPlan, ...]
    placement: dict[str, str] = field(default_factory=dict)
    source: str | None = None
    lowering: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.check()

    @property
    def name(self) -> str:
        return self.source or "model"

    def check(self) -> None:
        """SimulationError naming the first layer plan or placement that does not match the
        graph and the spec (module docstring)."""
        if self.encoding not in ENCODINGS:
            raise SimulationError(f"encoding must be one of {ENCODINGS}, got {self.encoding!r}")
        try:
            spiked = self.graph.spiked_projections()
        except IRError as exc:
            raise SimulationError(str(exc)) from None
        if [n.name for n, _ in spiked] != [lp.name for lp in self.layers]:
            raise SimulationError(f"the layers {[lp.name for lp in self.layers]} do not match "
                                  f"the graph's SpikedLinear nodes {[n.name for n, _ in spiked]}")
        rails = 1 if self.encoding == "graded" else 2
        for (n, neuron), lp in zip(spiked, self.layers):
            where = f"layer {lp.name!r}"
            D = neuron.op.D
            if n.op.weight_bits == 0:
                raise SimulationError(f"{where}: the graph's weights are not quantized")
            for what, have, want in (("d_in", lp.d_in, n.op.d_in), ("d_out", lp.d_out, n.op.d_out),
                                     ("block", lp.block, n.block), ("D", lp.D, D)):
                if have != want:
                    raise SimulationError(f"{where}: {what} is {have!r}, the graph has {want!r}")
            if lp.rails != rails:
                raise SimulationError(f"{where}: rails is {lp.rails!r}, {self.encoding} spikes "
                                      f"need {rails}")
            for what, ranges, size in (("rows", lp.rows, lp.d_out), ("cols", lp.cols, lp.d_in)):
                stops = [a for a, _ in ranges[1:]] + [size]
                if (not ranges or ranges[0][0] != 0
                        or any(b != stop or b <= a for (a, b), stop in zip(ranges, stops))):
                    raise SimulationError(f"{where}: {what} {[list(r) for r in ranges]} do not "
                                          f"tile 0..{size}")
            fan_in = self.spec.max_fan_in(lp.D)
            for r0, r1 in lp.rows:
                for c0, c1 in lp.cols:
                    r, c = r1 - r0, c1 - c0
                    if (c > fan_in or r > self.spec.outputs_per_core
                            or r * c > self.spec.weight_bytes_per_core):
                        raise SimulationError(
                            f"{where}: block rows {r0}:{r1} x cols {c0}:{c1} does not fit a "
                            f"virtual core of {self.spec.name!r} (fan-in {fan_in} at D={lp.D}, "
                            f"{self.spec.outputs_per_core} outputs, "
                            f"{self.spec.weight_bytes_per_core} weight bytes)")
        names = {lp.name for lp in self.layers}
        for n in self.graph.nodes:
            want = "neurocores" if n.name in names else "host"
            if self.placement.get(n.name) != want:
                raise SimulationError(f"placement of node {n.name!r} is "
                                      f"{self.placement.get(n.name)!r}, expected {want!r}")
        extra = sorted(set(self.placement) - {n.name for n in self.graph.nodes})
        if extra:
            raise SimulationError(f"placement names {extra[0]!r}, which is not a graph node")

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
            "backend": self.backend, "lowering": list(self.lowering),
        }

    def render_report(self, report: dict[str, Any], console, *, max_rows: int = 16) -> None:
        """`render_report(report, console)`: a summary line and the table of layers."""
        render_report(report, console)

    # -- running -----------------------------------------------------------------------------
    def generate(self, prompt_ids: Sequence[int], max_new_tokens: int, *,
                 timeout: float | None = None, python: str | os.PathLike | None = None
                 ) -> list[int]:
        """The n new ids of the open-loop Lava replay (module docstring); SimulationError when
        Lava's accumulations differ from the reference's, MissingDependencyError without the
        lava venv."""
        from snncompile.backends.loihi.execute import run_in_lava
        return run_in_lava(self, prompt_ids, generate=max_new_tokens, timeout=timeout,
                           python=python).generated

    # -- folder ------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The loihi.json document."""
        return {"format": LOIHI_FORMAT, "spec": self.spec.to_dict(), "encoding": self.encoding,
                "layers": [lp.to_json() for lp in self.layers], "placement": dict(self.placement)}

    def save(self, folder: str | Path) -> Path:
        """Write the program folder atomically (module docstring); returns its path."""
        return save_folder(self, folder, {LOIHI_FILE: json.dumps(self.to_json(), indent=1)})

    @classmethod
    def load(cls, folder: str | Path) -> "LoihiProgram":
        """Read a program folder written by `save`, checking every field (module docstring)."""
        from snncompile.ir import serde
        folder = Path(folder)
        meta = open_folder(folder, cls.backend, (LOIHI_FILE,))
        path = folder / LOIHI_FILE
        try:
            doc = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise SimulationError(f"{path}: invalid JSON ({exc})") from None
        spec, encoding, layers, placement = _parse_loihi_json(doc, path)
        graph = serde.load(folder / "graph.onnx")
        try:
            prog = cls(graph, spec, encoding, layers, placement, meta["source"],
                       tuple(meta["lowering"]))
        except SimulationError as exc:
            raise SimulationError(f"{path}: {exc}") from None
        check_hashes(folder, meta)
        return prog


def _parse_loihi_json(doc: Any, path: Path
                      ) -> tuple[LoihiSpec, str, tuple[LayerPlan, ...], dict[str, str]]:
    """The fields of a loihi.json document, each type-checked (SimulationError naming it)."""
    def bad(fld: str, what: str) -> SimulationError:
        return SimulationError(f"{path}: field {fld!r} {what}")

    if not isinstance(doc, dict):
        raise SimulationError(f"{path}: the top level must be an object")
    if doc.get("format") != LOIHI_FORMAT:
        raise bad("format", f"is {doc.get('format')!r}, not {LOIHI_FORMAT!r}")
    keys = ("format", "spec", "encoding", "layers", "placement")
    for k in keys:
        if k not in doc:
            raise bad(k, "is missing")
    for k in doc:
        if k not in keys:
            raise bad(k, "is unknown")
    try:
        spec = LoihiSpec.from_dict(doc["spec"])
    except HardwareSpecError as exc:
        raise bad("spec", f"is invalid: {exc}") from None
    encoding = doc["encoding"]
    if encoding not in ENCODINGS:
        raise bad("encoding", f"must be one of {ENCODINGS}, got {encoding!r}")
    if not isinstance(doc["layers"], list):
        raise bad("layers", "must be a list")
    layers = tuple(_parse_layer(x, f"layers[{i}]", bad) for i, x in enumerate(doc["layers"]))
    placement = doc["placement"]
    if not isinstance(placement, dict):
        raise bad("placement", "must be an object")
    for node, place in placement.items():
        if place not in PLACES:
            raise bad(f"placement.{node}", f"must be one of {PLACES}, got {place!r}")
    return spec, encoding, layers, dict(placement)


def _parse_layer(x: Any, fld: str, bad) -> LayerPlan:
    if not isinstance(x, dict):
        raise bad(fld, "must be an object")
    for k in _LAYER_KEYS:
        if k not in x:
            raise bad(f"{fld}.{k}", "is missing")
    for k in x:
        if k not in _LAYER_KEYS:
            raise bad(f"{fld}.{k}", "is unknown")
    if not isinstance(x["name"], str) or not x["name"]:
        raise bad(f"{fld}.name", "must be a non-empty string")
    for k in ("d_in", "d_out", "D", "rails"):
        if not _is_int(x[k]) or x[k] < 1:
            raise bad(f"{fld}.{k}", f"must be a positive integer, got {x[k]!r}")
    if x["block"] is not None and not (_is_int(x["block"]) and x["block"] >= 0):
        raise bad(f"{fld}.block", f"must be a block index or null, got {x['block']!r}")
    ranges = {}
    for k in ("rows", "cols"):
        v = x[k]
        if not (isinstance(v, list) and v and all(
                isinstance(r, list) and len(r) == 2 and all(_is_int(e) for e in r) for r in v)):
            raise bad(f"{fld}.{k}", "must be a non-empty list of [start, stop] integer pairs")
        ranges[k] = tuple((int(a), int(b)) for a, b in v)
    return LayerPlan(x["name"], x["block"], x["d_in"], x["d_out"], x["D"], ranges["rows"],
                     ranges["cols"], x["rails"])


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


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
