"""IR ops and graph: attribute validation, shape inference, the per-op accounting table,
and Graph.verify's structural checks."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from snncompile.errors import IRError
from snncompile.ir import Graph, Node, Counts, block_of, make_op, spike_sum_at_rate
from snncompile.ir import ops
from snncompile.ir.examples import covered_op_types, example_graphs
from snncompile.ir.ops import OPS

# One valid instance per op type and its expected counts (docs/architecture.md "Per-op
# accounting"); spike_sum=10 is passed to every op (only SpikedLinear uses it).
CASES = {
    "Embedding": (ops.Embedding(vocab=50, d=8), [()], [(8,)], Counts()),
    "RMSNorm": (ops.RMSNorm(d=8, eps=1e-5), [(8,)], [(8,)], Counts(16, 0, 16)),
    "SpikeEncode": (ops.SpikeEncode(d=8, kind="silif", D=4, theta=0.5), [(8,)], [(8,)],
                    Counts()),
    "SpikedLinear": (ops.SpikedLinear(d_in=8, d_out=5, input_scale=0.5), [(8,)], [(5,)],
                     Counts(0, 50, 40)),
    "Linear": (ops.Linear(d_in=8, d_out=5), [(8,)], [(5,)], Counts(40, 0, 40)),
    "Split": (ops.Split(sizes=(3, 5)), [(8,)], [(3,), (5,)], Counts()),
    "CausalConv1d": (ops.CausalConv1d(C=6, K=4), [(6,)], [(6,)], Counts(24, 0, 24)),
    "SiLU": (ops.SiLU(d=7), [(7,)], [(7,)], Counts(7, 0, 7)),
    "Softplus": (ops.Softplus(d=3), [(3,)], [(3,)], Counts(3, 0, 3)),
    "SSMScan": (ops.SSMScan(H=4, P=2, N=3, G=2), [(8,), (4,), (6,), (6,)], [(8,)],
                Counts(3 * 4 * 2 * 3 + 2 * 4 * 2, 0, 3 * 4 * 2 * 3 + 2 * 4 * 2)),
    "Gate": (ops.Gate(d=4), [(4,), (4,)], [(4,)], Counts(4, 0, 4)),
    "GatedRMSNorm": (ops.GatedRMSNorm(d=4, group_size=2, eps=1e-5), [(4,), (4,)], [(4,)],
                     Counts(12, 0, 12)),
    "Add": (ops.Add(d=5), [(5,), (5,)], [(5,)], Counts(0, 5, 0, 5)),
    "LMHead": (ops.LMHead(vocab=50, d=8), [(8,)], [(50,)], Counts(400, 0, 400)),
    # neurons of time-stepped networks (tests/test_neuron_ops.py): no MACs/ACs of their own
    "LIF": (ops.LIF(d=6, threshold=1.0, dv=100), [(6,)], [(6,), (6,)], Counts()),
    "IF": (ops.IF(d=6, threshold=1.0), [(6,)], [(6,), (6,)], Counts()),
    "CubaLIF": (ops.CubaLIF(d=6, threshold=1.0, du=10, dv=20), [(6,)], [(6,), (6,)], Counts()),
    # ops of networks imported from NIR (snncompile/ir/nir_ops.py, tests/test_nir_ops.py)
    "EulerNeuron": (ops.OPS["EulerNeuron"](d=6, recurrent=True), [(6,)], [(6,), (6,)],
                    Counts(dense_macs=36)),
    "LeakyIntegrator": (ops.OPS["LeakyIntegrator"](d=6), [(6,)], [(6,)], Counts(6, 0, 6)),
    "Threshold": (ops.OPS["Threshold"](d=6), [(6,)], [(6,)], Counts()),
    "Scale": (ops.OPS["Scale"](d=6), [(6,)], [(6,)], Counts(6, 0, 6)),
    "Bias": (ops.OPS["Bias"](d=6), [(6,)], [(6,)], Counts(0, 6, 0, 6)),
    # convolution on the flat vector (snncompile/ir/conv_ops.py, tests/test_nir_conv.py):
    # Conv1d: 2 x 2 channel pairs x 6 taps inside the padded length (1 + 2 + 2 + 1); the bias
    # adds 2 x 4 = 8
    "Conv1d": (ops.OPS["Conv1d"](input_shape=(2, 3), kernel=(2,), stride=(1,), padding=(1,),
                                 dilation=(1,), c_out=2, has_bias=True), [(6,)], [(8,)],
               Counts(24, 8, 24, 8)),
    "Conv2d": (ops.OPS["Conv2d"](input_shape=(1, 2, 3), kernel=(1, 1), stride=(1, 1),
                                 padding=(0, 0), dilation=(1, 1), c_out=2), [(6,)], [(12,)],
               Counts(12, 0, 12)),
    "SumPool2d": (ops.OPS["SumPool2d"](input_shape=(1, 2, 3), kernel=(2, 2), stride=(1, 1),
                                       padding=(0, 0)), [(6,)], [(2,)], Counts(0, 8, 0, 8)),
}


def test_every_op_has_a_case_and_an_example():
    assert set(CASES) == set(OPS), "add a CASES entry for every op in OPS"
    assert covered_op_types() == set(OPS), "add an example graph for every op in OPS"


@pytest.mark.parametrize("op_type", sorted(OPS))
def test_infer_counts_and_class_attributes(op_type):
    op, ins, outs, counts = CASES[op_type]
    assert type(op).op_type == op_type and OPS[op_type] is type(op)
    op.verify()
    assert op.infer(ins) == outs
    assert op.counts(10) == counts
    assert len(ins) == op.n_inputs == len(op.in_kinds)
    assert op.output_count() == len(outs) == len(op.output_kinds())
    # the op is frozen and rebuilds from its attributes
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(op, next(iter(op.attributes())), 3)
    assert make_op(op_type, op.attributes()) == op


@pytest.mark.parametrize("op_type", sorted(OPS))
def test_infer_rejects_wrong_shapes(op_type):
    op, ins, _, _ = CASES[op_type]
    bad = [tuple(d + 1 for d in s) if s else (1,) for s in ins]
    with pytest.raises(IRError, match=op_type):
        op.infer(bad)
    with pytest.raises(IRError, match="inputs"):
        op.infer(list(ins) + [(1,)])


@pytest.mark.parametrize("op, field", [
    (ops.Embedding(vocab=0, d=8), "vocab"),
    (ops.RMSNorm(d=8, eps=0.0), "eps"),
    (ops.RMSNorm(d=8.0, eps=1e-5), "d"),
    (ops.SpikeEncode(d=8, kind="izh", D=4, theta=1.0), "kind"),
    (ops.SpikeEncode(d=8, kind="lif", D=2, theta=1.0), "D"),
    (ops.SpikeEncode(d=8, kind="silif", D=4, theta=-1.0), "theta"),
    (ops.SpikeEncode(d=8, kind="silif", D=4, theta=float("nan")), "theta"),
    (ops.SpikedLinear(d_in=8, d_out=4, input_scale=1.0, weight_bits=9), "weight_bits"),
    (ops.SpikedLinear(d_in=8, d_out=4, input_scale=0.0), "input_scale"),
    (ops.Linear(d_in=8, d_out=4, has_bias=1), "has_bias"),
    (ops.Split(sizes=(3, 0)), "sizes"),
    (ops.Split(sizes=[3, 4]), "sizes"),
    (ops.CausalConv1d(C=4, K=-1), "K"),
    (ops.SSMScan(H=3, P=2, N=4, G=2), "H=3"),
    (ops.GatedRMSNorm(d=6, group_size=4, eps=1e-5), "group_size"),
])
def test_verify_names_the_field(op, field):
    with pytest.raises(IRError, match=field):
        op.verify()


def test_make_op_errors():
    with pytest.raises(IRError, match="unknown op type 'Conv'"):
        make_op("Conv", {})
    with pytest.raises(IRError, match="unknown attributes"):
        make_op("SiLU", {"d": 3, "beta": 1.0})
    with pytest.raises(IRError, match="SiLU"):
        make_op("SiLU", {})


def test_spike_levels_and_params():
    assert (ops.SpikeEncode(d=2, kind="silif", D=4, theta=1.0).lo,
            ops.SpikeEncode(d=2, kind="ilif", D=4, theta=1.0).lo,
            ops.SpikeEncode(d=2, kind="lif", D=1, theta=1.0).hi) == (-4, 0, 1)
    assert ops.SpikeEncode(d=3, kind="silif", D=4, theta=1.0).neuron_updates() == 12
    q = ops.SpikedLinear(d_in=8, d_out=4, input_scale=1.0, weight_bits=8).param_shapes()
    assert q == {"weight": ((4, 8), ("int8",)), "weight_scale": ((4,), ops.FLOAT_DTYPES)}
    assert set(ops.Linear(d_in=2, d_out=3, has_bias=True).param_shapes()) == {"weight", "bias"}
    assert set(ops.CausalConv1d(C=2, K=3, has_bias=False).param_shapes()) == {"weight"}


def test_spiked_linear_counts_need_spikes():
    op = ops.SpikedLinear(d_in=8, d_out=5, input_scale=1.0)
    with pytest.raises(IRError, match="spike_sum"):
        op.counts()
    with pytest.raises(IRError, match=">= 0"):
        op.counts(-1)
    # ACs at a firing rate: d_out * rate * d_in * D
    assert op.counts(spike_sum_at_rate(8, 4, 0.25)).acs == pytest.approx(5 * 0.25 * 8 * 4)


def test_opcounts_arithmetic():
    a = Counts(1, 2, 3, 4)
    assert a + a == Counts(2, 4, 6, 8)
    assert a.scaled(3) == Counts(3, 6, 9, 12)
    d = a.as_dict()
    assert {k: d[k] for k in ("macs", "acs", "dense_macs", "dense_acs")} == {
        "macs": 1, "acs": 2, "dense_macs": 3, "dense_acs": 4}
    assert all(v == 0 for k, v in d.items() if k not in ("macs", "acs", "dense_macs", "dense_acs"))
    unknown = Counts(dense_weight_bytes_read=None)
    assert (a + unknown).dense_weight_bytes_read is None and (a + unknown).macs == 1


# -- Graph.verify ------------------------------------------------------------------------------
def _tiny() -> Graph:
    return example_graphs()["spiked_linear"]


def _replace_node(g: Graph, i: int, **changes) -> Graph:
    n = g.nodes[i]
    fields = dict(name=n.name, op=n.op, inputs=n.inputs, outputs=n.outputs, params=n.params)
    fields.update(changes)
    g.nodes[i] = Node(**fields)
    return g


@pytest.mark.parametrize("mutate, message", [
    (lambda g: _replace_node(g, 1, name="embedding"), "duplicate node name"),
    (lambda g: _replace_node(g, 2, inputs=("nowhere",)), "'nowhere' is not defined"),
    (lambda g: _replace_node(g, 2, inputs=("embedding",)), "is a float value, op expects spike"),
    (lambda g: _replace_node(g, 1, outputs=("embedding",)), "already defined"),
    (lambda g: _replace_node(g, 1, outputs=("a", "b")), "has 2 outputs"),
    (lambda g: _replace_node(g, 2, params={}), "do not match the op's roles"),
    (lambda g: _replace_node(g, 2, op=ops.SpikedLinear(d_in=9, d_out=6, input_scale=0.25)),
     "node 'proj'"),
    (lambda g: _replace_node(g, 1, op=ops.SpikeEncode(d=8, kind="x", D=1, theta=1.0)), "kind"),
    (lambda g: setattr(g, "outputs", ("missing",)), "graph output 'missing'"),
    (lambda g: g.params.pop("pw"), "missing parameter 'pw'"),
    (lambda g: g.params.__setitem__("pw", np.zeros((6, 7), np.float32)), "shape"),
    (lambda g: g.params.__setitem__("pw", np.zeros((6, 8), np.int32)), "dtype int32"),
    (lambda g: g.params.__setitem__("extra", np.zeros(3, np.float32)), "'extra' is not used"),
    (lambda g: g.metadata.__setitem__("x", object()), "JSON"),
])
def test_graph_verify_errors(mutate, message):
    g = _tiny()
    g.verify()
    mutate(g)
    with pytest.raises(IRError, match=message):
        g.verify()


def test_tied_parameter_must_agree_in_shape():
    g = example_graphs()["lm_head"]
    g.nodes[-1] = Node("lm_head", ops.LMHead(vocab=16, d=8), ("embedding",), ("logits",),
                       {"weight": "emb"})
    g.verify()
    g.nodes[-1] = Node("lm_head", ops.LMHead(vocab=15, d=8), ("embedding",), ("logits",),
                       {"weight": "emb"})
    with pytest.raises(IRError, match="'emb'"):
        g.verify()


def test_shape_only_graph_and_helpers():
    g = _tiny()
    g.params.clear()
    with pytest.raises(IRError, match="missing parameter"):
        g.verify()
    g.verify(require_params=False)
    assert g.n_params() == 16 * 8 + 6 * 8
    assert g.value_shapes()["proj"] == (6,)
    assert g.producers()["spike"].name == "spike"
    assert g.node("proj").op_type == "SpikedLinear"
    with pytest.raises(IRError, match="no node named"):
        g.node("nope")
    counts = g.counts({"proj": 7})
    assert counts["proj"] == Counts(0, 42, 48)
    with pytest.raises(IRError, match="node 'proj'"):
        g.counts()
    assert block_of("layers.12.in_proj") == 12 and block_of("norm_f") is None


# -- pass pipeline -----------------------------------------------------------------------------
def test_pipeline_verifies_after_every_pass():
    import types

    from snncompile.passes import PassResult, pass_name, run_pipeline

    def identity(graph):
        return PassResult(graph, False)

    class Rescale:
        name = "rescale"

        def run(self, graph):
            g = Graph(list(graph.nodes), dict(graph.params), graph.inputs, graph.outputs,
                      dict(graph.metadata))
            g.params["pw"] = g.params["pw"] * 2
            return PassResult(g, True)

    def breaks(graph):
        g = Graph(list(graph.nodes), dict(graph.params), graph.inputs, graph.outputs)
        g.params.pop("pw")
        return PassResult(g, True)

    module = types.ModuleType("snncompile.passes.fold_things")
    module.run = identity
    g = _tiny()
    res = run_pipeline(g, [identity, Rescale(), module])
    assert res.log == [("test_ir_ops.identity", False), ("rescale", True), ("fold_things", False)]
    assert res.modified and np.array_equal(res.graph.params["pw"], g.params["pw"] * 2)
    assert pass_name(module) == "fold_things"
    with pytest.raises(IRError, match="after pass 'test_ir_ops.breaks': .*missing parameter 'pw'"):
        run_pipeline(g, [identity, breaks])
    with pytest.raises(IRError, match="returned Graph, not PassResult"):
        run_pipeline(g, [lambda graph: graph])
    bad = _tiny()
    bad.params.pop("pw")
    with pytest.raises(IRError, match="pipeline input"):
        run_pipeline(bad, [])
    run_pipeline(bad, [identity], require_params=False)


def test_quantize_pass_checks_bits_even_without_spiked_layers():
    from snncompile.passes import quantize_weights
    g = example_graphs()["linear"]
    assert quantize_weights.run(g, bits=4).modified is False
    for bits in (9, 1, True, 8.0):
        with pytest.raises(IRError, match="bits"):
            quantize_weights.run(g, bits=bits)
