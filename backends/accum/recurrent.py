"""Recurrent synapses on the cores: weights as b-bit integers times a power of two per row.

A recurrent EulerNeuron adds w_rec @ s_prev to its potentials (snncompile/ir/nir_ops.py).
Lowering stores each row o of w_rec as integers n_oj in [-(2^(b-1) - 1), 2^(b-1) - 1] times
2^e_o (Loihi's synapses are likewise a mantissa times a power-of-two weight exponent, Davies
et al. 2018):

    e_o  = ceil(log2(max_j |w_oj| / (2^(b-1) - 1)))     n_oj = round(w_oj / 2^e_o)

and writes back the floats n_oj 2^e_o. Every such product, and every sum of up to 2^(52 -
b) of them, is exact in float64, so the reference's float product w_rec @ s_prev and the
cores' integer sum times 2^e_o give the same numbers bit for bit, in any order of addition.
`pow2_rows` recovers (n, 2^e) from such a matrix, for any matrix of that form.
"""

from __future__ import annotations

import numpy as np

from snncompile.errors import SimulationError


def quantize_pow2(w: np.ndarray, bits: int) -> np.ndarray:
    """w (d, d) float as n 2^e per row (module docstring); zero rows stay zero."""
    w = np.asarray(w, np.float64)
    top = (1 << (bits - 1)) - 1
    amax = np.abs(w).max(axis=1)
    e = np.zeros(w.shape[0])
    nz = amax > 0
    e[nz] = np.ceil(np.log2(amax[nz] / top))
    step = np.exp2(e)[:, None]
    n = np.clip(np.round(w / step), -top, top)
    return n * step


def pow2_rows(w: np.ndarray, bits: int, where: str) -> tuple[np.ndarray, np.ndarray]:
    """(n int8-or-wider (d, d), scale (d,) = 2^e_o) with w = n * scale[:, None] exactly and
    |n| <= 2^(bits-1) - 1, e_o the largest exponent that keeps every n integer;
    SimulationError naming `where` when w has no such form (it was not lowered)."""
    w = np.asarray(w, np.float64)
    if not np.isfinite(w).all():
        raise SimulationError(f"{where}: recurrent weights are not finite")
    top = (1 << (bits - 1)) - 1
    m, ex = np.frexp(w)                     # w = m 2^ex, |m| in [0.5, 1)
    mant = np.abs(m * 2.0 ** 53).astype(np.int64)
    low = np.zeros(w.shape, np.int64)       # exponent of w's lowest set bit
    nz = mant != 0
    tz = (mant & -mant)[nz]
    low[nz] = ex[nz] - 53 + np.log2(tz.astype(np.float64)).astype(np.int64)
    big = np.iinfo(np.int64).max
    e = np.where(nz, low, big).min(axis=1)
    e = np.where(e == big, 0, e)
    scale = np.exp2(e.astype(np.float64))
    n = w / scale[:, None]
    if np.abs(n).max(initial=0) > top:
        raise SimulationError(f"{where}: recurrent weights are not {bits}-bit integers times a "
                              "power of two per row (lower the graph with `snncompile lower`)")
    dtype = np.int8 if bits <= 8 else np.int16 if bits <= 16 else np.int32
    return n.astype(dtype), scale
