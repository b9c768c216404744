"""Lowering for the generic accumulate-only core: graph + HardwareSpec -> Program.

The lowering is a straight list of named steps (`STEPS`, run by `snncompile.passes.run_steps`
over an `AccumLowering` state; the names are kept as `Program.lowering`), after the graph is
verified:
 quantize  `quantize_weights` with the hardware's weight bit width (a layer already quantized
           to another width is a HardwareFitError: integers are not re-quantized);
 tile      tile every SpikedLinear (tiling.tile_projection, the shared tiling arithmetic with
           this core's limits) at the expected spikes per input, rate * D (binary) or
           min(1, rate * D) (graded), where D comes from its SpikeEncode;
 pack      pack the tiles into cores (partition.pack: HardwareFitError when they do not fit);
 place     place the cores on the mesh and choose block hosts (placement.place); assign every
           node a host core: the dense unit that runs it (dense ops, spike encoders) or, for a
           SpikedLinear, the core its spikes leave from and its partial sums return to. Nodes
           outside blocks go with the first block (embedding) or the last (norm_f, lm_head);
           estimate traffic for the placement and for the row-major baseline (the Mapping);
 layout    re-store each spiked weight input-major (WT contiguous (d_in, d_out); the graph
           keeps the IR's (d_out, d_in) layout as the view WT.T, so no second copy exists).
Dense ops (everything but SpikeEncode / SpikedLinear) are assigned to the dense unit.
`build_mapping` runs tile, pack and place alone (shape-only graphs included).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from snncompile.backends.accum.hardware import HardwareSpec
from snncompile.backends.accum.mapping import LayerMap, Mapping, estimate_traffic, spikes_per_input
from snncompile.backends.accum.partition import Bin, LayerTiles, pack
from snncompile.backends.accum.placement import place
from snncompile.backends.accum.program import Program
from snncompile.backends.accum.tiling import tile_projection
from snncompile.errors import HardwareFitError, IRError
from snncompile.ir.graph import Graph
from snncompile.passes import Step, quantize_weights, run_steps

DEFAULT_RATE = 0.25  # firing rate per micro-step slot assumed when mapping (traffic estimate)

SpikedLayer = tuple[str, int | None, int, int, int]   # (name, block, d_in, d_out, D)


@dataclass(frozen=True)
class AccumLowering:
    """The state the lowering steps pass along: the graph and hardware, the mapping
    parameters, and what each step decided (empty until it runs)."""

    graph: Graph
    hw: HardwareSpec
    rate: float = DEFAULT_RATE
    slack: float = 0.1
    layers: tuple[SpikedLayer, ...] = ()
    tiled: tuple[LayerTiles, ...] = ()
    bins: tuple[Bin, ...] = ()
    mapping: Mapping | None = None


def quantize_step(s: AccumLowering) -> AccumLowering:
    """Quantize the spiked weights to the hardware's bit width (module docstring)."""
    for n, _neuron in s.graph.spiked_projections():
        if n.op.weight_bits not in (0, s.hw.weight_bits):
            raise HardwareFitError(
                f"layer {n.name!r} has {n.op.weight_bits}-bit weights, the hardware "
                f"core.weight_bits is {s.hw.weight_bits} (export the float model and lower "
                f"again)")
    graph = quantize_weights.run(s.graph, bits=s.hw.weight_bits).graph
    graph.verify()
    return dataclasses.replace(s, graph=graph)


def tile_step(s: AccumLowering) -> AccumLowering:
    """Split every spiked projection into a grid of tiles that each fit a core."""
    layers = tuple(spiked_layers(s.graph))
    tiled = tuple(LayerTiles(name, block, tile_projection(
        d_in, d_out, s.hw, spikes_per_input(s.rate, D, s.hw.spike_encoding), s.slack, D=D,
        name=name)) for name, block, d_in, d_out, D in layers)
    return dataclasses.replace(s, layers=layers, tiled=tiled)


def pack_step(s: AccumLowering) -> AccumLowering:
    """Pack the tiles into cores (bins)."""
    return dataclasses.replace(s, bins=tuple(pack(list(s.tiled), s.hw)))


def place_step(s: AccumLowering) -> AccumLowering:
    """Place the bins on the mesh, host every node, estimate the traffic: the Mapping."""
    graph, hw, layers, tiled, bins = s.graph, s.hw, s.layers, list(s.tiled), list(s.bins)
    blocks = sorted({n.block for n in graph.nodes}, key=lambda b: (b is None, b))
    spi = spikes_per_input(s.rate, max((D for *_, D in layers), default=1), hw.spike_encoding)
    estimate = {}
    for strategy in ("row_major", "optimized"):
        placed = place(bins, tiled, hw, spi, blocks, strategy=strategy)
        tile_core: dict[tuple[int, int], int] = {}
        for bi, b in enumerate(bins):
            for li, ti in b.tiles:
                tile_core[(li, ti)] = placed.bin_core[bi]
        lmaps = tuple(
            LayerMap(name, block, d_in, d_out, D, tiled[li].grid.row_splits,
                     tiled[li].grid.col_splits,
                     tuple(tile_core[(li, ti)] for ti in range(tiled[li].grid.n_tiles)))
            for li, (name, block, d_in, d_out, D) in enumerate(layers))
        hosts = node_hosts(graph, placed.block_host)
        estimate[strategy] = estimate_traffic(lmaps, hosts, hw, s.rate, dense_transfers(graph))
    estimate["cores_used"] = len(bins)
    return dataclasses.replace(s, mapping=Mapping(lmaps, hosts, s.rate, s.slack, estimate))


def layout_step(s: AccumLowering) -> AccumLowering:
    """Store the spiked weights input-major."""
    return dataclasses.replace(s, graph=to_input_major(s.graph))


MAPPING_STEPS: tuple[Step[AccumLowering], ...] = (
    Step("tile", tile_step), Step("pack", pack_step), Step("place", place_step))
STEPS: tuple[Step[AccumLowering], ...] = (
    Step("quantize", quantize_step), *MAPPING_STEPS, Step("layout", layout_step))


def lower(graph: Graph, hw: HardwareSpec, *, rate: float = DEFAULT_RATE, slack: float = 0.1,
          source: str | None = None) -> Program:
    """Lower `graph` onto `hw`: verify it, then run `STEPS` (module docstring)."""
    if not 0 < rate <= 1:
        raise IRError(f"lower: rate must be in (0, 1], got {rate}")
    if slack < 0:
        raise IRError(f"lower: slack must be >= 0, got {slack}")
    graph.verify()
    done = run_steps(AccumLowering(graph, hw, rate, slack), STEPS)
    return Program(done.state.graph, hw, done.state.mapping, source=source, lowering=done.log)


def spiked_layers(graph: Graph) -> list[SpikedLayer]:
    """(name, block, d_in, d_out, D) of every spiked projection, D from the neuron feeding it
    (`Graph.spiked_projections`: IRError when its spike input does not come from a neuron)."""
    return [(n.name, n.block, n.op.d_in, n.op.d_out, neuron.op.D)
            for n, neuron in graph.spiked_projections()]


def build_mapping(graph: Graph, hw: HardwareSpec, *, rate: float = DEFAULT_RATE,
                  slack: float = 0.1) -> Mapping:
    """Tiles, packing, placement and hosts of a (shape-only or full) graph on `hw`: the
    tile, pack and place steps alone."""
    return run_steps(AccumLowering(graph, hw, rate, slack), MAPPING_STEPS).state.mapping


def node_hosts(graph: Graph, block_host: dict[int | None, int]) -> dict[str, int]:
    """Host core of every node: its block's; outside blocks, the first or last block's."""
    numbered = sorted(b for b in block_host if b is not None)
    first = block_host[numbered[0]] if numbered else block_host[None]
    last = block_host[numbered[-1]] if numbered else block_host[None]
    seen_block = False
    hosts: dict[str, int] = {}
    for n in graph.nodes:
        if n.block is not None:
            seen_block = True
            hosts[n.name] = block_host[n.block]
        else:
            hosts[n.name] = last if seen_block else first
    return hosts


def dense_transfers(graph: Graph) -> list[tuple[str, str, int]]:
    """(producer, consumer, values) of every float value passed from one node to another."""
    producers = graph.producers()
    shapes = graph.value_shapes()
    out = []
    for n in graph.nodes:
        for v, kind in zip(n.inputs, n.op.in_kinds):
            src = producers.get(v)
            if src is not None and kind == "float":
                out.append((src.name, n.name, int(np.prod(shapes[v], dtype=np.int64))))
    return out


def to_input_major(graph: Graph) -> Graph:
    """Store each quantized SpikedLinear weight as WT (d_in, d_out) C-contiguous; the graph
    param becomes the (d_out, d_in) view WT.T (same values, no extra copy)."""
    params = dict(graph.params)
    for n, _neuron in graph.spiked_projections():
        if n.op.weight_bits:
            w = params[n.params["weight"]]
            if not w.T.flags.c_contiguous:
                params[n.params["weight"]] = np.ascontiguousarray(w.T).T
    return Graph(graph.nodes, params, graph.inputs, graph.outputs, dict(graph.metadata))
