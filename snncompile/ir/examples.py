"""Small example graphs, at least one per op in `OPS` (plus a quantized SpikedLinear).

Used by the serialization round-trip test, the reference-semantics tests and backend
conformance suites: `example_graphs()` -> {name: Graph}; `covered_op_types()` says which ops
they exercise, so a test fails when an op is added to `OPS` without an example here.
Every graph starts from a token (vocab 16) and has deterministic weights (numpy seed 0).
The neuron ops (LIF, IF, CubaLIF) appear here driven by the embedding, one token per step;
`lif_network(weights, neuron)` builds a time-stepped spiking network (a spike-vector input).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np

from snncompile.errors import IRError
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


def _neuron(op: ops.Op) -> Callable[[], Graph]:
    def build() -> Graph:
        g = _G(op.d, scale=0.8)
        s, v = g.add("neuron", op, ["embedding"], ["s", "v"])
        return g.graph([s, v])
    return build


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
    "lif": _neuron(ops.LIF(d=8, threshold=0.5, dv=700, refractory=1, quant_bits=6, delay=1)),
    "if_subtract": _neuron(ops.IF(d=8, threshold=0.75, reset="subtract", bias=0.125)),
    "cubalif": _neuron(ops.CubaLIF(d=8, threshold=0.6, du=1024, dv=300, quant_bits=8)),
}
# the ops of networks imported from NIR (snncompile/ir/nir_ops.py)
from snncompile.ir.nir_examples import NIR_EXAMPLES  # noqa: E402

EXAMPLES.update(NIR_EXAMPLES)
from snncompile.ir.conv_examples import CONV_EXAMPLES  # noqa: E402

EXAMPLES.update(CONV_EXAMPLES)


def example_graphs() -> dict[str, Graph]:
    """Fresh example graphs (verified), by name."""
    return {name: build() for name, build in EXAMPLES.items()}


def covered_op_types() -> set[str]:
    """The op types the examples use."""
    return {n.op_type for g in example_graphs().values() for n in g.nodes}


# -- time-stepped networks ---------------------------------------------------------------------
_NEURON_KINDS = {"lif": "LIF", "if": "IF", "cubalif": "CubaLIF"}
_NEURON_DEFAULTS = {"reset": "zero", "refractory": 0, "bias": 0.0, "quant_bits": 6, "delay": 1,
                    "fixed_point": False}
_OUTPUTS = {"spikes": ("s",), "v": ("v",), "both": ("s", "v")}


def _neuron_op(spec: Mapping[str, Any], d: int, layer: int) -> ops.Op:
    """The neuron op of one layer from its dict (kind + the op's attributes but d)."""
    where = f"lif_network: layer {layer} neuron"
    if not isinstance(spec, Mapping):
        raise IRError(f"{where} must be a dict, got {type(spec).__name__}")
    kind = spec.get("kind")
    if kind not in _NEURON_KINDS:
        raise IRError(f"{where}.kind must be one of {sorted(_NEURON_KINDS)}, got {kind!r}")
    attrs = {**_NEURON_DEFAULTS, **{k: v for k, v in spec.items() if k != "kind"}, "d": d}
    if isinstance(attrs["bias"], int) and not isinstance(attrs["bias"], bool):
        attrs["bias"] = float(attrs["bias"])
    try:
        return ops.make_op(_NEURON_KINDS[kind], attrs)
    except IRError as exc:
        raise IRError(f"{where}: {exc}") from None


def lif_network(weights: Sequence[np.ndarray], neuron: Mapping[str, Any] | Sequence[Mapping],
                output: str = "spikes", source: str = "snncompile",
                dt: float | None = None) -> Graph:
    """A time-stepped spiking network: input "spikes" (n_in,) -> per layer i a synapse
    "layers.{i}.synapse" (SpikedLinear: int8 weights (d_out, d_in) with weight_bits 8,
    weight_scale ones and input_scale 1, so currents are integers; float weights give
    weight_bits 0) and a neuron "layers.{i}.neuron" (LIF / IF / CubaLIF from `neuron`, one
    dict for every layer or a list of one per layer: kind "lif" | "if" | "cubalif", the op's
    attributes; defaults reset "zero", refractory 0, bias 0.0, quant_bits 6, delay 1,
    fixed_point False). Outputs: the last layer's spikes "layers.{L-1}.s", potential
    "layers.{L-1}.v" or both (`output`). metadata {"network": {"inputs", "dt", "source"}}."""
    if not weights:
        raise IRError("lif_network: weights is empty (one matrix per layer)")
    if output not in _OUTPUTS:
        raise IRError(f"lif_network: output must be one of {sorted(_OUTPUTS)}, got {output!r}")
    specs = [neuron] * len(weights) if isinstance(neuron, Mapping) else list(neuron)
    if len(specs) != len(weights):
        raise IRError(f"lif_network: {len(specs)} neuron dicts for {len(weights)} layers")
    nodes: list[Node] = []
    params: dict[str, np.ndarray] = {}
    prev = "spikes"
    n_in = None
    for i, W in enumerate(weights):
        W = np.asarray(W)
        if W.ndim != 2 or W.dtype.name not in ("int8", "float32", "float64"):
            raise IRError(f"lif_network: weights[{i}] must be a 2-D int8 (or float) array, "
                          f"got shape {W.shape} dtype {W.dtype}")
        d_out, d_in = W.shape
        if n_in is None:
            n_in = d_in
        elif d_in != nodes[-1].op.d:
            raise IRError(f"lif_network: weights[{i}] has {d_in} columns, layer {i - 1} "
                          f"has {nodes[-1].op.d} neurons")
        q8 = W.dtype == np.int8
        params[f"layers.{i}.weight"] = W.copy()
        syn = {"weight": f"layers.{i}.weight"}
        if q8:
            params[f"layers.{i}.weight_scale"] = np.ones(d_out, np.float32)
            syn["weight_scale"] = f"layers.{i}.weight_scale"
        nodes.append(Node(f"layers.{i}.synapse",
                          ops.SpikedLinear(d_in=d_in, d_out=d_out, input_scale=1.0,
                                           weight_bits=8 if q8 else 0),
                          (prev,), (f"layers.{i}.x",), syn))
        nodes.append(Node(f"layers.{i}.neuron", _neuron_op(specs[i], d_out, i),
                          (f"layers.{i}.x",), (f"layers.{i}.s", f"layers.{i}.v")))
        prev = f"layers.{i}.s"
    last = len(weights) - 1
    g = Graph(nodes, params, ("spikes",), tuple(f"layers.{last}.{v}" for v in _OUTPUTS[output]),
              {"network": {"inputs": int(n_in), "dt": dt, "source": source}})
    g.verify()
    return g
