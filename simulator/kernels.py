"""Numba kernels of the event-driven spiked projection, each with a plain NumPy `_ref` twin.

Storage: a spiked projection's quantized weights are input-major, `WT` int8 (d_in, d_out):
row j is the contiguous list of the d_out weights that input j's spikes touch. Accumulators
are int32 here (exact: |sum| <= 127 * D * d_in < 2^31 for every supported shape); on the
chip each tile holds a partial sum in a state_bits accumulator, which tiling keeps from
overflowing (rows * q_max * D < 2^(state_bits-1), backends.accum.tiling).

Binary encoding (spec section 2, the paper's spike-driven form). A level s_j in {-D..D} is
|s_j| signed spikes: in micro-step k = 1..D, every input with |s_j| >= k emits one spike of sign
sign(s_j), and the core adds (s_j > 0) or subtracts (s_j < 0) weight row j:

    acc = sum_{k=1..D} sum_{j: |s_j| >= k} sign(s_j) * WT[j, :] = WT^T s          (exact)

Graded encoding: one event per non-zero input carrying its payload s_j; acc += s_j * WT[j, :].

Both kernels also count per row block r (`row_block[j]` = the tile row that holds input j):
`counts[step, r]` = events in micro-step `step` (binary: D steps; graded: one step, the
non-zero inputs) and `abs_sum[r]` = sum_{j in r} |s_j|. The timing model (simulator.timing)
turns those into cycles, messages and hops: counting is per spike, never per AC.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def accumulate_binary(WT, s, row_block, D, acc, counts, abs_sum):
    """acc[:] = WT^T s via D binary micro-steps; counts (D, R) and abs_sum (R,) filled.

    WT int8 (d_in, d_out) C-contiguous; s int32 (d_in,); row_block int32 (d_in,);
    acc int32 (d_out,); counts int64 (D, R); abs_sum int64 (R,). Everything is overwritten.
    """
    d_in, d_out = WT.shape
    acc[:] = 0
    counts[:, :] = 0
    abs_sum[:] = 0
    n_active = 0
    active = np.empty(d_in, np.int64)
    for j in range(d_in):
        v = s[j]
        if v != 0:
            active[n_active] = j
            n_active += 1
            abs_sum[row_block[j]] += abs(v)
    for k in range(1, D + 1):
        for a in range(n_active):
            j = active[a]
            v = s[j]
            if v >= k:
                counts[k - 1, row_block[j]] += 1
                row = WT[j]
                for o in range(d_out):
                    acc[o] += row[o]
            elif v <= -k:
                counts[k - 1, row_block[j]] += 1
                row = WT[j]
                for o in range(d_out):
                    acc[o] -= row[o]


def accumulate_binary_ref(WT, s, row_block, D, n_blocks):
    """NumPy twin of `accumulate_binary`: returns (acc int32, counts (D, R), abs_sum (R,))."""
    s = np.asarray(s, np.int64)
    acc = np.zeros(WT.shape[1], np.int64)
    counts = np.zeros((D, n_blocks), np.int64)
    for k in range(1, D + 1):
        frame = np.where(np.abs(s) >= k, np.sign(s), 0)  # the spikes of micro-step k
        acc += frame @ WT.astype(np.int64)
        np.add.at(counts[k - 1], row_block, frame != 0)
    abs_sum = np.zeros(n_blocks, np.int64)
    np.add.at(abs_sum, row_block, np.abs(s))
    return acc.astype(np.int32), counts, abs_sum


@njit(cache=True, nogil=True)
def accumulate_graded(WT, s, row_block, acc, counts, abs_sum):
    """acc[:] = WT^T s with one graded event per non-zero input; counts (1, R), abs_sum (R,)."""
    d_in, d_out = WT.shape
    acc[:] = 0
    counts[:, :] = 0
    abs_sum[:] = 0
    for j in range(d_in):
        v = s[j]
        if v != 0:
            r = row_block[j]
            counts[0, r] += 1
            abs_sum[r] += abs(v)
            row = WT[j]
            for o in range(d_out):
                acc[o] += v * row[o]


def accumulate_graded_ref(WT, s, row_block, n_blocks):
    """NumPy twin of `accumulate_graded`: returns (acc int32, counts (1, R), abs_sum (R,))."""
    s = np.asarray(s, np.int64)
    acc = s @ WT.astype(np.int64)
    counts = np.zeros((1, n_blocks), np.int64)
    np.add.at(counts[0], row_block, s != 0)
    abs_sum = np.zeros(n_blocks, np.int64)
    np.add.at(abs_sum, row_block, np.abs(s))
    return acc.astype(np.int32), counts, abs_sum


@njit(cache=True, nogil=True)
def spike_frames(s, D):
    """The binary spike train: frames int8 (D, d) with frames[k-1, j] = sign(s_j) if |s_j| >= k."""
    d = s.shape[0]
    frames = np.zeros((D, d), np.int8)
    for j in range(d):
        v = s[j]
        m = abs(v)
        sg = 1 if v > 0 else -1
        for k in range(min(m, D)):
            frames[k, j] = sg
    return frames


def spike_frames_ref(s, D):
    """NumPy twin of `spike_frames`."""
    s = np.asarray(s, np.int64)
    ks = np.arange(1, D + 1)[:, None]
    return np.where(np.abs(s)[None, :] >= ks, np.sign(s)[None, :], 0).astype(np.int8)


@njit(cache=True, nogil=True)
def encode_levels(x, theta, lo, hi, out):
    """out[:] = clip(round_half_even(x / theta), lo, hi) as int32 (the SpikeEncode op)."""
    for j in range(x.shape[0]):
        v = np.rint(x[j] / theta)
        if v < lo:
            v = lo
        elif v > hi:
            v = hi
        out[j] = np.int32(v)


def encode_levels_ref(x, theta, lo, hi):
    """NumPy twin of `encode_levels`."""
    return np.clip(np.rint(np.asarray(x, np.float64) / theta), lo, hi).astype(np.int32)
