"""The dense unit's ops in NumPy float64: the same equations as the reference interpreter
(docs/architecture.md, "The ops"), one function per op type, `(op, inputs, params, state)`.

Parameters arrive as float64 arrays, except the two large (V, d) matrices of Embedding and
LMHead, which stay in their stored dtype: the embedding gathers one row, and the LM head is
computed in row chunks of `CHUNK` rows widened to float64, so no float64 copy of the
vocabulary matrix ever exists.
"""

from __future__ import annotations

import numpy as np

CHUNK = 4096


def _silu(x: np.ndarray) -> np.ndarray:
    return x / (1.0 + np.exp(-x))


def run_Embedding(op, ins, p, state):
    return [np.asarray(p["weight"][int(ins[0])], np.float64)]


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
    window = np.concatenate([state, ins[0][:, None]], axis=1)          # (C, K)
    y = (window * p["weight"]).sum(axis=1)
    if op.has_bias:
        y = y + p["bias"]
    return [y], window[:, 1:].copy()


def run_SiLU(op, ins, p, state):
    return [_silu(ins[0])]


def run_Softplus(op, ins, p, state):
    z = ins[0] + p["bias"]
    return [np.where(z > 20.0, z, np.log1p(np.exp(np.minimum(z, 20.0))))]


def run_SSMScan(op, ins, p, state):
    x, dt, B, C = ins
    H, P, N, G = op.H, op.P, op.N, op.G
    x = x.reshape(H, P)
    Bh = np.repeat(B.reshape(G, N), H // G, axis=0)                      # (H, N)
    Ch = np.repeat(C.reshape(G, N), H // G, axis=0)
    A = -np.exp(p["A_log"])
    decay = np.exp(dt * A)                                               # (H,)
    h = decay[:, None, None] * state + (dt[:, None] * x)[:, :, None] * Bh[:, None, :]
    y = np.einsum("hpn,hn->hp", h, Ch) + p["D"][:, None] * x
    return [y.reshape(H * P)], h


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
    for i in range(0, W.shape[0], CHUNK):
        out[i:i + CHUNK] = np.asarray(W[i:i + CHUNK], np.float64) @ x
    return [out]


STATEFUL = {"CausalConv1d", "SSMScan"}
RUNNERS = {
    "Embedding": run_Embedding, "RMSNorm": run_RMSNorm, "Linear": run_Linear, "Split": run_Split,
    "CausalConv1d": run_CausalConv1d, "SiLU": run_SiLU, "Softplus": run_Softplus,
    "SSMScan": run_SSMScan, "Gate": run_Gate, "GatedRMSNorm": run_GatedRMSNorm, "Add": run_Add,
    "LMHead": run_LMHead,
}
