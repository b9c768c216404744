"""Numba kernels of the dense unit's three hot ops (used by `simulator.executor`), each
with a plain NumPy `_ref` twin, the readable form of the same equation (parity tests
compare them):

  matvec_f64   y_i = sum_k float64(W_ik) x_k
  conv_step    window = [state | x]; y_c = b_c + sum_k w_ck window_ck; state <- window[:, 1:]
  ssm_step     a_h = exp(-dt_h exp(A_log_h)); h = a_h h + dt_h x_h (outer) B_g;
               y_h = h C_g + D_h x_h            (state updated in place)
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, fastmath=True)
def matvec_f64(W, x, out):
    """out[i] = sum_k float64(W[i, k]) * x[k] (W any float dtype, C-contiguous)."""
    V, d = W.shape
    for i in range(V):
        acc = 0.0
        row = W[i]
        for k in range(d):
            acc += np.float64(row[k]) * x[k]
        out[i] = acc


def matvec_f64_ref(W, x):
    return np.asarray(W, np.float64) @ x


@njit(cache=True, nogil=True)
def conv_step(state, x, w, b, has_bias, out):
    """Causal depthwise conv step; state (C, K-1) shifted in place, out (C,)."""
    C, K = w.shape
    for c in range(C):
        acc = b[c] if has_bias else 0.0
        for k in range(K - 1):
            acc += w[c, k] * state[c, k]
        acc += w[c, K - 1] * x[c]
        out[c] = acc
        for k in range(K - 2):
            state[c, k] = state[c, k + 1]
        if K > 1:
            state[c, K - 2] = x[c]


def conv_step_ref(state, x, w, b):
    """Returns (y, new_state)."""
    window = np.concatenate([state, x[:, None]], axis=1)                  # (C, K)
    y = (window * w).sum(axis=1)
    if b is not None:
        y = y + b
    return y, window[:, 1:].copy()


@njit(cache=True, nogil=True)
def ssm_step(h, x, dt, B, C, A_log, Dp, G, out):
    """One SSD step for all heads; h (H, P, N) updated in place, out (H*P,)."""
    H, P, N = h.shape
    hpg = H // G
    for hh in range(H):
        g = hh // hpg
        a = np.exp(-dt[hh] * np.exp(A_log[hh]))
        for p in range(P):
            xv = x[hh * P + p]
            u = dt[hh] * xv
            acc = 0.0
            for n in range(N):
                v = a * h[hh, p, n] + u * B[g * N + n]
                h[hh, p, n] = v
                acc += v * C[g * N + n]
            out[hh * P + p] = acc + Dp[hh] * xv


def ssm_step_ref(h, x, dt, B, C, A_log, Dp, G):
    """Returns (y (H*P,), new h) for h (H, P, N)."""
    H, P, N = h.shape
    x = x.reshape(H, P)
    Bh = np.repeat(B.reshape(G, N), H // G, axis=0)                      # (H, N)
    Ch = np.repeat(C.reshape(G, N), H // G, axis=0)
    decay = np.exp(dt * -np.exp(A_log))                                  # (H,)
    h = decay[:, None, None] * h + (dt[:, None] * x)[:, :, None] * Bh[:, None, :]
    y = np.einsum("hpn,hn->hp", h, Ch) + Dp[:, None] * x
    return y.reshape(H * P), h
