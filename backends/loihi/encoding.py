"""How our integers become Lava `Dense` arguments and Lava time steps, and back.

Weights. Lava's bit-accurate `Dense` model (`lava/proc/dense/models.py`, PyDenseModelBitAcc,
tags `fixed_pt` / `bit_accurate_loihi`) stores a weight matrix W' and computes, per time step,

    W'' = truncate(clip(W', -256, 255))        mixed sign: clip to 9 bits, then drop
                                               8 - num_weight_bits + 1 low bits
    a   = (W'' s) >> -weight_exp               (<< weight_exp when weight_exp > 0)

i.e. w_scale = 8 - num_weight_bits + weight_exp + is_mixed_sign. Passing int8 Wq directly
(num_weight_bits = 8, weight_exp = 0) drops Wq's least significant bit (a = (Wq >> 1 << 1) s).
We pass

    W' = 2 Wq,   num_weight_bits = 8,   weight_exp = -1,   sign_mode = MIXED

W' is even and in [-256, 254], so clipping and truncation leave it unchanged; a' = 2 Wq s is
even, so the arithmetic shift right by one gives a = Wq s exactly for every int8 Wq, -128
included (w_scale = 8 - 8 - 1 + 1 = 0). The sign mode is given explicitly: Lava would infer
INHIBITORY for an all-non-positive matrix and clip -256 (Wq = -128) to -255.

Spikes, graded (default): one Lava time step per token; the source sends the integer levels
s in {-D..D} as 24-bit graded payloads (`num_message_bits = 24`).
Spikes, binary: D Lava time steps per token; in micro-step k = 1..D input j emits one spike
when |s_j| >= k (the IF inference form of `snncompile.models.neurons.microsteps`). Lava's
binary Dense (`num_message_bits = 0`) sees only unsigned events, so the sign rides on two rails:
the positive rail carries the spikes of s_j > 0, the negative rail those of s_j < 0, each into
its own Dense process holding the same W'; the receiver subtracts: acc = A+ - A-. (With one
Dense holding [W', -W'] the -W' of Wq = -128 would not fit 8 bits; two rails are exact for
every int8 weight.)

Delay: a Lava Dense sends at step t what it accumulated at step t - 1, so a run of S input
steps takes S + 1 Lava steps; the sources carry one trailing all-zero step and the read-out
drops the sinks' first step.
"""

from __future__ import annotations

import numpy as np

from snncompile.errors import SimulationError

ENCODINGS = ("graded", "binary")
GRADED_MESSAGE_BITS = 24
WEIGHT_FACTOR = 2           # W' = 2 Wq
NUM_WEIGHT_BITS = 8
WEIGHT_EXP = -1
SIGN_MODE = "MIXED"


def check_encoding(encoding: str) -> str:
    if encoding not in ENCODINGS:
        raise SimulationError(f"encoding must be one of {ENCODINGS}, got {encoding!r}")
    return encoding


def dense_weights(wq: np.ndarray) -> np.ndarray:
    """W' = 2 Wq (int32) for a Lava Dense holding int8 Wq exactly (module docstring)."""
    wq = np.asarray(wq)
    if wq.dtype != np.int8:
        raise SimulationError(f"Lava Dense weights must be int8, got {wq.dtype}")
    return WEIGHT_FACTOR * wq.astype(np.int32)


def dense_args(encoding: str) -> dict:
    """The scalar Dense arguments of one encoding (the runner's job entries)."""
    bits = GRADED_MESSAGE_BITS if check_encoding(encoding) == "graded" else 0
    return {"num_message_bits": bits, "num_weight_bits": NUM_WEIGHT_BITS,
            "weight_exp": WEIGHT_EXP, "sign_mode": SIGN_MODE}


def steps_per_token(encoding: str, D: int) -> int:
    """Lava time steps one token takes: 1 (graded) or D (binary micro-steps)."""
    return 1 if check_encoding(encoding) == "graded" else D


def source_data(levels: np.ndarray, D: int, encoding: str) -> list[np.ndarray]:
    """Lava source data (d_in, S + 1) int32 of spike levels (T, d_in): one array (graded) or
    the positive and negative rails (binary), each with a trailing all-zero step."""
    levels = np.asarray(levels, np.int64)
    if levels.ndim != 2:
        raise SimulationError(f"spike levels must be (tokens, d_in), got shape {levels.shape}")
    if levels.size and np.abs(levels).max() > D:
        raise SimulationError(f"spike levels exceed D={D} (max |s| = {np.abs(levels).max()})")
    T, d_in = levels.shape
    if check_encoding(encoding) == "graded":
        data = np.zeros((d_in, T + 1), np.int32)
        data[:, :T] = levels.T
        return [data]
    k = np.arange(1, D + 1)
    mag = np.abs(levels)[:, None, :] >= k[None, :, None]          # (T, D, d_in)
    rails = []
    for sign in (1, -1):
        frames = mag & (np.sign(levels) == sign)[:, None, :]
        data = np.zeros((d_in, T * D + 1), np.int32)
        data[:, :T * D] = frames.reshape(T * D, d_in).T
        rails.append(data)
    return rails


def decode(outputs: list[np.ndarray], T: int, D: int, encoding: str) -> np.ndarray:
    """Per-token accumulations (T, rows) int64 from the sinks' records (rows, S + 1):
    graded: step t + 1 holds token t; binary: sum the D steps of each token, A+ - A-."""
    if check_encoding(encoding) == "graded":
        (out,) = outputs
        return np.ascontiguousarray(out[:, 1:T + 1].T)
    pos, neg = outputs
    diff = pos[:, 1:T * D + 1] - neg[:, 1:T * D + 1]              # (rows, T*D)
    return diff.reshape(diff.shape[0], T, D).sum(axis=2).T.copy()


def event_counts(data: np.ndarray) -> np.ndarray:
    """Messages per Lava step of one source (S + 1,): non-zero entries (graded payloads or
    binary spikes)."""
    return np.count_nonzero(data, axis=0)
