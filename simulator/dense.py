"""The dense unit's ops in float64: the same equations as the reference interpreter
(docs/architecture.md, "The ops"), one function per op type, `(op, inputs, params, state)`.

Parameters arrive as float64 arrays, except the two large (V, d) matrices of Embedding and
LMHead, which stay in their stored dtype (no float64 copy of the vocabulary matrix exists):
the embedding gathers one row; the LM head is `matvec_f64`, each weight widened to float64
and summed in float64. The three hot recurrent/large ops use Numba kernels, each with a plain
NumPy `_ref` twin (the readable form of the same equation; parity tests compare them):

  matvec_f64   y_i = sum_k float64(W_ik) x_k
  conv_step    window = [state | x]; y_c = b_c + sum_k w_ck window_ck; state <- window[:, 1:]
  ssm_step     a_h = exp(-dt_h exp(A_log_h)); h = a_h h + dt_h x_h (outer) B_g;
               y_h = h C_g + D_h x_h            (state updated in place)
"""

from __future__ import annotations

import numpy as np
from numba import njit

from snncompile.errors import SimulationError


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


def _silu(x: np.ndarray) -> np.ndarray:
    return x / (1.0 + np.exp(-x))


def run_Embedding(op, ins, p, state):
    tok = int(ins[0])
    if not 0 <= tok < op.vocab:
        raise SimulationError(f"token id {tok} outside 0..{op.vocab - 1}")
    return [np.asarray(p["weight"][tok], np.float64)]


def run_RMSNorm(op, ins, p, state):
    x = ins[0]
    return [x * (1.0 / np.sqrt(np.mean(x * x) + op.eps)) * p["weight"]]


def run_Linear(op, ins, p, state):
    y = p["weight"] @ ins[0]
    if op.has_bias:
        y = y + p["bias"]
    return [y]


def run_Split(op, ins, p, state):
    out, i = [], 0
    for s in op.sizes:
        out.append(ins[0][i:i + s])
        i += s
    return out


def run_CausalConv1d(op, ins, p, state):
    y = np.empty(op.C, np.float64)
    b = p["bias"] if op.has_bias else p["weight"][:, 0]
    conv_step(state, np.ascontiguousarray(ins[0]), p["weight"], b, op.has_bias, y)
    return [y], state


def run_SiLU(op, ins, p, state):
    return [_silu(ins[0])]


def run_Softplus(op, ins, p, state):
    z = ins[0] + p["bias"]
    return [np.where(z > 20.0, z, np.log1p(np.exp(np.minimum(z, 20.0))))]


def run_SSMScan(op, ins, p, state):
    x, dt, B, C = (np.ascontiguousarray(v) for v in ins)
    y = np.empty(op.H * op.P, np.float64)
    ssm_step(state, x, dt, B, C, p["A_log"], p["D"], op.G, y)
    return [y], state


def run_Gate(op, ins, p, state):
    return [ins[0] * _silu(ins[1])]


def run_GatedRMSNorm(op, ins, p, state):
    u = ins[0] * _silu(ins[1])
    g = u.reshape(-1, op.group_size)
    g = g * (1.0 / np.sqrt(np.mean(g * g, axis=1, keepdims=True) + op.eps))
    return [g.reshape(-1) * p["weight"]]


def run_Add(op, ins, p, state):
    return [ins[0] + ins[1]]


def run_LMHead(op, ins, p, state):
    W, x = p["weight"], ins[0]
    if W.dtype == np.float64:
        return [W @ x]
    out = np.empty(W.shape[0], np.float64)
    matvec_f64(np.ascontiguousarray(W), np.ascontiguousarray(x), out)
    return [out]


STATEFUL = {"CausalConv1d", "SSMScan"}
RUNNERS = {
    "Embedding": run_Embedding, "RMSNorm": run_RMSNorm, "Linear": run_Linear, "Split": run_Split,
    "CausalConv1d": run_CausalConv1d, "SiLU": run_SiLU, "Softplus": run_Softplus,
    "SSMScan": run_SSMScan, "Gate": run_Gate, "GatedRMSNorm": run_GatedRMSNorm, "Add": run_Add,
    "LMHead": run_LMHead,
}
