"""The reference interpreter: what every IR op means (PyTorch, float64 by default).

`ReferenceInterpreter(graph)` is the IR's one walk (`snncompile.ir.interpreter.Interpreter`)
with a torch runner per op, `run_<OpType>(node, inputs, state) -> outputs` (`state`: the
node's own {state name: tensor}, as the op declares it); an error is re-raised naming the
node. Values are 1-D tensors for one token; spike values are int64 tensors of levels. The walk
counts: per node the `Counts` of the op's own accounting (projections at the measured spike
sum of their input; spikes and neuron updates for neurons), as a `RunCounts`.

Device: CUDA when available and `device` is not given, else CPU. Parameters keep their stored
dtype on CPU (memory-mapped files stay mapped) and are cast to the compute dtype when used,
unless they fit `cache_bytes` once cast. On CUDA with a float32/16 compute dtype the SSM step
uses mamba_ssm's `selective_state_update` kernel when that package imports; it is never
imported on CPU. Quantized SpikedLinear sums `Wq s` exactly in integers (int64 on CPU; on CUDA
in float64, exact because every partial sum stays below 2^53), then scales in float64.
The neuron ops of time-stepped networks (LIF, IF, CubaLIF: snncompile/ir/neuron_ops.py) run
in the compute dtype, or in int64 for their fixed-point form; `run_steps(x)` runs a network
over T steps (bit-exact with the NumPy executor in float64).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
import torch.nn.functional as F

from snncompile.errors import IRError, MissingDependencyError, SimulationError
from snncompile.ir.graph import Graph
from snncompile.ir.interpreter import GenerateResult, Interpreter

Tensor = torch.Tensor
SAT24 = (1 << 23) - 1  # the fixed-point neuron states' 24-bit saturation bound

__all__ = ["GenerateResult", "ReferenceInterpreter"]


def _default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class ReferenceInterpreter(Interpreter):
    """Run an IR graph token by token in PyTorch (module docstring)."""

    def __init__(self, graph: Graph, device: str | torch.device | None = None,
                 dtype: torch.dtype = torch.float64, cache_bytes: int = 2 << 30,
                 use_kernels: bool | None = None) -> None:
        graph.verify()
        if dtype not in (torch.float64, torch.float32, torch.float16, torch.bfloat16):
            raise IRError(f"ReferenceInterpreter: dtype must be a float type, got {dtype}")
        super().__init__(graph)
        self.device = torch.device(device) if device is not None else _default_device()
        self.dtype = dtype
        self._stored: dict[str, Tensor] = {}
        with warnings.catch_warnings():  # read-only memmaps: we never write to them
            warnings.simplefilter("ignore", UserWarning)
            for name, arr in graph.params.items():
                t = torch.from_numpy(np.asarray(arr))
                self._stored[name] = t.to(self.device) if self.device.type != "cpu" else t
        cast_bytes = sum(t.numel() * (8 if t.dtype == torch.int8 else
                                      torch.finfo(dtype).bits // 8)
                         for t in self._stored.values())
        self._cache: dict[tuple[str, torch.dtype], Tensor] | None = (
            {} if cast_bytes <= cache_bytes else None)
        self._ssm_kernel = self._load_kernel(use_kernels)
        self._gen: torch.Generator | None = None

    # -- setup -------------------------------------------------------------------------------
    def _load_kernel(self, use_kernels: bool | None):
        """mamba_ssm's selective_state_update, on CUDA only (never imported on CPU)."""
        if use_kernels is False or self.device.type != "cuda":
            return None
        if self.dtype == torch.float64:
            if use_kernels:
                raise IRError("mamba_ssm kernels do not run in float64; use dtype=torch.float32")
            return None
        try:
            from mamba_ssm.ops.triton.selective_state_update import selective_state_update
        except Exception:  # noqa: BLE001 - any import failure means: use the torch path
            if use_kernels:
                raise MissingDependencyError(
                    "use_kernels=True needs mamba_ssm with CUDA: pip install mamba-ssm") from None
            return None
        return selective_state_update

    def param(self, name: str, dtype: torch.dtype | None = None) -> Tensor:
        """Parameter `name` in `dtype` (default: the compute dtype)."""
        dtype = dtype or self.dtype
        if self._cache is not None and (name, dtype) in self._cache:
            return self._cache[(name, dtype)]
        t = self._stored[name].to(dtype)
        if self._cache is not None:
            self._cache[(name, dtype)] = t
        return t

    # -- value type --------------------------------------------------------------------------
    def zeros(self, shape):
        return torch.zeros(shape, dtype=self.dtype, device=self.device)

    def token_value(self, token: int) -> Tensor:
        return torch.tensor(int(token), dtype=torch.int64, device=self.device)

    def spike_value(self, counts: np.ndarray) -> Tensor:
        return torch.from_numpy(np.ascontiguousarray(counts, np.int64)).to(self.device)

    def to_numpy(self, x: Tensor) -> np.ndarray:
        return x.detach().cpu().numpy()

    def abs_sum(self, x: Tensor) -> int:
        return int(x.abs().sum())

    def all_finite(self, x: Tensor) -> bool:
        return bool(torch.isfinite(x).all())

    def argmax(self, logits: Tensor) -> int:
        return int(torch.argmax(logits))

    def pick(self, logits: Tensor, temperature: float, seed: int | None, k: int) -> int:
        """Greedy at temperature 0; else softmax sampling over the real vocabulary, seeded by
        `seed` once per `generate`."""
        if temperature == 0:
            return super().pick(logits, temperature, seed, k)
        if k == 0 or self._gen is None:
            self._gen = torch.Generator().manual_seed(seed if seed is not None else 0)
        lg = logits[: self.vocab_size] if self.vocab_size else logits
        lg = lg.double().cpu()
        # shifted so that the largest logit is 0: a tiny temperature then gives -inf (weight 0)
        # for the others instead of inf - inf = nan
        p = torch.softmax((lg - lg.max()) / temperature, dim=-1)
        return int(torch.multinomial(p, 1, generator=self._gen))

    # -- ops: run_<OpType>(node, inputs, state) -> outputs ------------------------------------
    def run_Embedding(self, n, ins, st):
        tok = int(ins[0])
        if not 0 <= tok < n.op.vocab:
            raise SimulationError(f"token id {tok} outside 0..{n.op.vocab - 1}")
        return [self._stored[n.params["weight"]][tok].to(self.device, self.dtype)]

    def run_RMSNorm(self, n, ins, st):
        x = ins[0]
        return [x * torch.rsqrt(x.pow(2).mean() + n.op.eps) * self.param(n.params["weight"])]

    def run_SpikeEncode(self, n, ins, st):
        s = torch.clamp(torch.round(ins[0] / n.op.theta), n.op.lo, n.op.hi)
        return [s.to(torch.int64)]

    def run_SpikedLinear(self, n, ins, st):
        op, s, p = n.op, ins[0], n.params
        if op.weight_bits == 0:
            return [op.input_scale * (self.param(p["weight"]) @ s.to(self.dtype))]
        if self.device.type == "cpu":
            acc = self.param(p["weight"], torch.int64) @ s
        else:  # no integer matmul on CUDA: float64 is exact below 2^53
            bound = (2 ** (op.weight_bits - 1) - 1) * int(s.abs().sum())
            if bound >= 2 ** 53:
                raise SimulationError(f"integer accumulation bound {bound} exceeds 2^53")
            acc = torch.round(self.param(p["weight"], torch.float64) @ s.to(torch.float64)
                              ).to(torch.int64)
        self.keep(f"{n.name}.acc", acc)
        y = (op.input_scale * self.param(p["weight_scale"], torch.float64)) * acc.to(torch.float64)
        return [y.to(self.dtype)]

    def run_Linear(self, n, ins, st):
        y = self.param(n.params["weight"]) @ ins[0]
        if n.op.has_bias:
            y = y + self.param(n.params["bias"])
        return [y]

    def run_Split(self, n, ins, st):
        return list(torch.split(ins[0], list(n.op.sizes)))

    def run_CausalConv1d(self, n, ins, st):
        window = torch.cat([st["window"], ins[0][:, None]], dim=1)              # (C, K)
        y = (window * self.param(n.params["weight"])).sum(-1)
        if n.op.has_bias:
            y = y + self.param(n.params["bias"])
        st["window"] = window[:, 1:]
        return [y]

    def run_SiLU(self, n, ins, st):
        return [F.silu(ins[0])]

    def run_Softplus(self, n, ins, st):
        return [F.softplus(ins[0] + self.param(n.params["bias"]))]

    def run_SSMScan(self, n, ins, st):
        op, p = n.op, n.params
        x, dt, B, C = ins
        H, P, N, G = op.H, op.P, op.N, op.G
        x = x.reshape(H, P)
        Bh = B.reshape(G, N).repeat_interleave(H // G, dim=0)                   # (H, N)
        Ch = C.reshape(G, N).repeat_interleave(H // G, dim=0)                   # (H, N)
        A = -torch.exp(self.param(p["A_log"]))
        Dp = self.param(p["D"])
        if self._ssm_kernel is not None:  # in-place update of the (1, H, P, N) state view
            h = st["h"][None]
            y = self._ssm_kernel(h, x[None], dt[:, None].expand(H, P)[None],
                                 A[:, None, None].expand(H, P, N), B.reshape(1, G, N),
                                 C.reshape(1, G, N), D=Dp[:, None].expand(H, P))
            return [y[0].reshape(H * P)]
        decay = torch.exp(dt * A)                                                # (H)
        h = decay[:, None, None] * st["h"] + (dt[:, None] * x)[:, :, None] * Bh[:, None, :]
        y = torch.einsum("hpn,hn->hp", h, Ch) + Dp[:, None] * x
        st["h"] = h
        return [y.reshape(H * P)]

    def run_Gate(self, n, ins, st):
        return [ins[0] * F.silu(ins[1])]

    def run_GatedRMSNorm(self, n, ins, st):
        u = ins[0] * F.silu(ins[1])
        g = u.reshape(-1, n.op.group_size)
        g = g * torch.rsqrt(g.pow(2).mean(-1, keepdim=True) + n.op.eps)
        return [g.reshape(-1) * self.param(n.params["weight"])]

    def run_Add(self, n, ins, st):
        return [ins[0] + ins[1]]

    def run_LMHead(self, n, ins, st):
        return [self.param(n.params["weight"]) @ ins[0]]

    # -- neurons of time-stepped networks (snncompile/ir/neuron_ops.py) -------------------------
    def run_LIF(self, n, ins, st):
        return self._neuron(n.op, ins[0], st)

    run_IF = run_LIF
    run_CubaLIF = run_LIF

    def _neuron(self, op, x, st):
        fixed, q = op.fixed_point, op.quant_bits
        scale = 2.0 ** q

        def Q(z):  # trunc(z * 2^q) / 2^q
            return z if q == 0 else torch.trunc(z * scale) / scale

        def decay(z, d):  # sign(z) * ((|z| * (4096 - d)) >> 12), int64
            return torch.sign(z) * ((z.abs() * (4096 - d)) >> 12)

        if fixed:
            X = x.to(torch.float64) * scale
            if not (torch.isfinite(X).all() and (X == torch.trunc(X)).all()
                    and X.abs().max() < 2.0 ** 53):
                raise SimulationError(f"fixed point: input x * 2^{q} must be integer-valued "
                                      "(and below 2^53)")
            x = X.to(torch.int64)
        else:
            x = x.to(self.dtype)
        if op.delay:
            xe = st["p"].to(x.dtype)
            st["p"] = x.clone()
        else:
            xe = x
        if fixed:
            c = xe
            if op.decay_i is not None:
                c = torch.clamp(decay(st["i"].to(torch.int64), op.decay_i) + xe, -SAT24, SAT24)
                st["i"] = c.clone()
            v = torch.clamp(decay(st["v"].to(torch.int64), op.decay_v) + int(op.bias * 2 ** q) + c,
                            -SAT24, SAT24)
            theta = op.threshold * scale
        else:
            c = xe
            if op.decay_i is not None:
                c = Q((4096 - op.decay_i) / 4096 * st["i"].to(self.dtype)) + xe
                st["i"] = c.clone()
            v = (Q((4096 - op.decay_v) / 4096 * st["v"].to(self.dtype)) + op.bias) + c
            theta = op.threshold
        s = v > theta
        if op.refractory > 0:
            r = st["r"].to(torch.int64)
            held = r > 0
            r = torch.where(held, r - 1, r)
            v = torch.where(held, torch.zeros_like(v), v)
            s = s & ~held
            st["r"] = torch.where(s, torch.full_like(r, op.refractory), r)
        if op.reset == "zero":
            v = torch.where(s, torch.zeros_like(v), v)
        else:
            v = torch.where(s, v - (int(theta) if fixed else theta), v)
        st["v"] = v.clone()
        out = v.to(torch.float64) / scale if fixed else v.clone()
        return [s.to(torch.int64), out.to(self.dtype)]

    # -- ops of networks imported from NIR (snncompile/ir/nir_ops.py, docs/nir.md) ---------------
    def _p(self, n, role: str) -> Tensor:
        return self.param(n.params[role])

    def _euler(self, n, x, st):
        """The shared leak/integration step: v <- (alpha_v v + beta_v) + gain c."""
        c = x.to(self.dtype)
        if n.op.current:
            c = self._p(n, "alpha_i") * st["i"].to(self.dtype) + self._p(n, "gain_i") * c
            st["i"] = c.clone()
        return ((self._p(n, "alpha_v") * st["v"].to(self.dtype) + self._p(n, "beta_v"))
                + self._p(n, "gain") * c)

    def run_EulerNeuron(self, n, ins, st):
        op = n.op
        v = self._euler(n, ins[0], st)
        theta = self._p(n, "threshold")
        if op.recurrent:
            v = v + (self._p(n, "w_rec") @ st["s"].to(self.dtype) + self._p(n, "b_rec"))
        if op.reset == "subtract_next":
            v = v - theta * st["s"].to(self.dtype)
        s = v > theta
        if op.reset == "value":
            v = torch.where(s, self._p(n, "v_reset"), v)
        elif op.reset == "subtract":
            v = torch.where(s, v - theta, v)
        if "s" in st:
            st["s"] = s.to(self.dtype)
        st["v"] = v.clone()
        return [s.to(torch.int64), v]

    def run_LeakyIntegrator(self, n, ins, st):
        v = self._euler(n, ins[0], st)
        st["v"] = v.clone()
        return [v]

    def run_Threshold(self, n, ins, st):
        return [(ins[0].to(self.dtype) > self._p(n, "threshold")).to(torch.int64)]

    def run_Scale(self, n, ins, st):
        return [self._p(n, "scale") * ins[0].to(self.dtype)]

    def run_Bias(self, n, ins, st):
        return [ins[0].to(self.dtype) + self._p(n, "bias")]

    # -- convolution and pooling on the flat vector (snncompile/ir/conv_ops.py) -----------------
    def _conv(self, n, ins, conv):
        op = n.op
        x = ins[0].to(self.dtype).reshape(1, *op.input_shape)
        bias = self._p(n, "bias") if op.has_bias else None
        y = conv(x, self._p(n, "weight"), bias, stride=op.stride, padding=op.padding,
                 dilation=op.dilation, groups=op.groups)
        return [y.reshape(-1)]

    def run_Conv1d(self, n, ins, st):
        return self._conv(n, ins, F.conv1d)

    def run_Conv2d(self, n, ins, st):
        return self._conv(n, ins, F.conv2d)

    def run_SumPool2d(self, n, ins, st):
        op = n.op
        c = op.input_shape[0]
        x = ins[0].to(self.dtype).reshape(1, *op.input_shape)
        ones = torch.ones((c, 1, *op.kernel), dtype=self.dtype, device=self.device)
        return [F.conv2d(x, ones, stride=op.stride, padding=op.padding, groups=c).reshape(-1)]
