"""Helpers of tests/test_nir_conv.py: input spike trains, the snnTorch conv network and its own
simulation, a plain torch loop of LIF layers, and the round-trip parameter comparison."""

from __future__ import annotations

import nir
import numpy as np
import torch

T = 120


def spikes(n: int, seed: int = 0, p: float = 0.3, T: int = T) -> np.ndarray:
    """Bernoulli(p) spike trains (T, n), int64."""
    return (np.random.default_rng(seed).random((T, n)) < p).astype(np.int64)


def snntorch_conv_net():
    """(net, input shape): Conv2d(2 -> 4, k 3, padding 1) -> Leaky(zero, beta 0.875) ->
    AvgPool2d(2) -> Flatten -> Linear(36 -> 5) -> Leaky (per-element beta and threshold
    tensors, which snnTorch's exporter needs)."""
    import snntorch as snn

    def leaky(shape, out=False):
        return snn.Leaky(beta=torch.full(shape, 0.875), threshold=torch.ones(shape),
                         init_hidden=True, reset_mechanism="zero", output=out)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3, padding=1, bias=False),
                              leaky((4, 6, 6)), torch.nn.AvgPool2d(2), torch.nn.Flatten(),
                              torch.nn.Linear(36, 5, bias=False), leaky((5,), True))
    with torch.no_grad():
        net[0].weight.mul_(4)
        net[4].weight.mul_(12).add_(0.3)       # excitatory on average: the output spikes
    return net, (2, 6, 6)


def snntorch_run(net, x: np.ndarray, shape) -> np.ndarray:
    """snnTorch's own simulation in float64: output spikes (T, d)."""
    from snntorch import utils
    utils.reset(net)
    net = net.double()
    out = []
    with torch.no_grad():
        for row in x:
            o = torch.from_numpy(row.reshape(1, *shape).astype(np.float64))
            for m in net:
                o = m(o)
                o = (o[0] if isinstance(o, tuple) else o).double()
            out.append(o[0].numpy().astype(np.int64))
    return np.stack(out)


def leaky_loop(x: np.ndarray, layers, beta: float) -> np.ndarray:
    """A chain of LIF layers in plain torch float64: per step, per layer (syn, thr):
    v <- beta v + syn(s), s = v > thr, v <- 0 where s; output spikes of the last layer."""
    vs = [None] * len(layers)
    out = []
    for row in x:
        s = torch.from_numpy(row.astype(np.float64))
        for k, (syn, thr) in enumerate(layers):
            cur = syn(s)
            v = cur if vs[k] is None else beta * vs[k] + cur
            s = (v > thr).to(torch.float64)
            vs[k] = torch.where(s > 0, torch.zeros_like(v), v)
        out.append(s.numpy().astype(np.int64))
    return np.stack(out)


def _leaves(g):
    out = []
    for n in g.nodes.values():
        if isinstance(n, nir.NIRGraph):
            out += _leaves(n)
        elif not isinstance(n, (nir.Input, nir.Output, nir.Flatten)):
            out.append(n)
    return out


def _arrays(n):
    return {k: np.asarray(v) for k, v in vars(n).items()
            if k not in ("input_type", "output_type", "metadata") and v is not None}


def round_trip_leaves(a, b, rtol: float, per_channel: bool = False) -> None:
    """The computing nodes (not Input, Output, Flatten) of graphs a and b are of the same types,
    and their arrays (weights, time constants, strides ...) are equal to `rtol`, of the same
    shape; with `per_channel` a per-channel array of a may come back per element in b (the
    export writes neuron parameters per element)."""
    la, lb = _leaves(a), _leaves(b)

    def key(n):
        return (type(n).__name__, [np.asarray(v).shape for v in _arrays(n).values()])
    la, lb = sorted(la, key=key), sorted(lb, key=key)
    assert [type(n).__name__ for n in la] == [type(n).__name__ for n in lb]
    for x, y in zip(la, lb):
        ax, ay = _arrays(x), _arrays(y)
        assert set(ax) == set(ay), (type(x).__name__, set(ax) ^ set(ay))
        for k in ax:
            if ax[k].dtype.kind in "fiu" and ay[k].dtype.kind in "fiu":
                u, v = ax[k].reshape(-1), ay[k].reshape(-1)
                if u.size == 1 and v.size > 1 and k in ("kernel_size", "stride", "padding"):
                    u = np.repeat(u, v.size)            # a scalar pool size: every axis
                elif u.size != v.size:    # per channel on one side, per element on the other
                    assert per_channel and v.size % u.size == 0, (type(x).__name__, k)
                    u = np.repeat(u, v.size // u.size)
                elif ax[k].ndim and ay[k].ndim:
                    assert ax[k].shape == ay[k].shape, (type(x).__name__, k)
                np.testing.assert_allclose(v, u, rtol=rtol, atol=0,
                                           err_msg=f"{type(x).__name__}.{k}")
            else:
                assert str(ax[k]) == str(ay[k]), (type(x).__name__, k)
