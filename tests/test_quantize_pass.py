"""quantize_weights: symmetric per-output-channel int quantization of SpikedLinear weights."""

from __future__ import annotations

import numpy as np
import pytest

from snncompile.errors import IRError
from snncompile.frontend import build_graph
from snncompile.frontend.synthetic import random_state_dict
from snncompile.passes import quantize_weights
from snncompile.passes.base import run_pipeline


@pytest.mark.parametrize("bits", [8, 4, 2])
def test_quantize_matrix_bounds(bits):
    rng = np.random.default_rng(bits)
    W = rng.standard_normal((40, 30)).astype(np.float32) * rng.uniform(0.01, 3, (40, 1))
    W[3] = 0.0
    Wq, scale = quantize_weights.quantize_matrix(W, bits)
    qmax = 2 ** (bits - 1) - 1
    assert Wq.dtype == np.int8 and scale.dtype == np.float32
    assert np.abs(Wq).max() == qmax and np.all(np.abs(Wq) <= qmax)
    # per row: the largest |w| maps to +-qmax, error at most half a step
    nz = np.arange(40) != 3
    np.testing.assert_allclose(scale[nz], np.abs(W[nz]).max(axis=1) / qmax, rtol=1e-6)
    assert np.all(np.abs(Wq[nz]).max(axis=1) == qmax)
    err = np.abs(quantize_weights.dequantize(Wq, scale) - W)
    assert np.all(err <= scale[:, None].astype(np.float64) / 2 * (1 + 1e-6))
    # the all-zero row: scale 1, weights 0
    assert scale[3] == 1.0 and not Wq[3].any()
    # round half to even at the exact midpoint
    Wq2, s2 = quantize_weights.quantize_matrix(np.array([[127.0, 0.5, 1.5, -2.5]]), 8)
    assert s2[0] == 1.0 and Wq2.tolist() == [[127, 0, 2, -2]]


def test_quantize_matrix_errors():
    with pytest.raises(IRError, match="bits"):
        quantize_weights.quantize_matrix(np.ones((2, 2)), 9)
    with pytest.raises(IRError, match="non-finite"):
        quantize_weights.quantize_matrix(np.array([[1.0, np.nan]]), 8)


def test_pass_rewrites_spiked_linear_only(spiking_config):
    g = build_graph(spiking_config, random_state_dict(spiking_config, 0))
    before = {k: v.copy() for k, v in g.params.items()}
    res = quantize_weights.run(g, bits=8)
    assert res.modified
    q = res.graph
    q.verify()
    for n_old, n_new in zip(g.nodes, q.nodes):
        if n_old.op_type == "SpikedLinear":
            assert n_old.op.weight_bits == 0 and n_new.op.weight_bits == 8
            w = q.params[n_new.params["weight"]]
            s = q.params[n_new.params["weight_scale"]]
            assert w.dtype == np.int8 and w.shape == (n_new.op.d_out, n_new.op.d_in)
            assert s.shape == (n_new.op.d_out,)
            Wf = g.params[n_old.params["weight"]]
            assert np.abs(quantize_weights.dequantize(w, s) - Wf).max() <= s.max() / 2 + 1e-7
            assert n_new.op.input_scale == n_old.op.input_scale
        else:
            assert n_new == n_old
    # the input graph is untouched
    assert all(np.array_equal(before[k], g.params[k]) for k in before)
    assert all(n.op.weight_bits == 0 for n in g.nodes if n.op_type == "SpikedLinear")
    # idempotent
    again = quantize_weights.run(q)
    assert not again.modified and again.graph is q


def test_pass_in_pipeline_and_shared_weight(spiking_config):
    g = build_graph(spiking_config, random_state_dict(spiking_config, 1))
    out = run_pipeline(g, [quantize_weights.QuantizeWeights(4)])
    assert out.log == [("quantize_weights", True)]
    assert all(n.op.weight_bits == 4 for n in out.graph.nodes if n.op_type == "SpikedLinear")
    # a weight shared with a dense node keeps its float copy; the int copy gets a new name
    from snncompile.ir.graph import Graph, Node
    from snncompile.ir import ops
    sl = next(n for n in g.nodes if n.op_type == "SpikedLinear")
    wname = sl.params["weight"]
    extra = Node("probe", ops.Linear(d_in=sl.op.d_in, d_out=sl.op.d_out), (g.nodes[1].outputs[0],),
                 ("probe_out",), {"weight": wname}
                 ) if sl.op.d_in == spiking_config.d_model else None
    if extra is not None:
        g2 = Graph(g.nodes + [extra], dict(g.params), g.inputs, g.outputs, g.metadata)
        g2.verify()
        q = quantize_weights.run(g2).graph
        q.verify()
        assert q.params[wname].dtype == np.float32
        assert q.params[f"{wname}.q8"].dtype == np.int8


def test_quantized_layer_close_to_float(spiking_config):
    """Same spike input -> the quantized layer's output is within the rounding bound."""
    from snncompile.backends.reference import ReferenceInterpreter
    g = build_graph(spiking_config, random_state_dict(spiking_config, 2))
    q = quantize_weights.run(g).graph
    a, b = ReferenceInterpreter(g, device="cpu"), ReferenceInterpreter(q, device="cpu")
    _, ca = a.step(5, a.init_state(), keep_values=True)
    _, cb = b.step(5, b.init_state(), keep_values=True)
    first = next(n for n in g.nodes if n.op_type == "SpikedLinear")
    s = a.values[first.inputs[0]]
    assert int(s.abs().sum()) > 0
    assert (s == b.values[first.inputs[0]]).all()           # upstream is unchanged
    ya, yb = a.values[first.outputs[0]], b.values[first.outputs[0]]
    scale = q.params[q.node(first.name).params["weight_scale"]].astype(np.float64)
    bound = first.op.input_scale * scale / 2 * float(s.abs().sum())
    assert np.all(np.abs(ya.numpy() - yb.numpy()) <= bound + 1e-9)
    assert not np.allclose(ya.numpy(), yb.numpy(), rtol=0, atol=1e-12)  # it did quantize
