"""The snncompile IR: a closed set of typed per-token ops (`ops`), the graph container
(`graph`), ONNX serialization (`serde`) and a stable text form (`printer`)."""

from snncompile.ir.graph import Graph, Node, block_of
from snncompile.ir.ops import OPS, Op, OpCounts, make_op, spike_sum_at_rate

__all__ = ["Graph", "Node", "block_of", "OPS", "Op", "OpCounts", "make_op", "spike_sum_at_rate"]
