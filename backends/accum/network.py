"""Lowering a time-stepped spiking network onto the cores: where every neuron and synapse lives.

A network graph (metadata "network") is a chain of layers, each a SpikedLinear (synapses,
int8 after quantization) followed by a neuron op (LIF / IF / CubaLIF). The mapping rule:

  order     cores are filled in tile order (tile 0's cores, then tile 1's, ...; row-major
            tiles), so that consecutive cores share a tile; the network's inputs come first,
            then layer 0, layer 1, ... each starting on a fresh core;
  inputs    ceil(n_in / neurons) cores, the inputs spread evenly;
  outputs   split by outputs (default when it fits): a core holds whole neurons with all their
            synapses: d_in <= axons and per-core neurons
              k = min(neurons, floor(8 * weight_sram_bytes / (d_in * weight_bits)));
            the layer takes ceil(d_out / k) cores, its neurons spread evenly. Every spike goes
            to every core of the layer (one message each);
  partial   split by partial sums (when d_in does not fit one core, or when asked): the inputs
            are cut into chunks of r = min(axons, 8 * weight_sram_bytes / (c * weight_bits))
            rows and the outputs into blocks of c columns; tile (chunk, block) sits on its own
            core, and block b's neurons on the core of chunk 0's tile. Each other chunk sends,
            per step, one message per non-zero partial sum to the neurons' core. A spike goes
            only to the tiles of its chunk.
`split = "auto"` takes "outputs" where it fits, else "partial"; "outputs" refuses a layer that
does not fit (HardwareFitError naming it). A neuron on the core that holds its synapses sends
no read-out: the last layer's neurons send nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from snncompile.backends.accum.hardware import HardwareSpec
from snncompile.backends.base import MANIFEST, check_hashes, open_folder, save_folder
from snncompile.backends.base import Program as BaseProgram
from snncompile.errors import HardwareFitError, IRError, SimulationError
from snncompile.ir.graph import Graph
from snncompile.ir.neuron_ops import NEURON_OPS

SPLITS = ("auto", "outputs", "partial")
PLACEMENT_FORMAT = "snncompile-placement/1"
FILES = (MANIFEST, "graph.onnx", "placement.json", "hardware.toml")


def is_network(graph: Graph) -> bool:
    """True for a time-stepped network graph (metadata "network")."""
    return isinstance(graph.metadata, dict) and "network" in graph.metadata


def network_layers(graph: Graph) -> list[tuple[Any, Any]]:
    """[(synapse node, neuron node)] in order; IRError when the graph is not a chain of
    SpikedLinear -> neuron layers fed by the graph's spike input."""
    nodes = list(graph.nodes)
    if len(nodes) % 2 or not nodes:
        raise IRError("network: expected layers of (SpikedLinear, neuron) nodes, got "
                      f"{len(nodes)} nodes")
    layers = []
    src = graph.inputs[0]
    for k in range(0, len(nodes), 2):
        syn, neu = nodes[k], nodes[k + 1]
        if syn.op_type != "SpikedLinear" or syn.inputs[0] != src:
            raise IRError(f"network: node {syn.name!r} must be a SpikedLinear fed by "
                          f"{src!r} (only feed-forward chains are lowered)")
        if not isinstance(neu.op, NEURON_OPS) or neu.inputs[0] != syn.outputs[0]:
            raise IRError(f"network: node {neu.name!r} ({neu.op_type}) must be a "
                          f"{'/'.join(c.op_type for c in NEURON_OPS)} neuron fed by "
                          f"{syn.name!r} (the cores run these neuron models)")
        layers.append((syn, neu))
        src = neu.outputs[0]
    return layers


def core_order(hw: HardwareSpec) -> list[int]:
    """Core ids in filling order: by tile (row-major tiles), then inside the tile."""
    return sorted(range(hw.cores), key=lambda c: (hw.tile_id(c), hw.core_tile(c)[2]))


def _spread(n: int, parts: int) -> list[int]:
    """n items over `parts` bins as evenly as possible (the first bins one larger)."""
    q, rem = divmod(n, parts)
    return [q + (1 if i < rem else 0) for i in range(parts)]


@dataclass
class LayerPlacement:
    """One layer: its split, chunk size (rows), tiles (chunk, c0, c1, core, neuron core) and
    the core of every neuron."""

    name: str
    neuron: str
    split: str
    rows: int
    tiles: list[tuple[int, int, int, int, int]]
    neuron_core: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "neuron": self.neuron, "split": self.split,
                "rows": self.rows, "tiles": [list(t) for t in self.tiles],
                "neuron_core": self.neuron_core.tolist()}


@dataclass
class Placement:
    """Where everything lives: the inputs' cores and each layer's tiles and neurons."""

    input_core: np.ndarray
    layers: list[LayerPlacement] = field(default_factory=list)

    def cores_used(self) -> list[int]:
        used = set(self.input_core.tolist())
        for lp in self.layers:
            used.update(lp.neuron_core.tolist())
            used.update(t[3] for t in lp.tiles)
        return sorted(used)

    def by_node(self) -> dict[str, np.ndarray]:
        """{"input": cores of the inputs, neuron node name: core of each neuron}."""
        out = {"input": self.input_core}
        out.update({lp.neuron: lp.neuron_core for lp in self.layers})
        return out

    def to_json(self) -> str:
        return json.dumps({"format": PLACEMENT_FORMAT, "input_core": self.input_core.tolist(),
                           "layers": [lp.to_dict() for lp in self.layers]})

    @classmethod
    def from_json(cls, text: str) -> "Placement":
        try:
            d = json.loads(text)
            if d.get("format") != PLACEMENT_FORMAT:
                raise ValueError(f"format must be {PLACEMENT_FORMAT!r}")
            layers = [LayerPlacement(str(e["name"]), str(e["neuron"]), str(e["split"]),
                                     int(e["rows"]), [tuple(int(x) for x in t) for t in e["tiles"]],
                                     np.asarray(e["neuron_core"], np.int64))
                      for e in d["layers"]]
            return cls(np.asarray(d["input_core"], np.int64), layers)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise SimulationError(f"placement.json: {exc}") from None

    def check(self, graph: Graph, hw: HardwareSpec) -> None:
        """Every core is on the chip; the placement covers the graph's layers and shapes."""
        layers = network_layers(graph)
        n_in = int(graph.metadata["network"]["inputs"])
        if self.input_core.shape != (n_in,):
            raise SimulationError(f"placement.json: {self.input_core.size} input cores for "
                                  f"{n_in} inputs")
        if [lp.name for lp in self.layers] != [s.name for s, _ in layers]:
            raise SimulationError("placement.json: its layers are not the graph's")
        for lp, (syn, neu) in zip(self.layers, layers):
            if lp.neuron_core.shape != (syn.op.d_out,) or lp.neuron != neu.name:
                raise SimulationError(f"placement.json: layer {lp.name!r} does not match the "
                                      "graph")
        cores = self.cores_used()
        if cores and (cores[0] < 0 or cores[-1] >= hw.cores):
            raise HardwareFitError(f"placement uses core {cores[-1]}, the chip has {hw.cores}")


def place_network(graph: Graph, hw: HardwareSpec, split: str = "auto") -> Placement:
    """The mapping rule of the module docstring; HardwareFitError when it does not fit."""
    if split not in SPLITS:
        raise HardwareFitError(f"split must be one of {SPLITS}, got {split!r}")
    layers = network_layers(graph)
    order = core_order(hw)
    pos = 0

    def take(n: int, what: str) -> list[int]:
        nonlocal pos
        if pos + n > len(order):
            raise HardwareFitError(f"{what} needs {n} more cores; {len(order) - pos} of "
                                   f"{hw.cores} are left")
        out = order[pos:pos + n]
        pos += n
        return out

    n_in = int(graph.metadata["network"]["inputs"])
    k_in = hw.neurons_per_core
    in_cores = take(-(-n_in // k_in), "the inputs")
    input_core = np.repeat(np.array(in_cores, np.int64), _spread(n_in, len(in_cores)))
    out = Placement(input_core)
    bits = hw.weight_bits
    for syn, neu in layers:
        d_in, d_out = syn.op.d_in, syn.op.d_out
        k = min(hw.neurons_per_core, hw.weight_sram_bytes * 8 // (d_in * bits))
        fits = d_in <= hw.axons_per_core and k >= 1
        mode = split if split != "auto" else ("outputs" if fits else "partial")
        if mode == "outputs":
            if not fits:
                raise HardwareFitError(
                    f"layer {syn.name!r}: {d_in} inputs do not fit one core (axons "
                    f"{hw.axons_per_core}, {hw.weight_sram_bytes} B of weights); use split "
                    "'partial' or 'auto'")
            cores = take(-(-d_out // k), f"layer {syn.name!r}")
            sizes = _spread(d_out, len(cores))
            tiles, c0 = [], 0
            for core, n in zip(cores, sizes):
                tiles.append((0, c0, c0 + n, core, core))
                c0 += n
            neuron_core = np.repeat(np.array(cores, np.int64), sizes)
            out.layers.append(LayerPlacement(syn.name, neu.name, "outputs", d_in, tiles,
                                             neuron_core))
            continue
        # partial sums: c columns per block, r rows per chunk
        c = min(hw.neurons_per_core, d_out)
        r = min(hw.axons_per_core, d_in, hw.weight_sram_bytes * 8 // (c * bits))
        while r < 1 and c > 1:
            c = max(1, c // 2)
            r = min(hw.axons_per_core, d_in, hw.weight_sram_bytes * 8 // (c * bits))
        if r < 1:
            raise HardwareFitError(f"layer {syn.name!r}: not one weight fits a core")
        n_chunks = -(-d_in // r)
        n_blocks = -(-d_out // c)
        cores = take(n_chunks * n_blocks, f"layer {syn.name!r}")
        tiles = []
        neuron_core = np.zeros(d_out, np.int64)
        for b in range(n_blocks):
            c0, c1 = b * c, min(d_out, (b + 1) * c)
            home = cores[b * n_chunks]
            neuron_core[c0:c1] = home
            for ch in range(n_chunks):
                tiles.append((ch, c0, c1, cores[b * n_chunks + ch], home))
        out.layers.append(LayerPlacement(syn.name, neu.name, "partial", r, tiles, neuron_core))
    return out


@dataclass
class NetworkProgram(BaseProgram):
    """A network lowered onto the accum cores: the quantized graph, hardware and placement.
    Folder: program.json, graph.onnx, placement.json, hardware.toml."""

    backend = "accum"
    graph: Graph
    hardware: HardwareSpec
    placement: Placement
    source: str | None = None
    lowering: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.placement.check(self.graph, self.hardware)
        for syn, _neu in network_layers(self.graph):
            if syn.op.weight_bits == 0:
                raise SimulationError(f"program: layer {syn.name!r} is not quantized")

    @property
    def name(self) -> str:
        return self.source or self.hardware.name

    def run(self, tokens):  # noqa: D401 - the token protocol does not apply
        raise SimulationError("a network program runs on input spike trains: use "
                              "run_steps(x) or `snncompile simulate prog/ --input x.npy`")

    def generate(self, prompt_ids, max_new_tokens):
        raise SimulationError("a network program does not generate tokens")

    def run_steps(self, x: np.ndarray):
        """The reference semantics of the lowered graph on spike trains x (T, n_in)."""
        from snncompile.backends.reference.interpreter import ReferenceInterpreter
        return ReferenceInterpreter(self.graph, device="cpu").run_steps(x)

    def report(self) -> dict[str, Any]:
        cores = self.placement.cores_used()
        return {"backend": self.backend, "lowering": list(self.lowering),
                "hardware": self.hardware.name, "cores_used": len(cores),
                "tiles_used": len({self.hardware.tile_id(c) for c in cores}),
                "layers": [{"name": lp.name, "neuron": lp.neuron, "split": lp.split,
                            "tiles": len(lp.tiles),
                            "cores": len({t[3] for t in lp.tiles}),
                            "neurons": int(lp.neuron_core.size)}
                           for lp in self.placement.layers]}

    def render_report(self, report: dict[str, Any], console, *, max_rows: int = 16) -> None:
        from rich.table import Table
        t = Table(title=f"{report['hardware']}: {report['cores_used']} cores, "
                        f"{report['tiles_used']} tiles")
        for col in ("layer", "neuron", "split", "tiles", "cores", "neurons"):
            t.add_column(col)
        for lr in report["layers"][:max_rows]:
            t.add_row(lr["name"], lr["neuron"], lr["split"], str(lr["tiles"]), str(lr["cores"]),
                      str(lr["neurons"]))
        console.print(t)

    def save(self, folder: str | Path) -> Path:
        return save_folder(self, folder, {"placement.json": self.placement.to_json(),
                                          "hardware.toml": self.hardware.to_toml()})

    @classmethod
    def load(cls, folder: str | Path) -> "NetworkProgram":
        from snncompile.ir import serde
        folder = Path(folder)
        meta = open_folder(folder, cls.backend, ("placement.json", "hardware.toml"))
        hw = HardwareSpec.from_toml(folder / "hardware.toml")
        try:
            placement = Placement.from_json((folder / "placement.json").read_text())
        except UnicodeDecodeError:
            raise SimulationError(f"{folder / 'placement.json'}: not UTF-8 text") from None
        graph = serde.load(folder / "graph.onnx")
        prog = cls(graph, hw, placement, source=meta["source"], lowering=tuple(meta["lowering"]))
        check_hashes(folder, meta)
        return prog


def lower_network(graph: Graph, hw: HardwareSpec, split: str = "auto",
                  source: str | None = None) -> NetworkProgram:
    """Verify, quantize the synapses to the hardware's weight bits, place (module docstring)."""
    from snncompile.passes import quantize_weights
    graph.verify()
    for syn, _neu in network_layers(graph):
        if syn.op.weight_bits not in (0, hw.weight_bits):
            raise HardwareFitError(f"layer {syn.name!r} is quantized to {syn.op.weight_bits} "
                                   f"bits, the hardware stores {hw.weight_bits}-bit weights")
    q = quantize_weights.run(graph, bits=hw.weight_bits).graph
    placement = place_network(q, hw, split)
    return NetworkProgram(q, hw, placement, source=source,
                          lowering=("quantize", f"place:{split}"))
