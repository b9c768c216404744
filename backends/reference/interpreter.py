"""The reference interpreter: what every IR op means (PyTorch, float64 by default).

`ReferenceInterpreter(graph)` walks the nodes in order and dispatches each to
`run_<OpType>(node, inputs, params, state) -> outputs`; an error is re-raised naming the node.
Values are 1-D tensors for one token; spike values are int64 tensors of levels.
The same walk counts: per node the `OpCounts` of `docs/architecture.md` (SpikedLinear from
the measured spike sum of its input) and, for `SpikeEncode`, the spikes sum|s|, numel and D.

Device: CUDA when available and `device` is not given, else CPU. Parameters keep their stored
dtype on CPU (memory-mapped files stay mapped) and are cast to the compute dtype when used,
unless they fit `cache_bytes` once cast. On CUDA with a float32/16 compute dtype the SSM step
uses mamba_ssm's `selective_state_update` kernel when that package imports; it is never
imported on CPU. Quantized SpikedLinear sums `Wq s` exactly in integers (int64 on CPU; on CUDA
in float64, exact because every partial sum stays below 2^53), then scales in float64.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from snncompile.errors import IRError, SimulationError, SnnCompileError
from snncompile.ir.graph import Graph, Node
from snncompile.ir.ops import OpCounts

Tensor = torch.Tensor


@dataclass
class NodeCounters:
    """What one node did (summed over the tokens counted).

    spikes  sum |s| produced (SpikeEncode) ; input_spikes  sum |s| consumed (SpikedLinear)
    numel   spike-vector elements produced (neuron-token pairs); D micro-steps per token
    counts  OpCounts (SpikedLinear ACs from the measured input spikes)
    """

    name: str
    op_type: str
    counts: OpCounts = field(default_factory=OpCounts)
    spikes: int = 0
    input_spikes: int = 0
    numel: int = 0
    D: int = 0
    neuron_updates: int = 0

    @property
    def firing_rate(self) -> float:
        """fr = sum|s| / (numel * D), spikes per neuron per micro-step slot."""
        return self.spikes / (self.numel * self.D) if self.numel and self.D else 0.0

    def add(self, other: "NodeCounters") -> None:
        self.counts = self.counts + other.counts
        self.spikes += other.spikes
        self.input_spikes += other.input_spikes
        self.numel += other.numel
        self.neuron_updates += other.neuron_updates
        self.D = other.D or self.D

    def as_dict(self) -> dict[str, Any]:
        d = {"name": self.name, "op": self.op_type, **self.counts.as_dict(),
             "spikes": self.spikes, "input_spikes": self.input_spikes, "numel": self.numel,
             "D": self.D, "neuron_updates": self.neuron_updates,
             "firing_rate": self.firing_rate}
        return d


@dataclass
class Counters:
    """Per-node counters (node order) plus, optionally, every intermediate value."""

    nodes: dict[str, NodeCounters] = field(default_factory=dict)
    tokens: int = 0
    values: dict[str, Tensor] | None = None

    def add(self, other: "Counters") -> None:
        for name, c in other.nodes.items():
            if name in self.nodes:
                self.nodes[name].add(c)
            else:
                self.nodes[name] = dataclasses.replace(c)
        self.tokens += other.tokens

    def totals(self) -> NodeCounters:
        t = NodeCounters("total", "")
        for c in self.nodes.values():
            t.add(c)
        t.D = 0
        return t

    def spike_counts(self) -> dict[str, int]:
        """sum |s| per SpikeEncode node."""
        return {n: c.spikes for n, c in self.nodes.items() if c.op_type == "SpikeEncode"}

    def as_dict(self) -> dict[str, Any]:
        tot = self.totals()
        return {"tokens": self.tokens, "layers": [c.as_dict() for c in self.nodes.values()],
                "totals": {**tot.counts.as_dict(), "spikes": tot.spikes,
                           "neuron_updates": tot.neuron_updates}}


@dataclass
class GenerateResult:
    """Output of `generate`: the new token ids, all logits and counters over every step."""

    tokens: list[int]
    counters: Counters
    logits: list[Tensor]


def _default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class ReferenceInterpreter:
    """Run an IR graph token by token (module docstring)."""

    def __init__(self, graph: Graph, device: str | torch.device | None = None,
                 dtype: torch.dtype = torch.float64, cache_bytes: int = 2 << 30,
                 use_kernels: bool | None = None) -> None:
        graph.verify()
        if dtype not in (torch.float64, torch.float32, torch.float16, torch.bfloat16):
            raise IRError(f"ReferenceInterpreter: dtype must be a float type, got {dtype}")
        self.graph = graph
        self.device = torch.device(device) if device is not None else _default_device()
        self.dtype = dtype
        self._specs = graph.param_specs()
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
        cfg = graph.metadata.get("config") or {}
        self.vocab_size = int(cfg.get("vocab_size", 0)) or None
        self._runners = {}
        for n in graph.nodes:
            fn = getattr(self, f"run_{n.op_type}", None)
            if fn is None:
                raise IRError(f"node {n.name!r}: the reference interpreter has no run_{n.op_type}")
            self._runners[n.name] = fn

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
                from snncompile.errors import MissingDependencyError
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

    def init_state(self) -> dict[str, Tensor]:
        """Zero state of every stateful node: conv (C, K-1) inputs, ssm (H, P, N)."""
        state: dict[str, Tensor] = {}
        for n in self.graph.nodes:
            op = n.op
            if n.op_type == "CausalConv1d":
                state[n.name] = torch.zeros(op.C, op.K - 1, dtype=self.dtype, device=self.device)
            elif n.op_type == "SSMScan":
                state[n.name] = torch.zeros(op.H, op.P, op.N, dtype=self.dtype, device=self.device)
            elif op.stateful:
                raise IRError(f"node {n.name!r}: no state layout for stateful op {n.op_type}")
        return state

    # -- the walk ----------------------------------------------------------------------------
    def step(self, token: int, state: dict[str, Tensor], keep_values: bool = False
             ) -> tuple[Tensor, Counters]:
        """One token through the graph: returns (logits (V,), Counters); `state` advances.

        With `keep_values` the counters hold every value (and `<node>.acc`, the integer
        accumulator of quantized SpikedLinear nodes)."""
        if isinstance(token, Tensor):
            token = int(token.item())
        if isinstance(token, bool) or not isinstance(token, (int, np.integer)):
            raise SimulationError(f"token must be an int, got {type(token).__name__}")
        values: dict[str, Tensor] = {self.graph.inputs[0]: torch.tensor(int(token), dtype=torch.int64,
                                                                        device=self.device)}
        counters = Counters(tokens=1)
        self._acc: dict[str, Tensor] = {}
        for n in self.graph.nodes:
            ins = [values[v] for v in n.inputs]
            try:
                outs = self._runners[n.name](n, ins, n.params, state)
                counters.nodes[n.name] = self._count(n, ins, outs)
            except SnnCompileError as exc:
                raise type(exc)(f"node {n.name!r} ({n.op_type}): {exc}") from exc
            except Exception as exc:  # torch errors: name the node, keep the cause
                raise SimulationError(f"node {n.name!r} ({n.op_type}): "
                                      f"{type(exc).__name__}: {exc}") from exc
            values.update(zip(n.outputs, outs))
        if keep_values:
            counters.values = dict(values)
            counters.values.update({f"{k}.acc": v for k, v in self._acc.items()})
        return values[self.graph.outputs[0]], counters

    def _count(self, n: Node, ins: list[Tensor], outs: list[Tensor]) -> NodeCounters:
        c = NodeCounters(n.name, n.op_type)
        if n.op_type == "SpikeEncode":
            c.spikes = int(outs[0].abs().sum())
            c.numel = outs[0].numel()
            c.D = n.op.D
            c.neuron_updates = n.op.neuron_updates()
            c.counts = n.op.counts()
        elif n.op.in_kinds and n.op.in_kinds[0] == "spike":
            c.input_spikes = int(ins[0].abs().sum())
            c.counts = n.op.counts(c.input_spikes)
        else:
            c.counts = n.op.counts()
        return c

    def run(self, tokens: Sequence[int], state: dict[str, Tensor] | None = None
            ) -> tuple[list[Tensor], Counters, dict[str, Tensor]]:
        """Feed `tokens` one by one: (logits per token, summed counters, final state)."""
        state = self.init_state() if state is None else state
        total = Counters()
        out = []
        for t in tokens:
            logits, c = self.step(int(t), state)
            out.append(logits)
            total.add(c)
        return out, total, state

    def generate(self, prompt_ids: Sequence[int], max_new_tokens: int, temperature: float = 0.0,
                 seed: int | None = None) -> GenerateResult:
        """Greedy (temperature 0) or sampled decoding after the prompt; sampling is limited to
        the real vocabulary (config vocab_size) and seeded by `seed`."""
        if len(prompt_ids) == 0:
            raise SimulationError("generate: the prompt is empty")
        if max_new_tokens < 0 or not (math.isfinite(temperature) and temperature >= 0):
            raise SimulationError("generate: max_new_tokens and temperature must be >= 0 "
                                  f"(got {max_new_tokens}, {temperature})")
        gen = torch.Generator().manual_seed(seed if seed is not None else 0)
        logits_all, counters, state = self.run(prompt_ids)
        new: list[int] = []
        logits = logits_all[-1]
        for k in range(max_new_tokens):
            lg = logits[: self.vocab_size] if self.vocab_size else logits
            if temperature == 0:
                nxt = int(torch.argmax(lg))
            else:
                p = torch.softmax(lg.double().cpu() / temperature, dim=-1)
                nxt = int(torch.multinomial(p, 1, generator=gen))
            new.append(nxt)
            if k == max_new_tokens - 1:
                break
            logits, c = self.step(nxt, state)
            logits_all.append(logits)
            counters.add(c)
        return GenerateResult(new, counters, logits_all)

    # -- ops: run_<OpType>(node, inputs, params {role: name}, state) -> outputs ---------------
    def run_Embedding(self, n, ins, p, state):
        tok = int(ins[0])
        if not 0 <= tok < n.op.vocab:
            raise SimulationError(f"token id {tok} outside 0..{n.op.vocab - 1}")
        return [self._stored[p["weight"]][tok].to(self.device, self.dtype)]

    def run_RMSNorm(self, n, ins, p, state):
        x = ins[0]
        return [x * torch.rsqrt(x.pow(2).mean() + n.op.eps) * self.param(p["weight"])]

    def run_SpikeEncode(self, n, ins, p, state):
        s = torch.clamp(torch.round(ins[0] / n.op.theta), n.op.lo, n.op.hi)
        return [s.to(torch.int64)]

    def run_SpikedLinear(self, n, ins, p, state):
        op, s = n.op, ins[0]
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
        self._acc[n.name] = acc
        y = (op.input_scale * self.param(p["weight_scale"], torch.float64)) * acc.to(torch.float64)
        return [y.to(self.dtype)]

    def run_Linear(self, n, ins, p, state):
        y = self.param(p["weight"]) @ ins[0]
        if n.op.has_bias:
            y = y + self.param(p["bias"])
        return [y]

    def run_Split(self, n, ins, p, state):
        return list(torch.split(ins[0], list(n.op.sizes)))

    def run_CausalConv1d(self, n, ins, p, state):
        window = torch.cat([state[n.name], ins[0][:, None]], dim=1)             # (C, K)
        y = (window * self.param(p["weight"])).sum(-1)
        if n.op.has_bias:
            y = y + self.param(p["bias"])
        state[n.name] = window[:, 1:]
        return [y]

    def run_SiLU(self, n, ins, p, state):
        return [F.silu(ins[0])]

    def run_Softplus(self, n, ins, p, state):
        return [F.softplus(ins[0] + self.param(p["bias"]))]

    def run_SSMScan(self, n, ins, p, state):
        op = n.op
        x, dt, B, C = ins
        H, P, N, G = op.H, op.P, op.N, op.G
        x = x.reshape(H, P)
        Bh = B.reshape(G, N).repeat_interleave(H // G, dim=0)                   # (H, N)
        Ch = C.reshape(G, N).repeat_interleave(H // G, dim=0)                   # (H, N)
        A = -torch.exp(self.param(p["A_log"]))
        Dp = self.param(p["D"])
        if self._ssm_kernel is not None:  # in-place update of the (1, H, P, N) state view
            h = state[n.name][None]
            y = self._ssm_kernel(h, x[None], dt[:, None].expand(H, P)[None],
                                 A[:, None, None].expand(H, P, N), B.reshape(1, G, N),
                                 C.reshape(1, G, N), D=Dp[:, None].expand(H, P))
            return [y[0].reshape(H * P)]
        decay = torch.exp(dt * A)                                                # (H)
        h = decay[:, None, None] * state[n.name] + (dt[:, None] * x)[:, :, None] * Bh[:, None, :]
        y = torch.einsum("hpn,hn->hp", h, Ch) + Dp[:, None] * x
        state[n.name] = h
        return [y.reshape(H * P)]

    def run_Gate(self, n, ins, p, state):
        return [ins[0] * F.silu(ins[1])]

    def run_GatedRMSNorm(self, n, ins, p, state):
        u = ins[0] * F.silu(ins[1])
        g = u.reshape(-1, n.op.group_size)
        g = g * torch.rsqrt(g.pow(2).mean(-1, keepdim=True) + n.op.eps)
        return [g.reshape(-1) * self.param(p["weight"])]

    def run_Add(self, n, ins, p, state):
        return [ins[0] + ins[1]]

    def run_LMHead(self, n, ins, p, state):
        return [self.param(p["weight"]) @ ins[0]]
