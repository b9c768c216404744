"""Ops for networks imported from NIR (docs/nir.md): neurons with per-neuron float parameters,
recurrence, thresholds, scales and biases.

`LIF`, `IF` and `CubaLIF` (snncompile/ir/neuron_ops.py) hold shared attributes and 12-bit
decays, the form the cores run. A NIR file may hold any decay, per-neuron parameters, a leak
potential, a reset potential and recurrent weights; these ops hold them as parameter arrays
(role -> (d,) float arrays), in float64 arithmetic, elementwise over the d neurons:

EulerNeuron (spiking; NIR LIF, IF, CubaLIF discretised by forward Euler, docs/nir.md):

    current:    i <- alpha_i * i + gain_i * x ;  c = i          (else c = x)
    v <- (alpha_v * v + beta_v) + gain * c
    recurrent:  v <- v + (w_rec @ s_prev + b_rec)               (the previous step's spikes)
    reset "subtract_next":  v <- v - threshold * s_prev         (snnTorch's reset by subtraction)
    s = (v > threshold)                                          (strict)
    reset "value":    where s: v <- v_reset                      (NIR's reset)
    reset "subtract": where s: v <- v - threshold                (as LIF's "subtract")
    s_prev <- s

The additions are done in that order, so that every executor rounds alike. Recurrence is
one step late by construction: the spikes a neuron emits at step t reach the potentials
through `w_rec` at step t + 1 (a NIR cycle neuron -> W -> neuron has no delay in continuous
time; one step dt is the smallest delay a time-stepped graph can give it). Outputs: spikes s
(int64, (d,)) and v after the step (after an immediate reset).
State: "v", "i" (current), "s" (the previous step's spikes, when recurrent or
reset "subtract_next").

LeakyIntegrator (non-spiking; NIR LI, Integrator, CubaLI): the same update without spike,
reset or recurrence; one output v.

Threshold: s = (x > threshold) elementwise (int64 spikes; NIR Threshold, Heaviside of
x - threshold). Scale: y = scale * x. Bias: y = x + bias (the bias of a NIR Affine whose input
is a spike vector: SpikedLinear, then Bias).

Accounting: EulerNeuron and Threshold are neurons (d updates per step, spikes counted by the
walk); a recurrent EulerNeuron also does d ACs per previous spike (`counts` is given no spike
sum, so it reports its dense d * d reads as `dense_macs`); LeakyIntegrator d updates of
potential (macs d); Scale d macs; Bias d acs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from snncompile.errors import IRError
from snncompile.ir.counts import Counts
from snncompile.ir.ops import FLOAT_DTYPES, Op, _vector_op

EULER_RESETS = ("value", "subtract", "subtract_next")


def _vec(d: int) -> tuple[tuple[int, ...], tuple[str, ...]]:
    return ((d,), FLOAT_DTYPES)


@dataclass(frozen=True, kw_only=True)
class _EulerBase(Op):
    """The shared leak/integration part of EulerNeuron and LeakyIntegrator."""

    stateful: ClassVar[bool] = True
    d: int
    current: bool = False

    def verify(self) -> None:
        super().verify()
        self._positive("d")

    def param_shapes(self):
        p = {"alpha_v": _vec(self.d), "beta_v": _vec(self.d), "gain": _vec(self.d)}
        if self.current:
            p["alpha_i"] = _vec(self.d)
            p["gain_i"] = _vec(self.d)
        return p

    def state_shapes(self):
        st = {"v": (self.d,)}
        if self.current:
            st["i"] = (self.d,)
        return st

    def neuron_updates(self) -> int:
        return self.d


@dataclass(frozen=True, kw_only=True)
class EulerNeuron(_EulerBase):
    """A spiking neuron with per-neuron float parameters (module docstring)."""

    op_type: ClassVar[str] = "EulerNeuron"
    n_outputs: ClassVar[int | None] = 2
    out_kinds: ClassVar[tuple[str, ...]] = ("spike", "float")
    D: ClassVar[int] = 1
    reset: str = "value"
    recurrent: bool = False

    def verify(self) -> None:
        super().verify()
        if self.reset not in EULER_RESETS:
            raise IRError(f"EulerNeuron.reset must be one of {EULER_RESETS}, got {self.reset!r}")

    def param_shapes(self):
        p = super().param_shapes()
        p["threshold"] = _vec(self.d)
        if self.reset == "value":
            p["v_reset"] = _vec(self.d)
        if self.recurrent:
            p["w_rec"] = ((self.d, self.d), FLOAT_DTYPES)
            p["b_rec"] = _vec(self.d)
        return p

    def state_shapes(self):
        st = super().state_shapes()
        if self.recurrent or self.reset == "subtract_next":
            st["s"] = (self.d,)
        return st

    def infer(self, input_shapes):
        self._check_inputs(input_shapes, [(self.d,)])
        return [(self.d,), (self.d,)]

    def counts(self, spike_sum=None):
        if not self.recurrent:
            return Counts()
        return Counts(dense_macs=self.d * self.d)

    def dense_work(self):
        return self.d * self.d if self.recurrent else 0


@dataclass(frozen=True, kw_only=True)
class LeakyIntegrator(_EulerBase):
    """A non-spiking leaky integrator (alpha_v = 1: a pure integrator); module docstring."""

    op_type: ClassVar[str] = "LeakyIntegrator"

    def infer(self, input_shapes):
        self._check_inputs(input_shapes, [(self.d,)])
        return [(self.d,)]

    def counts(self, spike_sum=None):
        n = self.d * (2 if self.current else 1)
        return Counts(macs=n, dense_macs=n)


@_vector_op
@dataclass(frozen=True)
class Threshold(Op):
    """s = (x > threshold), threshold per element (d,); spikes int64."""

    op_type: ClassVar[str] = "Threshold"
    out_kinds: ClassVar[tuple[str, ...]] = ("spike",)
    D: ClassVar[int] = 1
    d: int

    def param_shapes(self):
        return {"threshold": _vec(self.d)}

    def neuron_updates(self) -> int:
        return self.d

    def dense_work(self):
        return 0


@_vector_op
@dataclass(frozen=True)
class Scale(Op):
    """y = scale * x, scale per element (d,)."""

    op_type: ClassVar[str] = "Scale"
    d: int

    def param_shapes(self):
        return {"scale": _vec(self.d)}

    def counts(self, spike_sum=None):
        return Counts(macs=self.d, dense_macs=self.d)


@_vector_op
@dataclass(frozen=True)
class Bias(Op):
    """y = x + bias, bias per element (d,)."""

    op_type: ClassVar[str] = "Bias"
    d: int

    def param_shapes(self):
        return {"bias": _vec(self.d)}

    def counts(self, spike_sum=None):
        return Counts(acs=self.d, dense_acs=self.d)


NIR_OPS = (EulerNeuron, LeakyIntegrator, Threshold, Scale, Bias)
