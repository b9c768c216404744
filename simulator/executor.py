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
and scales in float64, as the reference does. The neuron ops of time-stepped networks (LIF,
IF, CubaLIF; equations in snncompile/ir/neuron_ops.py) run in float64, or in int64 for their
fixed-point form; `run_steps(x)` runs such a network over T steps.
"""

from __future__ import annotations

import numpy as np

from snncompile.errors import SimulationError
from snncompile.ir.graph import Graph
from snncompile.ir.interpreter import Interpreter
from snncompile.simulator.dense import conv_step, matvec_f64, ssm_step

BIG = 1 << 24  # params with more elements stay in their stored dtype (Embedding, LMHead)
SAT24 = (1 << 23) - 1  # the fixed-point neuron states' 24-bit saturation bound


def _decay(z: np.ndarray, d: int) -> np.ndarray:
    """sign(z) * ((|z| * (4096 - d)) >> 12): a 12-bit decay, rounding toward zero (int64)."""
    return np.sign(z) * ((np.abs(z) * (4096 - d)) >> 12)


def _q(z: np.ndarray, q: int) -> np.ndarray:
    """Q(z) = trunc(z * 2^q) / 2^q (q = 0: z)."""
    return z if q == 0 else np.trunc(z * 2.0 ** q) / 2.0 ** q


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

    # -- neurons of time-stepped networks (snncompile/ir/neuron_ops.py) -------------------------
    def run_LIF(self, n, ins, st):
        return self._neuron(n.op, ins[0], st)

    run_IF = run_LIF
    run_CubaLIF = run_LIF

    def _neuron(self, op, x, st):
        fixed, q = op.fixed_point, op.quant_bits
        if fixed:
            X = np.asarray(x, np.float64) * 2.0 ** q
            if not np.isfinite(X).all() or (X != np.trunc(X)).any() or np.abs(X).max() >= 2.0 ** 53:
                raise SimulationError(f"fixed point: input x * 2^{q} must be integer-valued "
                                      "(and below 2^53)")
            x = X.astype(np.int64)
        else:
            x = np.asarray(x, np.float64)
        if op.delay:
            xe = st["p"].astype(x.dtype)
            st["p"] = x.copy()
        else:
            xe = x
        if fixed:
            c = xe
            if op.decay_i is not None:
                c = np.clip(_decay(st["i"].astype(np.int64), op.decay_i) + xe, -SAT24, SAT24)
                st["i"] = c.copy()
            v = np.clip(_decay(st["v"].astype(np.int64), op.decay_v) + int(op.bias * 2 ** q) + c,
                        -SAT24, SAT24)
            theta = op.threshold * 2.0 ** q
        else:
            c = xe
            if op.decay_i is not None:
                c = _q((4096 - op.decay_i) / 4096 * st["i"], q) + xe
                st["i"] = c.copy()
            v = (_q((4096 - op.decay_v) / 4096 * st["v"], q) + op.bias) + c
            theta = op.threshold
        s = v > theta
        if op.refractory > 0:
            r = st["r"].astype(np.int64)
            held = r > 0
            r = np.where(held, r - 1, r)
            v = np.where(held, 0, v)
            s &= ~held
            st["r"] = np.where(s, op.refractory, r)
        if op.reset == "zero":
            v = np.where(s, 0, v)
        else:
            v = np.where(s, v - (int(theta) if fixed else theta), v)
        st["v"] = v.copy()
        out = v.astype(np.float64) / 2.0 ** q if fixed else v.copy()
        return [s.astype(np.int64), out]

    # -- ops of networks imported from NIR (snncompile/ir/nir_ops.py, docs/nir.md) ---------------
    def _euler(self, n, x, st):
        """The shared leak/integration step: v <- (alpha_v v + beta_v) + gain c."""
        c = np.asarray(x, np.float64)
        if n.op.current:
            c = self.p(n, "alpha_i") * st["i"] + self.p(n, "gain_i") * c
            st["i"] = c.copy()
        return (self.p(n, "alpha_v") * st["v"] + self.p(n, "beta_v")) + self.p(n, "gain") * c

    def run_EulerNeuron(self, n, ins, st):
        op = n.op
        v = self._euler(n, ins[0], st)
        theta = self.p(n, "threshold")
        if op.recurrent:
            v = v + (self.p(n, "w_rec") @ st["s"] + self.p(n, "b_rec"))
        if op.reset == "subtract_next":
            v = v - theta * st["s"]
        s = v > theta
        if op.reset == "value":
            v = np.where(s, self.p(n, "v_reset"), v)
        elif op.reset == "subtract":
            v = np.where(s, v - theta, v)
        if "s" in st:
            st["s"] = s.astype(np.float64)
        st["v"] = v.copy()
        return [s.astype(np.int64), v]

    def run_LeakyIntegrator(self, n, ins, st):
        v = self._euler(n, ins[0], st)
        st["v"] = v.copy()
        return [v]

    def run_Threshold(self, n, ins, st):
        return [(ins[0] > self.p(n, "threshold")).astype(np.int64)]

    def run_Scale(self, n, ins, st):
        return [self.p(n, "scale") * ins[0]]

    def run_Bias(self, n, ins, st):
        return [ins[0] + self.p(n, "bias")]
