"""Continuous-time NIR neurons -> per-step coefficients (forward Euler with step dt).

NIR states its neurons as ODEs (nir 1.0: LIF, IF, CubaLIF, LI, I (Integrator), CubaLI);
one step of length dt of forward Euler gives, elementwise (docs/nir.md has the table):

    LIF / LI      tau dv/dt = (v_leak - v) + r I
                  v <- alpha_v v + beta_v + gain I,  alpha_v = 1 - dt/tau,
                  beta_v = dt v_leak / tau, gain = dt r / tau
    IF / I        dv/dt = r I                ->  alpha_v = 1, beta_v = 0, gain = dt r
    CubaLIF / CubaLI
                  tau_syn di/dt = -i + w_in I ;  tau_mem dv/dt = (v_leak - v) + r i
                  i <- alpha_i i + gain_i I,  alpha_i = 1 - dt/tau_syn, gain_i = dt w_in / tau_syn
                  v <- alpha_v v + beta_v + gain i   (the new i; tau_mem in place of tau)

This is the discretisation snnTorch uses in its own NIR import and export (beta = 1 - dt/tau).
`Coefficients.from_node` computes them in float64 and then snaps each dimensionless
coefficient (alpha_v, alpha_i, gain, gain_i) that lies within 8 machine epsilons of the
file's float type (float32: 9.5e-7; float64: 1.8e-15) of a multiple of 2^-12 to that
multiple: exporters write float32 (tau = dt / (1 - beta) rounded to float32), so 1 - dt/tau
recovers beta = 0.875 only to ~1e-7; snapping recovers it exactly. A coefficient
that is not near a 12-bit value is rounded to float32 when the file's arrays are float32 (the
precision the file holds), else kept in float64. forward Euler needs 0 < dt <= tau (alpha in
[0, 1)); a larger dt is an IRError naming the node.

`decay_12bit(alpha)` gives Loihi's decay dv = round(4096 (1 - alpha)) (alpha = (4096 - dv) /
4096); `is_12bit(alpha)` says whether that is exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snncompile.errors import IRError

SNAP_ULPS = 8        # |coefficient - k / 4096| <= 8 eps of the file's float type: k / 4096
ONE = 4096


def _snap(x: np.ndarray, float32: bool) -> np.ndarray:
    x = np.asarray(x, np.float64)
    k = np.round(x * ONE) / ONE
    near = np.abs(x - k) <= SNAP_ULPS * np.finfo(np.float32 if float32 else np.float64).eps
    out = np.where(near, k, x.astype(np.float32).astype(np.float64) if float32 else x)
    return out


def is_12bit(alpha: np.ndarray) -> bool:
    """True when every alpha is (4096 - dv) / 4096 for an integer dv in [0, 4096]."""
    a = np.asarray(alpha, np.float64)
    return bool(np.all(a * ONE == np.round(a * ONE)) and np.all((a >= 0) & (a <= 1)))


def decay_12bit(alpha: float) -> int:
    """Loihi's 12-bit decay dv = round(4096 (1 - alpha)), in [0, 4096]."""
    return int(min(ONE, max(0, round(ONE * (1.0 - float(alpha))))))


@dataclass
class Coefficients:
    """Per-neuron coefficients of one step (module docstring); arrays (d,), float64."""

    alpha_v: np.ndarray
    beta_v: np.ndarray
    gain: np.ndarray
    alpha_i: np.ndarray | None = None
    gain_i: np.ndarray | None = None

    @classmethod
    def from_node(cls, name: str, node, dt: float) -> "Coefficients":
        kind = type(node).__name__
        where = f"node {name!r} ({kind})"
        arrays = [np.asarray(v) for v in vars(node).values() if isinstance(v, np.ndarray)]
        f32 = any(a.dtype == np.float32 for a in arrays)

        def arr(field: str) -> np.ndarray:
            a = np.asarray(getattr(node, field), np.float64)
            if not np.all(np.isfinite(a)):
                raise IRError(f"{where}: {field} holds a non-finite value")
            return a.reshape(-1)

        def leak(tau_field: str):
            tau = arr(tau_field)
            if np.any(tau <= 0):
                raise IRError(f"{where}: {tau_field} must be positive, got {tau.min()!r}")
            if np.any(dt > tau):
                raise IRError(f"{where}: dt {dt!r} exceeds {tau_field} {tau.min()!r}: forward "
                              "Euler needs dt <= tau (give a smaller --dt)")
            return tau

        if kind in ("LIF", "LI"):
            tau = leak("tau")
            return cls(_snap(1.0 - dt / tau, f32), dt * arr("v_leak") / tau,
                       _snap(dt * arr("r") / tau, f32))
        if kind in ("IF", "I"):
            r = arr("r")
            return cls(np.ones_like(r), np.zeros_like(r), _snap(dt * r, f32))
        if kind in ("CubaLIF", "CubaLI"):
            tm, ts = leak("tau_mem"), leak("tau_syn")
            return cls(_snap(1.0 - dt / tm, f32), dt * arr("v_leak") / tm,
                       _snap(dt * arr("r") / tm, f32),
                       _snap(1.0 - dt / ts, f32), _snap(dt * arr("w_in") / ts, f32))
        raise IRError(f"{where}: not a neuron")

    @property
    def current(self) -> bool:
        return self.alpha_i is not None

    def arrays(self) -> dict[str, np.ndarray]:
        out = {"alpha_v": self.alpha_v, "beta_v": self.beta_v, "gain": self.gain}
        if self.current:
            out.update(alpha_i=self.alpha_i, gain_i=self.gain_i)
        return out

    def shared(self) -> bool:
        """True when every coefficient is one value for all neurons."""
        return all(np.all(a == a[0]) for a in self.arrays().values())


def to_continuous(kind: str, co: dict[str, np.ndarray], dt: float) -> dict[str, np.ndarray]:
    """The inverse map for the export: NIR parameters of `kind` from step coefficients
    (tau = dt / (1 - alpha), r = gain tau / dt, v_leak = beta_v tau / dt, w_in = gain_i
    tau_syn / dt; IF and I: r = gain / dt)."""
    if kind in ("IF", "I"):
        return {"r": co["gain"] / dt}
    if kind in ("LIF", "LI"):
        tau = dt / (1.0 - co["alpha_v"])
        return {"tau": tau, "r": co["gain"] * tau / dt, "v_leak": co["beta_v"] * tau / dt}
    tm = dt / (1.0 - co["alpha_v"])
    ts = dt / (1.0 - co["alpha_i"])
    return {"tau_mem": tm, "tau_syn": ts, "r": co["gain"] * tm / dt,
            "v_leak": co["beta_v"] * tm / dt, "w_in": co["gain_i"] * ts / dt}
