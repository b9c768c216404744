"""Lowering for the generic accumulate-only core: graph + HardwareSpec -> Program.

Steps (a straight list):
 1. verify the graph;
 2. `quantize_weights` with the hardware's weight bit width (a layer already quantized to
    another width is a HardwareFitError: integers are not re-quantized);
 3. tile every SpikedLinear (tiling.tile_projection) at the expected spikes per input,
    rate * D (binary) or min(1, rate * D) (graded), where D comes from its SpikeEncode;
 4. pack the tiles into cores (partition.pack: HardwareFitError when they do not fit);
 5. place the cores on the mesh and choose block hosts (placement.place);
 6. assign every node a host core: the dense unit that runs it (dense ops, spike encoders)
    or, for a SpikedLinear, the core its spikes leave from and its partial sums return to.
    Nodes outside blocks go with the first block (embedding) or the last (norm_f, lm_head);
 7. re-store each spiked weight input-major (WT contiguous (d_in, d_out); the graph keeps the
    IR's (d_out, d_in) layout as the view WT.T, so no second copy exists);
 8. estimate traffic for the placement and for the row-major baseline.
Dense ops (everything but SpikeEncode / SpikedLinear) are assigned to the dense unit.
"""

from __future__ import annotations

import numpy as np

from snncompile.backends.accum.hardware import HardwareSpec
from snncompile.backends.accum.mapping import LayerMap, Mapping, estimate_traffic, spikes_per_input
from snncompile.backends.accum.partition import LayerTiles, pack
from snncompile.backends.accum.placement import place
from snncompile.backends.accum.program import Program
from snncompile.backends.accum.tiling import tile_projection
from snncompile.errors import HardwareFitError, IRError
from snncompile.ir.graph import Graph
from snncompile.passes import quantize_weights

DEFAULT_RATE = 0.25  # firing rate per micro-step slot assumed when mapping (traffic estimate)


def lower(graph: Graph, hw: HardwareSpec, *, rate: float = DEFAULT_RATE, slack: float = 0.1,
          source: str | None = None) -> Program:
    """Lower `graph` onto `hw` (module docstring)."""
    if not 0 < rate <= 1:
        raise IRError(f"lower: rate must be in (0, 1], got {rate}")
    if slack < 0:
        raise IRError(f"lower: slack must be >= 0, got {slack}")
    graph.verify()
    for n in graph.nodes:
        if n.op_type == "SpikedLinear" and n.op.weight_bits not in (0, hw.weight_bits):
            raise HardwareFitError(
                f"layer {n.name!r} has {n.op.weight_bits}-bit weights, the hardware "
                f"core.weight_bits is {hw.weight_bits} (export the float model and lower again)")
    graph = quantize_weights.run(graph, bits=hw.weight_bits).graph
    graph.verify()
    mapping = build_mapping(graph, hw, rate=rate, slack=slack)
    graph = to_input_major(graph)
    return Program(graph, hw, mapping, source=source)


def spiked_layers(graph: Graph) -> list[tuple[str, int | None, int, int, int]]:
    """(name, block, d_in, d_out, D) of every SpikedLinear, D from its SpikeEncode."""
    producers = graph.producers()
    out = []
    for n in graph.nodes:
        if n.op_type != "SpikedLinear":
            continue
        src = producers.get(n.inputs[0])
        if src is None or src.op_type != "SpikeEncode":
            raise IRError(f"node {n.name!r}: the input of a SpikedLinear must come from a "
                          f"SpikeEncode")
        out.append((n.name, n.block, n.op.d_in, n.op.d_out, src.op.D))
    return out


def build_mapping(graph: Graph, hw: HardwareSpec, *, rate: float = DEFAULT_RATE,
                  slack: float = 0.1) -> Mapping:
    """Tiles, packing, placement and hosts of a (shape-only or full) graph on `hw`."""
    layers = spiked_layers(graph)
    tiled = [LayerTiles(name, block, tile_projection(
        d_in, d_out, hw, spikes_per_input(rate, D, hw.spike_encoding), slack, D=D, name=name))
        for name, block, d_in, d_out, D in layers]
    bins = pack(tiled, hw)
    blocks = sorted({n.block for n in graph.nodes}, key=lambda b: (b is None, b))
    spi = spikes_per_input(rate, max((D for *_, D in layers), default=1), hw.spike_encoding)
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
        estimate[strategy] = estimate_traffic(lmaps, hosts, hw, rate, dense_transfers(graph))
    estimate["cores_used"] = len(bins)
    return Mapping(lmaps, hosts, rate, slack, estimate)


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
    for n in graph.nodes:
        if n.op_type == "SpikedLinear" and n.op.weight_bits:
            w = params[n.params["weight"]]
            if not w.T.flags.c_contiguous:
                params[n.params["weight"]] = np.ascontiguousarray(w.T).T
    return Graph(graph.nodes, params, graph.inputs, graph.outputs, dict(graph.metadata))
