"""Example graphs of the NIR ops (snncompile/ir/nir_ops.py), in the form of
`snncompile.ir.examples`: token -> embedding (width 6) -> the op, deterministic parameters.
`snncompile.ir.examples.EXAMPLES` includes them, so that every op in `OPS` has an example."""

from __future__ import annotations

from typing import Callable

import numpy as np

from snncompile.ir import nir_ops, ops
from snncompile.ir.graph import Graph, Node

V, D = 16, 6


def _graph(name: str, op: ops.Op, params: dict[str, np.ndarray], outputs: tuple[str, ...]
           ) -> Graph:
    r = np.random.default_rng(1)
    all_params = {"emb": (r.standard_normal((V, D)) * 0.8).astype(np.float32)}
    roles = {}
    for role, arr in params.items():
        all_params[f"{name}.{role}"] = np.asarray(arr, np.float64)
        roles[role] = f"{name}.{role}"
    nodes = [Node("embedding", ops.Embedding(vocab=V, d=D), ("token",), ("embedding",),
                  {"weight": "emb"}),
             Node(name, op, ("embedding",), outputs, roles)]
    g = Graph(nodes, all_params, ("token",), outputs, {"example": True})
    g.verify()
    return g


def _full(x: float) -> np.ndarray:
    return np.full(D, x)


def _euler_neuron() -> Graph:
    lin = np.linspace(0.5, 1.0, D)
    w_rec = np.random.default_rng(2).standard_normal((D, D)) * 0.3
    return _graph("neuron", nir_ops.EulerNeuron(d=D, current=True, recurrent=True,
                                                reset="subtract_next"),
                  {"alpha_v": lin, "beta_v": _full(0.01), "gain": _full(1.0),
                   "alpha_i": _full(0.5), "gain_i": lin, "threshold": _full(0.7),
                   "w_rec": w_rec, "b_rec": _full(-0.05)}, ("s", "v"))


def _euler_neuron_reset() -> Graph:
    return _graph("neuron", nir_ops.EulerNeuron(d=D), {
        "alpha_v": _full(0.9), "beta_v": _full(0.0), "gain": _full(1.0),
        "threshold": np.linspace(0.2, 0.9, D), "v_reset": _full(-0.1)}, ("s", "v"))


def _leaky_integrator() -> Graph:
    return _graph("li", nir_ops.LeakyIntegrator(d=D), {
        "alpha_v": _full(0.75), "beta_v": _full(0.0), "gain": _full(0.25)}, ("v",))


def _threshold() -> Graph:
    return _graph("threshold", nir_ops.Threshold(d=D), {"threshold": _full(0.1)}, ("s",))


def _scale() -> Graph:
    return _graph("scale", nir_ops.Scale(d=D), {"scale": np.linspace(-1, 2, D)}, ("y",))


def _bias() -> Graph:
    return _graph("bias", nir_ops.Bias(d=D), {"bias": np.linspace(-1, 2, D)}, ("y",))


NIR_EXAMPLES: dict[str, Callable[[], Graph]] = {
    "euler_neuron": _euler_neuron,
    "euler_neuron_reset": _euler_neuron_reset,
    "leaky_integrator": _leaky_integrator,
    "threshold": _threshold,
    "scale": _scale,
    "bias": _bias,
}
