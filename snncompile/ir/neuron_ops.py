"""Stateful spiking-neuron ops for time-stepped networks: LIF, IF and CubaLIF.

One step, elementwise over the d neurons (x: the synaptic current of this step, (d,)).
Outputs: spikes s in {0, 1} (int64) and the membrane potential v after the step (after
reset). Float form (`fixed_point=False`, float64):

    xe = p if delay else x ;  if delay: p <- x            (one-step synaptic delay, as Loihi)
    Q(z) = trunc(z * 2^q) / 2^q   (q = quant_bits; trunc toward zero; q = 0: Q(z) = z)
    CubaLIF: i <- Q(alpha_i * i) + xe ;  c = i            LIF / IF: c = xe
    v <- (Q(alpha_v * v) + bias) + c                      (IF: alpha_v = 1)
    if refractory > 0 and r > 0:  r <- r - 1 ; v <- 0 ; s = 0     (held at reset)
    else: s = (v > threshold)                             (strict, as Loihi and SANA-FE)
          where s: v <- 0 ("zero") or v <- v - threshold ("subtract") ; r <- refractory

with Loihi's 12-bit decays alpha_v = (4096 - dv) / 4096, alpha_i = (4096 - du) / 4096
(Davies et al., IEEE Micro 2018; Boyle et al., IEEE TCAD 2025).

Fixed-point form (`fixed_point=True`, Loihi 1 / Lava bit-accurate style): states are int64
arrays holding 24-bit signed values in units of 2^-q (q >= 1):

    X = x * 2^q (must be integer-valued: SimulationError otherwise) ; P holds X when delayed
    decay(Z, d) = sign(Z) * ((|Z| * (4096 - d)) >> 12)    (rounds toward zero)
    sat24(z) = clip(z, -(2^23 - 1), 2^23 - 1)
    CubaLIF: I <- sat24(decay(I, du) + X) ; C = I          LIF / IF: C = X
    V <- sat24(decay(V, dv) + B + C),  B = bias * 2^q (integer-valued, checked by verify)
    spike where V > Theta = threshold * 2^q ; reset V <- 0 or V <- V - Theta (subtract:
    Theta integer-valued) ; refractory as above ; output v = V / 2^q.

Without saturation the fixed form equals the float form times 2^q exactly. State
(`state_shapes`): "v", "i" (CubaLIF), "r" (refractory > 0, int64 counter), "p" (delay 1).
Accounting: `neuron_updates() = d` per step; spikes are counted by the walk; no MACs/ACs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from snncompile.errors import IRError
from snncompile.ir.ops import Op

DECAY_ONE = 4096            # 12-bit decay fractions: alpha = (4096 - d) / 4096
MAX_REFRACTORY = 1 << 16
MAX_QUANT_BITS = 24
SAT24 = (1 << 23) - 1       # 24-bit signed saturation bound of the fixed-point states
RESETS = ("zero", "subtract")


@dataclass(frozen=True, kw_only=True)
class _NeuronOp(Op):
    """Shared attributes, checks and facts of the neuron ops (module docstring)."""

    stateful: ClassVar[bool] = True
    n_outputs: ClassVar[int | None] = 2
    in_kinds: ClassVar[tuple[str, ...]] = ("float",)
    out_kinds: ClassVar[tuple[str, ...]] = ("spike", "float")
    D: ClassVar[int] = 1        # the largest spike level per step (binary spikes), as SpikeEncode.D
    d: int
    threshold: float
    reset: str = "zero"
    refractory: int = 0
    bias: float = 0.0
    quant_bits: int = 0
    delay: int = 0
    fixed_point: bool = False

    # decays of this op (12-bit fractions); IF has none, only CubaLIF has a current
    @property
    def decay_v(self) -> int:
        return int(getattr(self, "dv", 0))

    @property
    def decay_i(self) -> int | None:
        return None

    def verify(self) -> None:
        super().verify()
        self._positive("d")
        name = self.op_type
        if not self.threshold > 0:
            raise IRError(f"{name}.threshold must be positive, got {self.threshold!r}")
        if self.reset not in RESETS:
            raise IRError(f"{name}.reset must be one of {RESETS}, got {self.reset!r}")
        if not 0 <= self.refractory <= MAX_REFRACTORY:
            raise IRError(f"{name}.refractory must be in [0, {MAX_REFRACTORY}], "
                          f"got {self.refractory}")
        if not 0 <= self.quant_bits <= MAX_QUANT_BITS:
            raise IRError(f"{name}.quant_bits must be in [0, {MAX_QUANT_BITS}], "
                          f"got {self.quant_bits}")
        if self.delay not in (0, 1):
            raise IRError(f"{name}.delay must be 0 or 1, got {self.delay}")
        for field in ("dv", "du"):
            v = getattr(self, field, 0)
            if not 0 <= v <= DECAY_ONE:
                raise IRError(f"{name}.{field} must be in [0, {DECAY_ONE}] "
                              f"(a 12-bit decay fraction), got {v}")
        if self.fixed_point:
            self._verify_fixed()

    def _verify_fixed(self) -> None:
        name, q = self.op_type, self.quant_bits
        if q < 1:
            raise IRError(f"{name}.quant_bits must be >= 1 in fixed point, got {q}")
        B = self.bias * 2.0 ** q
        if B != int(B) or abs(B) > SAT24:
            raise IRError(f"{name}.bias {self.bias!r} is not representable in fixed point: "
                          f"bias * 2^{q} = {B!r} must be an integer within +-{SAT24}")
        theta = self.threshold * 2.0 ** q
        if theta >= SAT24:
            raise IRError(f"{name}.threshold {self.threshold!r} is not representable in fixed "
                          f"point: threshold * 2^{q} = {theta!r} must be below {SAT24}")
        if self.reset == "subtract" and theta != int(theta):
            raise IRError(f"{name}.threshold {self.threshold!r}: reset 'subtract' in fixed point "
                          f"needs threshold * 2^{q} integer-valued, got {theta!r}")

    def infer(self, input_shapes):
        self._check_inputs(input_shapes, [(self.d,)])
        return [(self.d,), (self.d,)]

    def state_shapes(self):
        st = {"v": (self.d,)}
        if self.decay_i is not None:
            st["i"] = (self.d,)
        if self.refractory > 0:
            st["r"] = (self.d,)
        if self.delay:
            st["p"] = (self.d,)
        return st

    def neuron_updates(self) -> int:
        return self.d

    def dense_work(self):
        return 0  # runs on the neuron cores


@dataclass(frozen=True, kw_only=True)
class LIF(_NeuronOp):
    """Leaky integrate-and-fire: v <- (Q(alpha_v v) + bias) + x, alpha_v = (4096 - dv)/4096;
    spike where v > threshold, then reset (module docstring for delay, refractory, fixed point)."""

    op_type: ClassVar[str] = "LIF"
    dv: int


@dataclass(frozen=True, kw_only=True)
class IF(_NeuronOp):
    """Integrate-and-fire (no leak): v <- (Q(v) + bias) + x; spike where v > threshold."""

    op_type: ClassVar[str] = "IF"


@dataclass(frozen=True, kw_only=True)
class CubaLIF(_NeuronOp):
    """Current-based LIF (Loihi's CUBA neuron): i <- Q(alpha_i i) + x ;
    v <- (Q(alpha_v v) + bias) + i, alpha = (4096 - d)/4096 for du and dv."""

    op_type: ClassVar[str] = "CubaLIF"
    du: int
    dv: int

    @property
    def decay_i(self) -> int | None:
        return int(self.du)


NEURON_OPS = (LIF, IF, CubaLIF)
