"""The closed op vocabulary of the snncompile IR (per-token semantics, batch 1).

Every op is a frozen dataclass whose fields are its attributes, named after the symbols of
its equation. Class attributes say how it plugs into a graph:

  op_type     the ONNX op name in the custom domain `ai.snncompile`
  n_inputs    number of input values
  n_outputs   number of output values (`None`: variadic, see `output_count()`)
  stateful    True when the op carries state across tokens (the interpreter owns it)
  in_kinds / out_kinds   kind of each value: "token" (int64 scalar id), "spike" (integer
              levels), "float" (real vector)

Methods: `verify()` raises `IRError` naming the field; `param_shapes()` gives
{role: (shape, allowed dtypes)}; `infer(input_shapes)` returns the output shapes;
`counts(spike_sum=None)` returns the per-token `Counts` of docs/architecture.md
("Per-op accounting"). `OPS` is the one registry; a graph never needs an isinstance ladder.

Facts every op declares, so that no code outside the IR tests an op's type name:

  state_shapes()    {state name: shape} carried across tokens (stateful ops; verify() fails
                    for a stateful op that declares none, or a stateless one that declares any)
  state_elements()  elements of that state, read and written once per step
  param_reads()     {role: elements read per step} by a dense executor (Embedding: one row)
  dense_work()      operations a dense unit performs per step (macs + acs; a row copy for
                    Embedding, nothing for Split)
  spike_inputs()    indices of the inputs that carry spike levels; `emits_spikes` when an
                    output does (a neuron)
  neuron_updates()  neuron state updates per step (neurons)
  readout           True for the op that maps the last hidden state to logits (LMHead)

Glossary: d width, V vocabulary (padded), C conv channels, K conv kernel, H heads,
P head dim, N state size, G groups, D maximum spike level, theta spike threshold/scale.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import typing
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar, Mapping

from snncompile.errors import IRError
from snncompile.ir.counts import Counts
from snncompile.ir.neurons import MAX_SPIKE_LEVEL, NEURON_KINDS, level_range

Shape = tuple[int, ...]
FLOAT_DTYPES = ("float32", "float64", "float16")
INT8 = ("int8",)


@functools.cache
def _attribute_types(cls: type) -> Mapping[str, Any]:
    hints = typing.get_type_hints(cls)
    return MappingProxyType({f.name: hints[f.name] for f in dataclasses.fields(cls)})


def spike_sum_at_rate(d_in: int, D: int, rate: float) -> float:
    """Expected sum_j |s_j| of a d_in-wide spike vector at firing rate `rate` per micro-step
    slot (fr = sum|s| / (d_in * D), spec section 2)."""
    return rate * d_in * D


@dataclass(frozen=True)
class Op:
    """Base of every op; subclasses are frozen dataclasses registered in `OPS`."""

    op_type: ClassVar[str] = ""
    n_inputs: ClassVar[int] = 1
    n_outputs: ClassVar[int | None] = 1
    stateful: ClassVar[bool] = False
    in_kinds: ClassVar[tuple[str, ...]] = ("float",)
    out_kinds: ClassVar[tuple[str, ...]] = ("float",)

    # -- introspection ---------------------------------------------------------------------
    def attributes(self) -> dict[str, Any]:
        """The op's attributes as a plain dict (field order)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def attribute_types(cls) -> Mapping[str, Any]:
        """Field name -> Python type (int, float, str, bool or tuple[int, ...]); read-only,
        resolved once per class (`typing.get_type_hints` is slow)."""
        return _attribute_types(cls)

    def output_count(self) -> int:
        return int(self.n_outputs)  # type: ignore[arg-type]

    def output_kinds(self) -> tuple[str, ...]:
        return self.out_kinds

    # -- contract (overridden) -------------------------------------------------------------
    def verify(self) -> None:
        """Check every attribute; raise IRError naming the field (subclasses add their own
        checks after this one)."""
        self._verify_attributes()

    def verify_state(self) -> None:
        """Check the op's state declaration against `stateful` (after `verify`)."""
        declared = self.state_shapes()
        if self.stateful and not declared:
            raise IRError(f"{self.op_type} is stateful but declares no state (state_shapes)")
        if declared and not self.stateful:
            raise IRError(f"{self.op_type} declares state {sorted(declared)} but is not stateful")
        for sname, shape in declared.items():
            if not all(isinstance(x, int) and x >= 0 for x in shape):
                raise IRError(f"{self.op_type}: state {sname!r} has an invalid shape {shape!r}")

    def _verify_attributes(self) -> None:
        for name, typ in self.attribute_types().items():
            v = getattr(self, name)
            if typ is int:
                if isinstance(v, bool) or not isinstance(v, int):
                    raise IRError(f"{self.op_type}.{name} must be an int, got {v!r}")
            elif typ is float:
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                    raise IRError(f"{self.op_type}.{name} must be a finite float, got {v!r}")
            elif typ is bool:
                if not isinstance(v, bool):
                    raise IRError(f"{self.op_type}.{name} must be a bool, got {v!r}")
            elif typ is str:
                if not isinstance(v, str):
                    raise IRError(f"{self.op_type}.{name} must be a str, got {v!r}")
            else:  # tuple[int, ...]
                if not isinstance(v, tuple) or not all(
                        isinstance(x, int) and not isinstance(x, bool) for x in v):
                    raise IRError(f"{self.op_type}.{name} must be a tuple of ints, got {v!r}")

    def param_shapes(self) -> dict[str, tuple[Shape, tuple[str, ...]]]:
        return {}

    def infer(self, input_shapes: list[Shape]) -> list[Shape]:
        raise NotImplementedError

    def counts(self, spike_sum: int | float | None = None) -> Counts:
        return Counts()

    # -- facts (overridden where they differ) ----------------------------------------------
    readout: ClassVar[bool] = False

    def state_shapes(self) -> dict[str, Shape]:
        """{state name: shape} of the state this op carries across steps ({}: none)."""
        return {}

    def state_elements(self) -> int:
        return sum(math.prod(s) for s in self.state_shapes().values())

    def param_reads(self) -> dict[str, int]:
        """{role: elements read per step} by a dense executor (every element by default)."""
        return {role: math.prod(shape) for role, (shape, _dt) in self.param_shapes().items()}

    def dense_work(self) -> int | float:
        """Operations a dense unit performs per step (macs + acs of `counts`)."""
        c = self.counts()
        return c.macs + c.acs

    def spike_inputs(self) -> tuple[int, ...]:
        """Indices of the inputs that carry integer spike levels."""
        return tuple(i for i, k in enumerate(self.in_kinds) if k == "spike")

    @property
    def emits_spikes(self) -> bool:
        """True for a neuron: an op whose output carries spike levels."""
        return "spike" in self.output_kinds()

    def neuron_updates(self) -> int:
        """Neuron state updates per step (0 for an op that is not a neuron)."""
        return 0

    # -- helpers ---------------------------------------------------------------------------
    def _positive(self, *names: str) -> None:
        for name in names:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise IRError(f"{self.op_type}.{name} must be a positive int, got {v!r}")

    def _check_inputs(self, input_shapes: list[Shape], expected: list[Shape]) -> None:
        if len(input_shapes) != len(expected):
            raise IRError(f"{self.op_type} takes {len(expected)} inputs, got {len(input_shapes)}")
        for i, (got, want) in enumerate(zip(input_shapes, expected)):
            if tuple(got) != tuple(want):
                raise IRError(
                    f"{self.op_type} input {i} has shape {tuple(got)}, expected {tuple(want)}")


def _vector_op(cls):
    """Decorator for elementwise ops on one d-wide vector."""
    def verify(self) -> None:
        Op.verify(self)
        self._positive("d")

    def infer(self, input_shapes):
        self._check_inputs(input_shapes, [(self.d,)] * self.n_inputs)
        return [(self.d,)]

    cls.verify = verify
    cls.infer = infer
    return cls


# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Embedding(Op):
    """x = weight[token]; weight (V, d)."""

    op_type: ClassVar[str] = "Embedding"
    in_kinds: ClassVar[tuple[str, ...]] = ("token",)
    vocab: int
    d: int

    def verify(self) -> None:
        super().verify()
        self._positive("vocab", "d")

    def param_shapes(self):
        return {"weight": ((self.vocab, self.d), FLOAT_DTYPES)}

    def param_reads(self):
        return {"weight": self.d}  # one row

    def dense_work(self):
        return self.d  # a row copy

    def infer(self, input_shapes):
        self._check_inputs(input_shapes, [()])
        return [(self.d,)]


@dataclass(frozen=True)
class RMSNorm(Op):
    """y = x / sqrt(mean(x^2) + eps) * weight."""

    op_type: ClassVar[str] = "RMSNorm"
    d: int
    eps: float

    def verify(self) -> None:
        super().verify()
        self._positive("d")
        if not self.eps > 0:
            raise IRError(f"RMSNorm.eps must be positive, got {self.eps!r}")

    def param_shapes(self):
        return {"weight": ((self.d,), FLOAT_DTYPES)}

    def infer(self, input_shapes):
        self._check_inputs(input_shapes, [(self.d,)])
        return [(self.d,)]

    def counts(self, spike_sum=None):
        return Counts(macs=2 * self.d, dense_macs=2 * self.d)


@dataclass(frozen=True)
class SpikeEncode(Op):
    """s = clip(round_half_even(x / theta), lo, hi): integer spike levels.

    kind 'lif' -> [0, 1]; 'ilif' -> [0, D]; 'silif' -> [-D, D]. In the spike-driven form each
    level |s| is |s| binary spikes over D micro-steps (neuron updates: d*D per token).
    """

    op_type: ClassVar[str] = "SpikeEncode"
    out_kinds: ClassVar[tuple[str, ...]] = ("spike",)
    d: int
    kind: str
    D: int
    theta: float

    def verify(self) -> None:
        super().verify()
        self._positive("d", "D")
        if self.kind not in NEURON_KINDS:
            raise IRError(f"SpikeEncode.kind must be one of {NEURON_KINDS}, got {self.kind!r}")
        if self.kind == "lif" and self.D != 1:
            raise IRError(f"SpikeEncode.D must be 1 for kind 'lif', got {self.D}")
        if self.D > MAX_SPIKE_LEVEL:
            raise IRError(f"SpikeEncode.D must be at most {MAX_SPIKE_LEVEL}, got {self.D}")
        if not self.theta > 0:
            raise IRError(f"SpikeEncode.theta must be positive, got {self.theta!r}")

    @property
    def lo(self) -> int:
        return level_range(self.kind, self.D)[0]

    @property
    def hi(self) -> int:
        return level_range(self.kind, self.D)[1]

    def infer(self, input_shapes):
        self._check_inputs(input_shapes, [(self.d,)])
        return [(self.d,)]

    def neuron_updates(self) -> int:
        """Neuron state updates per token in the D-micro-step form."""
        return self.d * self.D

    def dense_work(self):
        return self.d  # one quantizing division per element


@dataclass(frozen=True)
class SpikedLinear(Op):
    """y = input_scale * W s, s integer spike levels (d_in,).

    weight_bits = 0: W float (d_out, d_in).
    weight_bits = b > 0: W = weight_scale[:, None] * Wq with Wq int8 in [-(2^(b-1)-1), 2^(b-1)-1];
    y_o = input_scale * weight_scale_o * sum_j Wq_oj s_j, the sum exact in integers.
    ACs: d_out * sum_j |s_j| (one add/subtract per spike and fan-out synapse).
    sparse = True: parameter "connections" uint8 (d_out, d_in), 1 where a synapse exists (an
    unrolled convolution, snncompile/ir/conv_ops.py); W is zero elsewhere and the ACs are the
    connections the spikes reach, sum_j |s_j| fan_out_j (`fan_out`).
    """

    op_type: ClassVar[str] = "SpikedLinear"
    in_kinds: ClassVar[tuple[str, ...]] = ("spike",)
    d_in: int
    d_out: int
    input_scale: float
    weight_bits: int = 0
    sparse: bool = False

    def verify(self) -> None:
        super().verify()
        self._positive("d_in", "d_out")
        if not self.input_scale > 0:
            raise IRError(f"SpikedLinear.input_scale must be positive, got {self.input_scale!r}")
        if not 0 <= self.weight_bits <= 8 or self.weight_bits == 1:
            raise IRError(
                f"SpikedLinear.weight_bits must be 0 (float) or 2..8, got {self.weight_bits}")

    def param_shapes(self):
        conn = {"connections": ((self.d_out, self.d_in), ("uint8",))} if self.sparse else {}
        if self.weight_bits == 0:
            return {"weight": ((self.d_out, self.d_in), FLOAT_DTYPES), **conn}
        return {"weight": ((self.d_out, self.d_in), INT8),
                "weight_scale": ((self.d_out,), FLOAT_DTYPES), **conn}

    def fan_out(self, params) -> Any:
        """Connections per input (d_in,) when sparse (params: role -> array), else None."""
        if not self.sparse:
            return None
        import numpy as np
        return np.asarray(params["connections"], np.int64).sum(axis=0)

    def infer(self, input_shapes):
        self._check_inputs(input_shapes, [(self.d_in,)])
        return [(self.d_out,)]

    def counts(self, spike_sum=None):
        """ACs need the input's spike sum (measured int, or expected float from a rate)."""
        if spike_sum is None:
            raise IRError("SpikedLinear.counts needs spike_sum = sum_j |s_j| of its input "
                          "(use spike_sum_at_rate(d_in, D, rate) for a rate model)")
        if spike_sum < 0:
            raise IRError(f"SpikedLinear.counts: spike_sum must be >= 0, got {spike_sum!r}")
        return Counts(acs=self.d_out * spike_sum, dense_macs=self.d_out * self.d_in)

    def dense_work(self):
        """As a dense matrix-vector product (a dense executor's work)."""
        return self.d_out * self.d_in


@dataclass(frozen=True)
class Linear(Op):
    """y = W x + b; W (d_out, d_in), b (d_out) when has_bias."""

    op_type: ClassVar[str] = "Linear"
    d_in: int
    d_out: int
    has_bias: bool = False

    def verify(self) -> None:
        super().verify()
        self._positive("d_in", "d_out")

    def param_shapes(self):
        p = {"weight": ((self.d_out, self.d_in), FLOAT_DTYPES)}
        if self.has_bias:
            p["bias"] = ((self.d_out,), FLOAT_DTYPES)
        return p

    def infer(self, input_shapes):
        self._check_inputs(input_shapes, [(self.d_in,)])
        return [(self.d_out,)]

    def counts(self, spike_sum=None):
        n = self.d_out * self.d_in
        return Counts(macs=n, dense_macs=n)


@dataclass(frozen=True)
class Split(Op):
    """Consecutive slices: outputs[k] = x[sum(sizes[:k]) : sum(sizes[:k+1])]."""

    op_type: ClassVar[str] = "Split"
    n_outputs: ClassVar[int | None] = None
    sizes: tuple[int, ...]

    def verify(self) -> None:
        super().verify()
        if len(self.sizes) < 1 or any(s < 1 for s in self.sizes):
            raise IRError(f"Split.sizes must be positive ints, got {self.sizes!r}")

    def output_count(self) -> int:
        return len(self.sizes)

    def dense_work(self):
        return 0  # slices are views

    def output_kinds(self) -> tuple[str, ...]:
        return ("float",) * len(self.sizes)

    def infer(self, input_shapes):
        self._check_inputs(input_shapes, [(sum(self.sizes),)])
        return [(s,) for s in self.sizes]


@dataclass(frozen=True)
class CausalConv1d(Op):
    """Depthwise causal conv over time: y_c = b_c + sum_k w_ck x_c[t-K+1+k].

    State: the last K-1 inputs (C, K-1), zeros at the start of a sequence.
    """

    op_type: ClassVar[str] = "CausalConv1d"
    stateful: ClassVar[bool] = True
    C: int
    K: int
    has_bias: bool = True

    def verify(self) -> None:
        super().verify()
        self._positive("C", "K")

    def param_shapes(self):
        p = {"weight": ((self.C, self.K), FLOAT_DTYPES)}
        if self.has_bias:
            p["bias"] = ((self.C,), FLOAT_DTYPES)
        return p

    def infer(self, input_shapes):
        self._check_inputs(input_shapes, [(self.C,)])
        return [(self.C,)]

    def counts(self, spike_sum=None):
        n = self.C * self.K
        return Counts(macs=n, dense_macs=n)

    def state_shapes(self):
        return {"window": (self.C, self.K - 1)}


@_vector_op
@dataclass(frozen=True)
class SiLU(Op):
    """y = x * sigmoid(x)."""

    op_type: ClassVar[str] = "SiLU"
    d: int

    def counts(self, spike_sum=None):
        return Counts(macs=self.d, dense_macs=self.d)


@dataclass(frozen=True)
class Softplus(Op):
    """y = softplus(x + bias) = log(1 + exp(x + bias)), linear above 20 (torch threshold)."""

    op_type: ClassVar[str] = "Softplus"
    d: int

    def verify(self) -> None:
        super().verify()
        self._positive("d")

    def param_shapes(self):
        return {"bias": ((self.d,), FLOAT_DTYPES)}

    def infer(self, input_shapes):
        self._check_inputs(input_shapes, [(self.d,)])
        return [(self.d,)]

    def counts(self, spike_sum=None):
        return Counts(macs=self.d, dense_macs=self.d)


@dataclass(frozen=True)
class SSMScan(Op):
    """One step of the Mamba2 selective scan (SSD recurrence), per head h, group g = h//(H/G):

      a_h = exp(-dt_h * exp(A_log_h))
      h_h = a_h * h_h + dt_h * (x_h outer B_g)        state (H, P, N)
      y_h = h_h C_g + D_h * x_h

    inputs x (H*P), dt (H, after softplus), B (G*N), C (G*N); params A_log (H), D (H).
    """

    op_type: ClassVar[str] = "SSMScan"
    n_inputs: ClassVar[int] = 4
    stateful: ClassVar[bool] = True
    in_kinds: ClassVar[tuple[str, ...]] = ("float",) * 4
    H: int
    P: int
    N: int
    G: int

    def verify(self) -> None:
        super().verify()
        self._positive("H", "P", "N", "G")
        if self.H % self.G:
            raise IRError(f"SSMScan.H={self.H} is not a multiple of G={self.G}")

    def param_shapes(self):
        return {"A_log": ((self.H,), FLOAT_DTYPES), "D": ((self.H,), FLOAT_DTYPES)}

    def infer(self, input_shapes):
        gn = self.G * self.N
        self._check_inputs(input_shapes, [(self.H * self.P,), (self.H,), (gn,), (gn,)])
        return [(self.H * self.P,)]

    def counts(self, spike_sum=None):
        n = 3 * self.H * self.P * self.N + 2 * self.H * self.P
        return Counts(macs=n, dense_macs=n)

    def state_shapes(self):
        return {"h": (self.H, self.P, self.N)}


@_vector_op
@dataclass(frozen=True)
class Gate(Op):
    """o = y * silu(z)."""

    op_type: ClassVar[str] = "Gate"
    n_inputs: ClassVar[int] = 2
    in_kinds: ClassVar[tuple[str, ...]] = ("float", "float")
    d: int

    def counts(self, spike_sum=None):
        return Counts(macs=self.d, dense_macs=self.d)


@dataclass(frozen=True)
class GatedRMSNorm(Op):
    """o = rmsnorm_per_group(y * silu(z)) * weight, groups of `group_size` consecutive
    channels: u = y*silu(z); o_i = u_i / sqrt(mean_{group(i)}(u^2) + eps) * weight_i."""

    op_type: ClassVar[str] = "GatedRMSNorm"
    n_inputs: ClassVar[int] = 2
    in_kinds: ClassVar[tuple[str, ...]] = ("float", "float")
    d: int
    group_size: int
    eps: float

    def verify(self) -> None:
        super().verify()
        self._positive("d", "group_size")
        if self.d % self.group_size:
            raise IRError(f"GatedRMSNorm.d={self.d} is not a multiple of group_size={self.group_size}")
        if not self.eps > 0:
            raise IRError(f"GatedRMSNorm.eps must be positive, got {self.eps!r}")

    def param_shapes(self):
        return {"weight": ((self.d,), FLOAT_DTYPES)}

    def infer(self, input_shapes):
        self._check_inputs(input_shapes, [(self.d,), (self.d,)])
        return [(self.d,)]

    def counts(self, spike_sum=None):
        return Counts(macs=3 * self.d, dense_macs=3 * self.d)


@_vector_op
@dataclass(frozen=True)
class Add(Op):
    """c = a + b (residual stream); d additions priced as AC in both models."""

    op_type: ClassVar[str] = "Add"
    n_inputs: ClassVar[int] = 2
    in_kinds: ClassVar[tuple[str, ...]] = ("float", "float")
    d: int

    def counts(self, spike_sum=None):
        return Counts(acs=self.d, dense_acs=self.d)


@dataclass(frozen=True)
class LMHead(Op):
    """logits = weight x; weight (V, d), tied to the embedding's parameter when shared."""

    op_type: ClassVar[str] = "LMHead"
    readout: ClassVar[bool] = True
    vocab: int
    d: int

    def verify(self) -> None:
        super().verify()
        self._positive("vocab", "d")

    def param_shapes(self):
        return {"weight": ((self.vocab, self.d), FLOAT_DTYPES)}

    def infer(self, input_shapes):
        self._check_inputs(input_shapes, [(self.d,)])
        return [(self.vocab,)]

    def counts(self, spike_sum=None):
        n = self.vocab * self.d
        return Counts(macs=n, dense_macs=n)


# the stateful neuron ops of time-stepped networks live in their own module (they subclass Op)
from snncompile.ir.neuron_ops import IF, LIF, CubaLIF  # noqa: E402
# the ops of networks imported from NIR (per-neuron parameters, recurrence): docs/nir.md
from snncompile.ir.nir_ops import NIR_OPS  # noqa: E402
# convolution and pooling on the flat spike vector (NIR Conv1d, Conv2d, SumPool2d)
from snncompile.ir.conv_ops import CONV_OPS  # noqa: E402

OPS: dict[str, type[Op]] = {cls.op_type: cls for cls in (
    Embedding, RMSNorm, SpikeEncode, SpikedLinear, Linear, Split, CausalConv1d, SiLU,
    Softplus, SSMScan, Gate, GatedRMSNorm, Add, LMHead, LIF, IF, CubaLIF, *NIR_OPS, *CONV_OPS)}


def make_op(op_type: str, attributes: dict[str, Any]) -> Op:
    """Build and verify an op from its type name and attributes (raises IRError)."""
    cls = OPS.get(op_type)
    if cls is None:
        raise IRError(f"unknown op type {op_type!r} (known: {sorted(OPS)})")
    types = cls.attribute_types()
    unknown = set(attributes) - set(types)
    if unknown:
        raise IRError(f"{op_type}: unknown attributes {sorted(unknown)}")
    try:
        op = cls(**attributes)
    except TypeError as exc:
        raise IRError(f"{op_type}: {exc}") from None
    op.verify()
    op.verify_state()
    return op
