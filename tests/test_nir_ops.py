"""The NIR ops (snncompile/ir/nir_ops.py) against a plain-Python loop per neuron, on the torch
reference and the NumPy executor (bit-exact with each other in float64)."""

from __future__ import annotations

import numpy as np
import pytest

from snncompile.backends.reference.interpreter import ReferenceInterpreter
from snncompile.errors import IRError
from snncompile.ir import nir_ops, ops
from snncompile.ir.graph import Graph, Node
from snncompile.simulator.executor import NumpyExecutor

N_IN, D, T = 5, 4, 60


def _net(op, params, rng, out=("s", "v")):
    """spikes (N_IN) -> SpikedLinear (float W) -> op."""
    W = rng.standard_normal((D, N_IN)) * 0.8
    nodes = [Node("syn", ops.SpikedLinear(d_in=N_IN, d_out=D, input_scale=1.0), ("spikes",),
                  ("x",), {"weight": "W"}),
             Node("op", op, ("x",), out, {r: f"op.{r}" for r in params})]
    p = {"W": W, **{f"op.{r}": np.asarray(a, np.float64) for r, a in params.items()}}
    g = Graph(nodes, p, ("spikes",), out, {"network": {"inputs": N_IN, "dt": 1e-3,
                                                        "source": "test"}})
    g.verify()
    return g, W


def _loop_euler(W, x, p, current, reset, recurrent, spiking=True):
    """The EulerNeuron / LeakyIntegrator equations, one neuron at a time in Python floats."""
    v, i, s_prev = [0.0] * D, [0.0] * D, [0.0] * D
    S, V = [], []
    for row in x:
        cur = [sum(float(W[o, j]) * float(row[j]) for j in range(N_IN)) for o in range(D)]
        s_row, v_row = [], []
        for k in range(D):
            c = cur[k]
            if current:
                i[k] = p["alpha_i"][k] * i[k] + p["gain_i"][k] * c
                c = i[k]
            vk = (p["alpha_v"][k] * v[k] + p["beta_v"][k]) + p["gain"][k] * c
            if not spiking:
                v[k] = vk
                v_row.append(vk)
                continue
            if recurrent:
                vk = vk + (sum(p["w_rec"][k][m] * s_prev[m] for m in range(D)) + p["b_rec"][k])
            if reset == "subtract_next":
                vk = vk - p["threshold"][k] * s_prev[k]
            s = vk > p["threshold"][k]
            if s and reset == "value":
                vk = p["v_reset"][k]
            elif s and reset == "subtract":
                vk = vk - p["threshold"][k]
            v[k] = vk
            s_row.append(int(s))
            v_row.append(vk)
        if spiking:
            s_prev = [float(s) for s in s_row]
            S.append(s_row)
        V.append(v_row)
    return (np.array(S, np.int64) if spiking else None), np.array(V)


def _params(rng, current, reset, recurrent):
    p = {"alpha_v": rng.uniform(0.5, 1.0, D), "beta_v": rng.uniform(-0.05, 0.05, D),
         "gain": rng.uniform(0.5, 1.5, D), "threshold": rng.uniform(0.3, 1.0, D)}
    if current:
        p.update(alpha_i=rng.uniform(0.2, 0.9, D), gain_i=rng.uniform(0.5, 1.5, D))
    if reset == "value":
        p["v_reset"] = rng.uniform(-0.2, 0.1, D)
    if recurrent:
        p.update(w_rec=rng.standard_normal((D, D)) * 0.4, b_rec=rng.uniform(-0.1, 0.1, D))
    return p


@pytest.mark.parametrize("current", [False, True])
@pytest.mark.parametrize("reset", ["value", "subtract", "subtract_next"])
@pytest.mark.parametrize("recurrent", [False, True])
def test_euler_neuron_matches_loop(current, reset, recurrent):
    rng = np.random.default_rng(
        [int(current), nir_ops.EULER_RESETS.index(reset), int(recurrent)])
    p = _params(rng, current, reset, recurrent)
    g, W = _net(nir_ops.EulerNeuron(d=D, current=current, reset=reset, recurrent=recurrent),
                p, rng)
    x = (rng.random((T, N_IN)) < 0.4).astype(np.int64)
    S, V = _loop_euler(W, x, p, current, reset, recurrent)
    assert S.sum() > 0 and (S == 0).sum() > 0  # the test exercises both outcomes
    for ex in (ReferenceInterpreter(g, device="cpu"), NumpyExecutor(g)):
        res = ex.run_steps(x)
        np.testing.assert_array_equal(res.outputs[0], S)
        np.testing.assert_allclose(res.outputs[1], V, rtol=0, atol=1e-12)
    st = NumpyExecutor(g).run_steps(x).state["op"]
    assert ("s" in st) == (recurrent or reset == "subtract_next")


def test_recurrence_is_one_step_late():
    """A spike at step t reaches the potentials through w_rec at t + 1, not at t."""
    rng = np.random.default_rng(3)
    p = {"alpha_v": np.zeros(D), "beta_v": np.zeros(D), "gain": np.ones(D),
         "threshold": np.full(D, 0.5), "v_reset": np.zeros(D),
         "w_rec": np.zeros((D, D)), "b_rec": np.zeros(D)}
    p["w_rec"][1, 0] = 10.0  # neuron 0 drives neuron 1
    g, _ = _net(nir_ops.EulerNeuron(d=D, recurrent=True), p, rng)
    g.params["W"] = np.zeros((D, N_IN))
    g.params["W"][0, 0] = 1.0
    x = np.zeros((4, N_IN), np.int64)
    x[1, 0] = 1
    s = NumpyExecutor(g).run_steps(x).outputs[0]
    assert s[:, 0].tolist() == [0, 1, 0, 0]
    assert s[:, 1].tolist() == [0, 0, 1, 0]


@pytest.mark.parametrize("current", [False, True])
def test_leaky_integrator_matches_loop(current):
    rng = np.random.default_rng(5)
    p = _params(rng, current, None, False)
    del p["threshold"]
    g, W = _net(nir_ops.LeakyIntegrator(d=D, current=current), p, rng, out=("v",))
    x = (rng.random((T, N_IN)) < 0.4).astype(np.int64)
    _, V = _loop_euler(W, x, p, current, None, False, spiking=False)
    for ex in (ReferenceInterpreter(g, device="cpu"), NumpyExecutor(g)):
        np.testing.assert_allclose(ex.run_steps(x).outputs[0], V, rtol=0, atol=1e-12)


def test_threshold_scale_bias():
    rng = np.random.default_rng(7)
    th, sc, bi = rng.uniform(-1, 1, D), rng.uniform(-2, 2, D), rng.uniform(-1, 1, D)
    W = rng.standard_normal((D, N_IN))
    nodes = [Node("syn", ops.SpikedLinear(d_in=N_IN, d_out=D, input_scale=1.0), ("spikes",),
                  ("x",), {"weight": "W"}),
             Node("scale", nir_ops.Scale(d=D), ("x",), ("y",), {"scale": "sc"}),
             Node("bias", nir_ops.Bias(d=D), ("y",), ("z",), {"bias": "bi"}),
             Node("thr", nir_ops.Threshold(d=D), ("z",), ("s",), {"threshold": "th"})]
    g = Graph(nodes, {"W": W, "sc": sc, "bi": bi, "th": th}, ("spikes",), ("s", "z"),
              {"network": {"inputs": N_IN, "dt": None, "source": "test"}})
    x = (rng.random((T, N_IN)) < 0.5).astype(np.int64)
    z = sc * (x @ W.T) + bi
    for ex in (ReferenceInterpreter(g, device="cpu"), NumpyExecutor(g)):
        res = ex.run_steps(x)
        np.testing.assert_allclose(res.outputs[1], z, rtol=0, atol=1e-12)
        np.testing.assert_array_equal(res.outputs[0], (z > th).astype(np.int64))
        counts = {n.name: n.counts for n in res.counters.nodes}
        assert counts["thr"].spikes == int((z > th).sum())
        assert counts["thr"].neuron_updates == D * T


def test_verify_names_the_field():
    with pytest.raises(IRError, match="EulerNeuron.reset"):
        nir_ops.EulerNeuron(d=3, reset="zero").verify()
    with pytest.raises(IRError, match="Scale.d"):
        nir_ops.Scale(d=0).verify()
    assert set(nir_ops.EulerNeuron(d=3, reset="subtract").param_shapes()) == {
        "alpha_v", "beta_v", "gain", "threshold"}
