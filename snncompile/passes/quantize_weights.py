"""Pass: quantize SpikedLinear weights to b-bit integers (symmetric, per output channel).

For each float SpikedLinear (weight_bits = 0) with W (d_out, d_in), q_max = 2^(b-1) - 1:

    weight_scale_o = max_j |W_oj| / q_max          (float32; 1.0 for an all-zero row)
    Wq_oj          = clip(round_half_even(W_oj / weight_scale_o), -q_max, q_max)   (int8)

and the op becomes the IR's quantized form (weight_bits = b; params weight -> Wq int8,
weight_scale -> the scales): y_o = input_scale * weight_scale_o * sum_j Wq_oj s_j, whose sum is
exact in integers. The scale stored is the one used to round (float32, then widened), so
dequantizing reproduces W to within scale/2 per element. Already-quantized layers are left
alone; `run` never changes its input graph (it returns a new one).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from snncompile.errors import IRError
from snncompile.ir.graph import Graph, Node
from snncompile.ir.ops import SpikedLinear
from snncompile.passes.base import PassResult

name = "quantize_weights"
_CHUNK = 1024  # rows per step, bounds the float64 temporaries


def _check_bits(bits: int) -> None:
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 2 <= bits <= 8:
        raise IRError(f"quantize_weights: bits must be an int in 2..8, got {bits!r}")


def quantize_matrix(W: np.ndarray, bits: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """(Wq int8 (d_out, d_in), weight_scale float32 (d_out,)) of a float matrix."""
    _check_bits(bits)
    W = np.asarray(W)
    if W.ndim != 2:
        raise IRError(f"quantize_weights: weight must be 2-D, got shape {W.shape}")
    qmax = (1 << (bits - 1)) - 1
    d_out = W.shape[0]
    Wq = np.empty(W.shape, np.int8)
    scale = np.empty(d_out, np.float32)
    for o0 in range(0, d_out, _CHUNK):
        blk = np.asarray(W[o0:o0 + _CHUNK], np.float64)
        if not np.isfinite(blk).all():
            raise IRError(f"quantize_weights: non-finite weight in rows {o0}..{o0 + len(blk) - 1}")
        m = np.abs(blk).max(axis=1) if blk.shape[1] else np.zeros(len(blk))
        sc = np.where(m > 0, m / qmax, 1.0).astype(np.float32)
        scale[o0:o0 + len(blk)] = sc
        q = np.rint(blk / sc.astype(np.float64)[:, None])
        Wq[o0:o0 + len(blk)] = np.clip(q, -qmax, qmax).astype(np.int8)
    return Wq, scale


def dequantize(Wq: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """float64 weight_scale[:, None] * Wq."""
    return np.asarray(scale, np.float64)[:, None] * np.asarray(Wq, np.float64)


def _float_spiked(node: Node) -> bool:
    """The pass's pattern: a SpikedLinear whose weights are still float."""
    return isinstance(node.op, SpikedLinear) and node.op.weight_bits == 0


def run(graph: Graph, bits: int = 8) -> PassResult:
    """Quantize every float SpikedLinear of `graph` to `bits` bits (module docstring)."""
    _check_bits(bits)
    users: dict[str, list[Node]] = {}
    for n in graph.nodes:
        for p in n.params.values():
            users.setdefault(p, []).append(n)
    params = dict(graph.params)
    nodes: list[Node] = []
    done: dict[str, tuple[str, str]] = {}
    modified = False
    for n in graph.nodes:
        op = n.op
        if not _float_spiked(n):
            nodes.append(n)
            continue
        wname = n.params["weight"]
        if wname not in done:
            if wname not in graph.params:
                raise IRError(f"node {n.name!r}: quantize_weights needs parameter {wname!r}")
            Wq, scale = quantize_matrix(graph.params[wname], bits)
            shared = any(u is not n and not _float_spiked(u) for u in users[wname])
            qname = f"{wname}.q{bits}" if shared else wname
            base = wname[: -len(".weight")] if wname.endswith(".weight") else wname
            sname = f"{base}.weight_scale"
            if sname in params or (shared and qname in params):
                raise IRError(f"node {n.name!r}: quantize_weights would overwrite parameter "
                              f"{sname if sname in params else qname!r}")
            if not shared:
                del params[wname]
            params[qname] = Wq
            params[sname] = scale
            done[wname] = (qname, sname)
        qname, sname = done[wname]
        nodes.append(Node(n.name, dataclasses.replace(op, weight_bits=bits), n.inputs, n.outputs,
                          {"weight": qname, "weight_scale": sname}))
        modified = True
    if not modified:
        return PassResult(graph, False)
    out = Graph(nodes, params, graph.inputs, graph.outputs, dict(graph.metadata))
    return PassResult(out, True)


@dataclasses.dataclass(frozen=True)
class QuantizeWeights:
    """The pass as an object with its bit width (for pipelines): QuantizeWeights(bits).run."""

    bits: int = 8
    name: str = "quantize_weights"

    def run(self, graph: Graph) -> PassResult:
        return run(graph, self.bits)
