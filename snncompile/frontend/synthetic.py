"""Random weights for tests and benchmarks (no checkpoint needed): frontend layer (config,
IR graph and numpy only).

- `random_state_dict(config, seed)`: float32 parameters for `build_graph(config, sd)`, with
  the magnitudes of a freshly initialised Mamba2 (unit norms, A in [1, 16], dt in
  [0.001, 0.1], projections N(0, 1/d_in)).
- `theta_for_rate(rate, D, kind)`: theta with E|clip(round(x/theta))| / D = rate, x ~ N(0, 1);
  `expected_rate(theta, D, kind)` is its inverse.
- `random_int8(shape, qmax, rng)`, `random_param(op_type, role, shape, rng)`: the building
  blocks of `snncompile.sweep.synthetic.random_program` (a lowered accum Program with random
  int8 spiked weights) and `calibrate`, which sit above the backends and the simulator.
"""

from __future__ import annotations

import math

import numpy as np

from snncompile.errors import ConfigError
from snncompile.frontend.mamba2 import build_graph


def _phi_tail(z: float) -> float:
    """P(X >= z) for X ~ N(0, 1)."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def expected_rate(theta: float, D: int, kind: str) -> float:
    """E|s| / D for s = clip(round(x / theta), lo, D), x ~ N(0, 1)."""
    sides = 2.0 if kind == "silif" else 1.0
    return sides * sum(_phi_tail((k - 0.5) * theta) for k in range(1, D + 1)) / D


def theta_for_rate(rate: float, D: int, kind: str = "silif") -> float:
    """Bisection on theta (the rate falls as theta grows)."""
    top = 1.0 if kind == "silif" else 0.5
    if not 0 < rate < top:
        raise ConfigError(f"rate must be in (0, {top}) for kind {kind!r}, got {rate}")
    lo, hi = 1e-6, 100.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if expected_rate(mid, D, kind) > rate:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _norm_weight(role, shape, rng):
    return 1.0 + 0.1 * rng.standard_normal(shape)


def _unit(role, shape, rng):
    return rng.standard_normal(shape)


def _conv(role, shape, rng):
    k = shape[-1] if role == "weight" else 4
    return rng.uniform(-1, 1, shape) / math.sqrt(k)


def _dt_bias(role, shape, rng):  # dt_bias = softplus^-1(dt), dt log-uniform in [1e-3, 1e-1]
    dt = np.exp(rng.uniform(math.log(1e-3), math.log(1e-1), shape))
    return dt + np.log(-np.expm1(-dt))


def _ssm(role, shape, rng):
    return np.log(rng.uniform(1, 16, shape)) if role == "A_log" else np.ones(shape)


def _fan_in(role, shape, rng):  # Linear / float SpikedLinear weights
    return rng.standard_normal(shape) / math.sqrt(shape[-1])


# A fresh Mamba2's parameter magnitudes, per op type (a per-op table; others: fan-in scaled).
INIT = {"RMSNorm": _norm_weight, "GatedRMSNorm": _norm_weight, "Embedding": _unit,
        "LMHead": _unit, "CausalConv1d": _conv, "Softplus": _dt_bias, "SSMScan": _ssm}


def random_param(op_type: str, role: str, shape: tuple[int, ...], rng: np.random.Generator
                 ) -> np.ndarray:
    """A float32 parameter of `op_type`'s `role` with a fresh Mamba2's magnitudes (`INIT`)."""
    return INIT.get(op_type, _fan_in)(role, shape, rng).astype(np.float32)


def random_state_dict(config, seed: int = 0) -> dict[str, np.ndarray]:
    """Float32 parameters (mamba_ssm key names) for `build_graph(config, sd)`."""
    from snncompile.limits import check_memory
    g = build_graph(config)
    n = sum(int(np.prod(shape, dtype=np.float64)) for shape, _dt in g.param_specs().values())
    check_memory(4 * n, f"random weights ({n:,} float32 parameters)")
    rng = np.random.default_rng(seed)
    sd: dict[str, np.ndarray] = {}
    for n in g.nodes:
        for role, (shape, _dt) in n.op.param_shapes().items():
            pname = n.params[role]
            if pname not in sd:
                sd[pname] = random_param(n.op_type, role, tuple(shape), rng)
    return sd


def random_int8(shape: tuple[int, int], qmax: int, rng: np.random.Generator) -> np.ndarray:
    """Uniform int8 in [-qmax, qmax] (from raw random bytes: fast, no wider temporary)."""
    n = int(np.prod(shape))
    W = np.frombuffer(bytearray(rng.bytes(n)), np.int8).reshape(shape)
    if qmax < 127:  # fold the byte range onto [-qmax, qmax] (near-uniform)
        np.remainder(W, 2 * qmax + 1, out=W)
        W -= qmax
    else:
        np.maximum(W, -qmax, out=W)
    return W
