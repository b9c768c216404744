"""Lowering a time-stepped spiking network onto the cores: where every neuron and synapse lives.

A network graph (metadata "network") is a chain of layers, each a SpikedLinear (synapses,
int8 after quantization), an optional Bias (the layer's input bias) and a neuron op (LIF /
IF / CubaLIF, EulerNeuron, or a LeakyIntegrator read-out as the last layer; docs/nir.md, "On
the cores"). The mapping rule:

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
  recurrent an EulerNeuron's recurrent synapses (w_rec, d x d) sit beside its neurons: the
            layer is split by outputs with d_in + d inputs per neuron (axons and synapse
            memory count both), and refused (HardwareFitError) where that does not fit;
            lowering stores w_rec as integers times a power of two per row
            (backends/accum/recurrent.py).

Convolutions (`unroll_synapses`, run first by `lower_network`): the stages between a spike
source and the next neuron layer may be any chain of linear maps (Conv1d, Conv2d, SumPool2d,
SpikedLinear, Linear, Scale: snncompile/ir/conv_ops.py, docs/nir.md); they are composed
into one (d_out, d_in) matrix M = A_k ... A_1, a SpikedLinear, and their biases (a conv's
or a Linear's) into one Bias node after it (A_k ... A_2 b_1 + ... + b_k). Where some pair is
not connected (a conv's receptive fields) it is `sparse`, with the parameter "connections"
(uint8 (d_out, d_in): the boolean product of the stages' connection masks; a conv's taps
count, zero weights included). Weight sharing is not exploited: every connection is a stored
synapse. Placement then counts synapse memory by the connections present: split by outputs,
a core takes consecutive output neurons (C-order: whole rows, then channels) while their
synapses fit (sum of connections x weight bits <= 8 weight_sram_bytes, at most `neurons`
neurons, the distinct inputs they read <= axons); split by partial sums sizes its tiles as
dense (the bound above) and records the connections present. Each tile records its synapse
count (`synapses`).
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
from snncompile.ir.graph import Graph, Node
from snncompile.ir.neuron_ops import NEURON_OPS
from snncompile.ir.nir_ops import Bias, EulerNeuron, LeakyIntegrator
from snncompile.ir.ops import SpikedLinear

CORE_NEURONS = NEURON_OPS + (EulerNeuron, LeakyIntegrator)   # the neuron ops the cores run

SPLITS = ("auto", "outputs", "partial")
PLACEMENT_FORMAT = "snncompile-placement/1"
FILES = (MANIFEST, "graph.onnx", "placement.json", "hardware.toml")


def is_network(graph: Graph) -> bool:
    """True for a time-stepped network graph (metadata "network")."""
    return isinstance(graph.metadata, dict) and "network" in graph.metadata


def network_layers(graph: Graph) -> list[tuple[Any, Any]]:
    """[(synapse node, neuron node)] in order; IRError when the graph is not a chain of
    SpikedLinear -> [Bias ->] neuron layers fed by the graph's spike input (a
    LeakyIntegrator, which does not spike, only as the last layer; `input_bias` gives a
    layer's Bias node)."""
    nodes = list(graph.nodes)
    if not nodes:
        raise IRError("network: expected layers of (SpikedLinear, neuron) nodes, got 0 nodes")
    layers = []
    src = graph.inputs[0]
    k = 0
    while k < len(nodes):
        syn = nodes[k]
        if syn.op_type != "SpikedLinear" or syn.inputs[0] != src:
            raise IRError(f"network: node {syn.name!r} must be a SpikedLinear fed by "
                          f"{src!r} (only feed-forward chains are lowered)")
        feed = syn.outputs[0]
        k += 1
        if k < len(nodes) and nodes[k].op_type == "Bias" and nodes[k].inputs[0] == feed:
            feed = nodes[k].outputs[0]
            k += 1
        if k == len(nodes):
            raise IRError(f"network: node {syn.name!r} feeds no neuron layer")
        neu = nodes[k]
        if not isinstance(neu.op, CORE_NEURONS) or neu.inputs[0] != feed:
            raise IRError(f"network: node {neu.name!r} ({neu.op_type}) must be a "
                          f"{'/'.join(c.op_type for c in CORE_NEURONS)} neuron fed by "
                          f"{syn.name!r} (the cores run these neuron models)")
        k += 1
        if isinstance(neu.op, LeakyIntegrator) and k < len(nodes):
            raise IRError(f"network: node {neu.name!r} (LeakyIntegrator) does not spike; only "
                          "the last layer may be one")
        layers.append((syn, neu))
        src = neu.outputs[0]
    return layers


def input_bias(graph: Graph, neu: Node) -> np.ndarray | None:
    """The bias (d,) a Bias node adds to a neuron layer's synaptic input x (x + bias, before
    the neuron's equations: an Affine's bias), or None."""
    for n in graph.nodes:
        if n.op_type == "Bias" and n.outputs[0] == neu.inputs[0]:
            return np.asarray(graph.params[n.params["bias"]], np.float64)
    return None


def recurrent_rows(neu: Node) -> int:
    """The recurrent synapses' inputs of a neuron layer: d for a recurrent EulerNeuron (its
    own spikes of the previous step), else 0."""
    return neu.op.d if isinstance(neu.op, EulerNeuron) and neu.op.recurrent else 0


LINEAR_STAGES = ("SpikedLinear", "Linear", "Conv1d", "Conv2d", "SumPool2d", "Scale")


def _stage_matrix(graph: Graph, n: Node) -> tuple[np.ndarray, np.ndarray | None,
                                                  np.ndarray | None]:
    """(A float64 (d_out, d_in), connections bool or None = all, bias (d_out,) or None) of
    one linear stage: y = A x (+ bias)."""
    op, p = n.op, {r: graph.params[v] for r, v in n.params.items()}
    if n.op_type == "SpikedLinear":
        W = np.asarray(p["weight"], np.float64)
        if op.weight_bits:
            W = np.asarray(p["weight_scale"], np.float64)[:, None] * W
        conn = np.asarray(p["connections"], bool) if op.sparse else None
        return op.input_scale * W, conn, None
    if n.op_type == "Linear":
        b = np.asarray(p["bias"], np.float64) if op.has_bias else None
        return np.asarray(p["weight"], np.float64), None, b
    if n.op_type == "Scale":
        s = np.asarray(p["scale"], np.float64)
        return np.diag(s), np.eye(s.size, dtype=bool), None
    M, C = op.unrolled(p)
    b = (np.repeat(np.asarray(p["bias"], np.float64), op.d_out // op.channels_out)
         if getattr(op, "has_bias", False) else None)
    return M, C.astype(bool), b


def unroll_synapses(graph: Graph) -> Graph:
    """The graph with every chain of linear stages between a spike source and a neuron layer
    composed into one SpikedLinear (module docstring); a graph whose stages are single
    SpikedLinears is returned as it is."""
    nodes = list(graph.nodes)
    if all(n.op_type == "SpikedLinear" or isinstance(n.op, CORE_NEURONS) for n in nodes):
        return graph
    out_nodes: list[Node] = []
    params = {k: v for k, v in graph.params.items()}
    used = set(graph.outputs)
    run: list[Node] = []
    src = graph.inputs[0]
    for n in nodes:
        if n.op_type in LINEAR_STAGES:
            want = run[-1].outputs[0] if run else src
            if n.inputs[0] != want:
                raise IRError(f"network: node {n.name!r} must be fed by {want!r} (only "
                              "feed-forward chains are lowered)")
            if run and run[-1].outputs[0] in used:
                raise IRError(f"network: value {run[-1].outputs[0]!r} is a graph output inside "
                              "a synapse stage")
            run.append(n)
            continue
        if not (isinstance(n.op, CORE_NEURONS) or n.op_type == "Bias") or not run:
            out_nodes.extend(run)   # kept in order: network_layers names what does not fit
            out_nodes.append(n)
            run = []
            src = n.outputs[0]
            continue
        if len(run) == 1 and run[0].op_type == "SpikedLinear":
            out_nodes.append(run[0])
            out_nodes.append(n)
        else:
            M, conn, bias = None, None, None
            for st in run:
                A, C, b = _stage_matrix(graph, st)
                M = A if M is None else A @ M
                if bias is not None:
                    bias = A @ bias
                if b is not None:
                    bias = b if bias is None else bias + b
                if C is None:
                    C = np.ones(A.shape, bool)
                conn = C if conn is None else (C.astype(np.int64) @ conn.astype(np.int64)) > 0
            head = run[0]
            for st in run:
                for pname in st.params.values():
                    params.pop(pname, None)
            roles = {"weight": f"{head.name}.weight"}
            params[roles["weight"]] = M
            sparse = not bool(conn.all())
            if sparse:
                roles["connections"] = f"{head.name}.connections"
                params[roles["connections"]] = conn.astype(np.uint8)
            op = SpikedLinear(d_in=M.shape[1], d_out=M.shape[0], input_scale=1.0,
                              sparse=sparse)
            if bias is None:
                out_nodes.append(Node(head.name, op, (src,), (run[-1].outputs[0],), roles))
                out_nodes.append(n)
            else:      # the stages' biases (and a Bias node after them) as one Bias node
                pre = f"{head.name}.unbiased"
                out_nodes.append(Node(head.name, op, (src,), (pre,), roles))
                if n.op_type == "Bias":
                    bias = bias + np.asarray(graph.params[n.params["bias"]], np.float64)
                    params.pop(n.params["bias"])
                key = f"{head.name}.bias"
                params[key] = bias
                out_nodes.append(Node(key, Bias(d=bias.size), (pre,),
                                      (n.outputs[0] if n.op_type == "Bias"
                                       else run[-1].outputs[0],), {"bias": key}))
                if n.op_type != "Bias":
                    out_nodes.append(n)
        run = []
        src = n.outputs[0]
    out_nodes.extend(run)
    g = Graph(out_nodes, params, graph.inputs, graph.outputs, dict(graph.metadata))
    g.verify()
    return g


def thresholds_as_neurons(graph: Graph) -> Graph:
    """The graph with every Threshold node (s = x > threshold, stateless) as the EulerNeuron
    that spikes alike: alpha_v = beta_v = 0, gain = 1, reset to v_reset = 0, so that v = (0 v
    + 0) + 1 x = x exactly and s = v > threshold; its potential is a new value
    "<name>.v". A graph without Threshold nodes is returned as it is."""
    if not any(n.op_type == "Threshold" for n in graph.nodes):
        return graph
    nodes, params = [], dict(graph.params)
    for n in graph.nodes:
        if n.op_type != "Threshold":
            nodes.append(n)
            continue
        d = n.op.d
        roles = {"threshold": n.params["threshold"]}
        for role, value in (("alpha_v", 0.0), ("beta_v", 0.0), ("gain", 1.0), ("v_reset", 0.0)):
            roles[role] = f"{n.name}.{role}"
            params[roles[role]] = np.full(d, value)
        nodes.append(Node(n.name, EulerNeuron(d=d, reset="value"), n.inputs,
                          (n.outputs[0], f"{n.name}.v"), roles))
    g = Graph(nodes, params, graph.inputs, graph.outputs, dict(graph.metadata))
    g.verify()
    return g


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
    synapses: list[int] | None = None   # synapses stored by each tile (None: not recorded)

    def to_dict(self) -> dict[str, Any]:
        d = {"name": self.name, "neuron": self.neuron, "split": self.split,
             "rows": self.rows, "tiles": [list(t) for t in self.tiles],
             "neuron_core": self.neuron_core.tolist()}
        if self.synapses is not None:
            d["synapses"] = list(self.synapses)
        return d


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
                                     np.asarray(e["neuron_core"], np.int64),
                                     [int(x) for x in e["synapses"]] if "synapses" in e
                                     else None)
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
        n_rec = recurrent_rows(neu)     # recurrent synapses sit beside the neurons' own
        conn = (np.asarray(graph.params[syn.params["connections"]], bool)
                if getattr(syn.op, "sparse", False) else None)
        if conn is not None:
            groups = _pack_rows(np.hstack([conn, np.ones((d_out, n_rec), bool)]), hw)
            fits = groups is not None
        else:
            k = min(hw.neurons_per_core, hw.weight_sram_bytes * 8 // ((d_in + n_rec) * bits))
            fits = d_in + n_rec <= hw.axons_per_core and k >= 1
        mode = split if split != "auto" else ("outputs" if fits else "partial")
        if n_rec and not (mode == "outputs" and fits):
            raise HardwareFitError(
                f"layer {syn.name!r}: its neurons' {d_in} inputs and {n_rec} recurrent inputs "
                f"do not fit one core (axons {hw.axons_per_core}, {hw.weight_sram_bytes} B of "
                "weights); a recurrent layer is split by outputs only")
        if mode == "outputs":
            if not fits:
                raise HardwareFitError(
                    f"layer {syn.name!r}: {d_in} inputs do not fit one core (axons "
                    f"{hw.axons_per_core}, {hw.weight_sram_bytes} B of weights); use split "
                    "'partial' or 'auto'")
            if conn is not None:
                sizes = [c1 - c0 for c0, c1 in groups]
                cores = take(len(sizes), f"layer {syn.name!r}")
            else:
                cores = take(-(-d_out // k), f"layer {syn.name!r}")
                sizes = _spread(d_out, len(cores))
            tiles, c0 = [], 0
            for core, n in zip(cores, sizes):
                tiles.append((0, c0, c0 + n, core, core))
                c0 += n
            neuron_core = np.repeat(np.array(cores, np.int64), sizes)
            syns = [s + (t[2] - t[1]) * n_rec
                    for s, t in zip(_synapses(tiles, d_in, d_in, conn), tiles)]
            out.layers.append(LayerPlacement(syn.name, neu.name, "outputs", d_in, tiles,
                                             neuron_core, syns))
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
        out.layers.append(LayerPlacement(syn.name, neu.name, "partial", r, tiles, neuron_core,
                                         _synapses(tiles, r, d_in, conn)))
    return out


def _pack_rows(conn: np.ndarray, hw: HardwareSpec) -> list[tuple[int, int]] | None:
    """Consecutive output neurons per core [(c0, c1)] (module docstring): a core takes rows
    while their connections fit its weight memory, its neurons and its axons; None when one
    row alone does not fit."""
    budget = hw.weight_sram_bytes * 8
    per_row = conn.sum(axis=1).astype(np.int64) * hw.weight_bits
    groups, c0, syn, axons = [], 0, 0, np.zeros(conn.shape[1], bool)
    for o in range(conn.shape[0]):
        row = conn[o]
        if per_row[o] > budget or int(row.sum()) > hw.axons_per_core:
            return None
        new_axons = axons | row
        if o > c0 and (syn + per_row[o] > budget or o - c0 >= hw.neurons_per_core
                       or int(new_axons.sum()) > hw.axons_per_core):
            groups.append((c0, o))
            c0, syn, new_axons = o, 0, row.copy()
        syn += per_row[o]
        axons = new_axons
    groups.append((c0, conn.shape[0]))
    return groups


def _synapses(tiles, rows: int, d_in: int, conn: np.ndarray | None) -> list[int]:
    """Synapses each tile stores: the connections of its rows x columns (dense: all)."""
    out = []
    for ch, c0, c1, _core, _home in tiles:
        r0, r1 = ch * rows, min(d_in, (ch + 1) * rows)
        out.append(int(conn[c0:c1, r0:r1].sum()) if conn is not None
                   else (c1 - c0) * (r1 - r0))
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
                            "neurons": int(lp.neuron_core.size),
                            "synapses": sum(lp.synapses) if lp.synapses is not None else None}
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
    graph = thresholds_as_neurons(graph)
    unrolled = unroll_synapses(graph)
    for syn, _neu in network_layers(unrolled):
        if syn.op.weight_bits not in (0, hw.weight_bits):
            raise HardwareFitError(f"layer {syn.name!r} is quantized to {syn.op.weight_bits} "
                                   f"bits, the hardware stores {hw.weight_bits}-bit weights")
    q = _keep_connections(unrolled, quantize_weights.run(unrolled, bits=hw.weight_bits).graph)
    q, n_rec = _quantize_recurrent(q, hw.weight_bits)
    placement = place_network(q, hw, split)
    steps = ("quantize",) + (("quantize-recurrent",) if n_rec else ()) + (f"place:{split}",)
    return NetworkProgram(q, hw, placement, source=source,
                          lowering=steps if unrolled is graph else ("unroll",) + steps)


def _keep_connections(before: Graph, after: Graph) -> Graph:
    """`after` (quantized) with the "connections" parameter of every sparse SpikedLinear of
    `before` put back (the quantize pass writes weight and weight_scale only)."""
    conns = {n.name: n.params["connections"] for n in before.nodes
             if n.op_type == "SpikedLinear" and n.op.sparse}
    if not conns:
        return after
    nodes, params = [], dict(after.params)
    for n in after.nodes:
        if n.name in conns and "connections" not in n.params:
            params[conns[n.name]] = before.params[conns[n.name]]
            n = Node(n.name, n.op, n.inputs, n.outputs,
                     {**n.params, "connections": conns[n.name]})
        nodes.append(n)
    g = Graph(nodes, params, after.inputs, after.outputs, dict(after.metadata))
    g.verify()
    return g


def _quantize_recurrent(graph: Graph, bits: int) -> tuple[Graph, int]:
    """(graph with every recurrent EulerNeuron's w_rec as b-bit integers times a power of two
    per row (backends/accum/recurrent.py), how many were quantized)."""
    from snncompile.backends.accum.recurrent import quantize_pow2
    params, n = dict(graph.params), 0
    for syn, neu in network_layers(graph):
        if recurrent_rows(neu):
            key = neu.params["w_rec"]
            params[key] = quantize_pow2(graph.params[key], bits)
            n += 1
    if not n:
        return graph, 0
    g = Graph(list(graph.nodes), params, graph.inputs, graph.outputs, dict(graph.metadata))
    g.verify()
    return g, n
