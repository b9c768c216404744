"""Small example graphs, at least one per op in `OPS` (plus a quantized SpikedLinear).

Used by the serialization round-trip test, the reference-semantics tests and backend
conformance suites: `example_graphs()` -> {name: Graph}; `covered_op_types()` says which ops
they exercise, so a test fails when an op is added to `OPS` without an example here.
Every graph starts from a token (vocab 16) and has deterministic weights (numpy seed 0).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from snncompile.ir import ops
from snncompile.ir.graph import Graph, Node

V = 16


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


class _G:
    """A tiny builder: token -> embedding (width d) -> ..."""

    def __init__(self, d: int, seed: int = 0, scale: float = 1.0) -> None:
        self.r = _rng(seed)
        self.nodes: list[Node] = []
        self.params: dict[str, np.ndarray] = {}
        self.params["emb"] = (self.r.standard_normal((V, d)) * scale).astype(np.float32)
        self.nodes.append(Node("embedding", ops.Embedding(vocab=V, d=d), ("token",),
                               ("embedding",), {"weight": "emb"}))

    def w(self, name: str, shape, dtype=np.float32, scale: float = 0.5) -> str:
        self.params[name] = (self.r.standard_normal(shape) * scale).astype(dtype)
        return name

    def add(self, name: str, op: ops.Op, inputs, outputs=None, **params) -> tuple[str, ...]:
        outs = tuple(outputs) if outputs else (name,)
        self.nodes.append(Node(name, op, tuple(inputs), outs, params))
        return outs

    def graph(self, outputs) -> Graph:
        g = Graph(self.nodes, self.params, ("token",), tuple(outputs),
                  {"example": True})
        g.verify()
        return g


def _embedding() -> Graph:
    return _G(8).graph(["embedding"])


def _rmsnorm() -> Graph:
    g = _G(8)
    (y,) = g.add("norm", ops.RMSNorm(d=8, eps=1e-5), ["embedding"], weight=g.w("nw", (8,)))
    return g.graph([y])


def _spike_encode() -> Graph:
    g = _G(8)
    (s,) = g.add("spike", ops.SpikeEncode(d=8, kind="silif", D=4, theta=0.3), ["embedding"])
    return g.graph([s])


def _spiked_linear() -> Graph:
    g = _G(8)
    (s,) = g.add("spike", ops.SpikeEncode(d=8, kind="ilif", D=3, theta=0.25), ["embedding"])
    (y,) = g.add("proj", ops.SpikedLinear(d_in=8, d_out=6, input_scale=0.25), [s],
                 weight=g.w("pw", (6, 8)))
    return g.graph([y])


def _spiked_linear_q8() -> Graph:
    g = _G(8)
    (s,) = g.add("spike", ops.SpikeEncode(d=8, kind="silif", D=4, theta=0.2), ["embedding"])
    g.params["qw"] = g.r.integers(-127, 128, (6, 8)).astype(np.int8)
    g.params["qs"] = (np.abs(g.r.standard_normal(6)) * 0.01 + 1e-3).astype(np.float32)
    (y,) = g.add("proj", ops.SpikedLinear(d_in=8, d_out=6, input_scale=0.2, weight_bits=8), [s],
                 weight="qw", weight_scale="qs")
    return g.graph([y])


def _linear() -> Graph:
    g = _G(8)
    (y,) = g.add("lin", ops.Linear(d_in=8, d_out=5, has_bias=True), ["embedding"],
                 weight=g.w("lw", (5, 8)), bias=g.w("lb", (5,)))
    return g.graph([y])


def _split() -> Graph:
    g = _G(8)
    a, b = g.add("split", ops.Split(sizes=(3, 5)), ["embedding"], ["a", "b"])
    return g.graph([a, b])


def _conv() -> Graph:
    g = _G(8)
    (y,) = g.add("conv", ops.CausalConv1d(C=8, K=3, has_bias=True), ["embedding"],
                 weight=g.w("cw", (8, 3)), bias=g.w("cb", (8,)))
    return g.graph([y])


def _silu() -> Graph:
    g = _G(8)
    (y,) = g.add("act", ops.SiLU(d=8), ["embedding"])
    return g.graph([y])


def _softplus() -> Graph:
    g = _G(8, scale=10.0)  # reaches the linear region above the threshold 20
    (y,) = g.add("sp", ops.Softplus(d=8), ["embedding"], bias=g.w("sb", (8,), scale=10.0))
    return g.graph([y])


def _ssm() -> Graph:
    H, P, N, G = 4, 2, 3, 2
    g = _G(H * P + H + 2 * G * N)
    x, dt, B, C = g.add("split", ops.Split(sizes=(H * P, H, G * N, G * N)), ["embedding"],
                        ["x", "dt_raw", "B", "C"])
    (dt,) = g.add("dt", ops.Softplus(d=H), [dt], bias=g.w("dtb", (H,)))
    g.params["A_log"] = np.log(g.r.uniform(1, 16, H)).astype(np.float32)
    (y,) = g.add("ssm", ops.SSMScan(H=H, P=P, N=N, G=G), [x, dt, B, C], A_log="A_log",
                 D=g.w("Dp", (H,)))
    return g.graph([y])


def _gate() -> Graph:
    g = _G(8)
    y, z = g.add("split", ops.Split(sizes=(4, 4)), ["embedding"], ["y", "z"])
    (o,) = g.add("gate", ops.Gate(d=4), [y, z])
    return g.graph([o])


def _gated_norm() -> Graph:
    g = _G(8)
    y, z = g.add("split", ops.Split(sizes=(4, 4)), ["embedding"], ["y", "z"])
    (o,) = g.add("gnorm", ops.GatedRMSNorm(d=4, group_size=2, eps=1e-5), [y, z],
                 weight=g.w("gw", (4,)))
    return g.graph([o])


def _add() -> Graph:
    g = _G(8)
    (n,) = g.add("norm", ops.RMSNorm(d=8, eps=1e-5), ["embedding"], weight=g.w("nw", (8,)))
    (c,) = g.add("res", ops.Add(d=8), [n, "embedding"])
    return g.graph([c])


def _lm_head() -> Graph:
    g = _G(8)
    (y,) = g.add("lm_head", ops.LMHead(vocab=V, d=8), ["embedding"], ["logits"], weight="emb")
    return g.graph([y])


EXAMPLES: dict[str, Callable[[], Graph]] = {
    "embedding": _embedding,
    "rmsnorm": _rmsnorm,
    "spike_encode": _spike_encode,
    "spiked_linear": _spiked_linear,
    "spiked_linear_q8": _spiked_linear_q8,
    "linear": _linear,
    "split": _split,
    "causal_conv1d": _conv,
    "silu": _silu,
    "softplus": _softplus,
    "ssm_scan": _ssm,
    "gate": _gate,
    "gated_rmsnorm": _gated_norm,
    "add": _add,
    "lm_head": _lm_head,
}


def example_graphs() -> dict[str, Graph]:
    """Fresh example graphs (verified), by name."""
    return {name: build() for name, build in EXAMPLES.items()}


def covered_op_types() -> set[str]:
    """The op types the examples use."""
    return {n.op_type for g in example_graphs().values() for n in g.nodes}
