"""The snncompile IR: a closed set of typed per-token ops (`ops`), their neuron facts
(`neurons`), the one counter record (`counts`), the graph container (`graph`), the shared
graph walk (`interpreter`), ONNX serialization (`serde`) and a stable text form (`printer`)."""

from snncompile.ir.counts import COUNT_KEYS, Counts, NodeCounts, RunCounts, sum_counts
from snncompile.ir.graph import Graph, Node, block_of
from snncompile.ir.ops import OPS, Op, make_op, spike_sum_at_rate

__all__ = ["COUNT_KEYS", "Counts", "Graph", "Node", "NodeCounts", "OPS", "Op", "RunCounts",
           "block_of", "make_op", "spike_sum_at_rate", "sum_counts"]
