"""The NumPy executor: the IR's shared walk with one float64 NumPy runner per op.

It computes what the reference interpreter computes (docs/architecture.md, "The ops"), on
the host, without torch: `NumpyExecutor(graph).run(tokens)` or `.generate(ids, n)`; `step`,
`init_state` and counting come from `snncompile.ir.interpreter.Interpreter`. The simulator
(`simulator.engine.Simulator`) is this executor with the spiking ops (SpikeEncode,
SpikedLinear) overridden by its counting Numba kernels.

Parameters: quantized (int8) weights and arrays above `BIG` elements (the (V, d) matrices of
Embedding and LMHead) stay in their stored dtype; every other parameter is cast to float64
once. The three hot dense ops run Numba kernels from `simulator.dense`, each with a NumPy
`_ref` twin: the LM head's `matvec_f64`, the convolution's `conv_step` and the scan's
`ssm_step` (states updated in place). A quantized SpikedLinear sums `Wq s` exactly in int64
and scales in float64, as the reference does.
"""

from __future__ import annotations

import numpy as np

from snncompile.errors import SimulationError
from snncompile.ir.graph import Graph
from snncompile.ir.interpreter import Interpreter
from snncompile.simulator.dense import conv_step, matvec_f64, ssm_step

BIG = 1 << 24  # params with more elements stay in their stored dtype (Embedding, LMHead)


def _silu(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):  # exp(-x) = inf for x << 0 gives x / inf = -0: exact
        return x / (1.0 + np.exp(-x))


class NumpyExecutor(Interpreter):
    """Run an IR graph token by token in NumPy float64 (module docstring)."""

    def __init__(self, graph: Graph) -> None:
        graph.verify()
        super().__init__(graph)
        cast: dict[str, np.ndarray] = {}
        self._params: dict[str, dict[str, np.ndarray]] = {}
        for n in graph.nodes:
            p: dict[str, np.ndarray] = {}
            for role, pname in n.params.items():
                arr = graph.params[pname]
                if arr.dtype == np.int8 or arr.size > BIG:
                    p[role] = arr
                else:
                    if pname not in cast:
                        cast[pname] = np.asarray(arr, np.float64)
                    p[role] = cast[pname]
            self._params[n.name] = p

    # -- value type --------------------------------------------------------------------------
    def zeros(self, shape):
        return np.zeros(shape, np.float64)

    def abs_sum(self, x: np.ndarray) -> int:
        return int(np.abs(x).sum())

    def all_finite(self, x: np.ndarray) -> bool:
        return bool(np.isfinite(x).all())

    def argmax(self, logits: np.ndarray) -> int:
        return int(np.argmax(logits))

    def p(self, node, role: str) -> np.ndarray:
        return self._params[node.name][role]

    # -- ops ---------------------------------------------------------------------------------
    def run_Embedding(self, n, ins, st):
        tok = int(ins[0])
        if not 0 <= tok < n.op.vocab:
            raise SimulationError(f"token id {tok} outside 0..{n.op.vocab - 1}")
        return [np.asarray(self.p(n, "weight")[tok], np.float64)]

    def run_RMSNorm(self, n, ins, st):
        x = ins[0]
        return [x * (1.0 / np.sqrt(np.mean(x * x) + n.op.eps)) * self.p(n, "weight")]

    def run_SpikeEncode(self, n, ins, st):
        op = n.op
        return [np.clip(np.rint(ins[0] / op.theta), op.lo, op.hi).astype(np.int64)]

    def run_SpikedLinear(self, n, ins, st):
        op, s = n.op, ins[0]
        if op.weight_bits == 0:
            return [op.input_scale * (self.p(n, "weight") @ s.astype(np.float64))]
        acc = self.p(n, "weight").astype(np.int64) @ s.astype(np.int64)
        self.keep(f"{n.name}.acc", acc)
        scale = op.input_scale * np.asarray(self.p(n, "weight_scale"), np.float64)
        return [scale * acc.astype(np.float64)]

    def run_Linear(self, n, ins, st):
        y = self.p(n, "weight") @ ins[0]
        if n.op.has_bias:
            y = y + self.p(n, "bias")
        return [y]

    def run_Split(self, n, ins, st):
        out, i = [], 0
        for s in n.op.sizes:
            out.append(ins[0][i:i + s])
            i += s
        return out

    def run_CausalConv1d(self, n, ins, st):
        op = n.op
        y = np.empty(op.C, np.float64)
        w = self.p(n, "weight")
        b = self.p(n, "bias") if op.has_bias else w[:, 0]
        conv_step(st["window"], np.ascontiguousarray(ins[0]), w, b, op.has_bias, y)
        return [y]

    def run_SiLU(self, n, ins, st):
        return [_silu(ins[0])]

    def run_Softplus(self, n, ins, st):
        z = ins[0] + self.p(n, "bias")
        return [np.where(z > 20.0, z, np.log1p(np.exp(np.minimum(z, 20.0))))]

    def run_SSMScan(self, n, ins, st):
        op = n.op
        x, dt, B, C = (np.ascontiguousarray(v) for v in ins)
        y = np.empty(op.H * op.P, np.float64)
        ssm_step(st["h"], x, dt, B, C, self.p(n, "A_log"), self.p(n, "D"), op.G, y)
        return [y]

    def run_Gate(self, n, ins, st):
        return [ins[0] * _silu(ins[1])]

    def run_GatedRMSNorm(self, n, ins, st):
        u = ins[0] * _silu(ins[1])
        g = u.reshape(-1, n.op.group_size)
        g = g * (1.0 / np.sqrt(np.mean(g * g, axis=1, keepdims=True) + n.op.eps))
        return [g.reshape(-1) * self.p(n, "weight")]

    def run_Add(self, n, ins, st):
        return [ins[0] + ins[1]]

    def run_LMHead(self, n, ins, st):
        W, x = self.p(n, "weight"), ins[0]
        if W.dtype == np.float64:
            return [W @ x]
        out = np.empty(W.shape[0], np.float64)
        matvec_f64(np.ascontiguousarray(W), np.ascontiguousarray(x), out)
        return [out]
