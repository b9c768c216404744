"""`snncompile nir export`: networks NIR can express are written so that nir.read (with its
type check) accepts them and importing them again gives the same graph behaviour; graphs it
cannot express are refused naming the first op; --subgraph writes the spiking projections."""

from __future__ import annotations

import nir
import numpy as np
import pytest
from click.testing import CliRunner

from snncompile.cli import main
from snncompile.errors import IRError
from snncompile.ir import ops, serde
from snncompile.ir.examples import EXAMPLES, lif_network
from snncompile.ir.graph import Graph, Node
from snncompile.nir import export_nir, import_nir, to_nir_graph
from snncompile.simulator.executor import NumpyExecutor

from test_nir_import import DT, _graph_a, _graph_b, _run


def _w(seed, shape):
    return np.clip(np.round(np.random.default_rng(seed).standard_normal(shape) * 30),
                   -127, 127).astype(np.int8)


def _net(**neuron):
    spec = {"kind": "lif", "threshold": 40.0, "dv": 512, "quant_bits": 0, "delay": 0, **neuron}
    return lif_network([_w(0, (6, 8)), _w(1, (4, 6))], spec, dt=1e-3)


@pytest.mark.parametrize("kind, extra", [("lif", {}), ("if", {}),
                                         ("cubalif", {"du": 1024}),
                                         ("lif", {"reset": "subtract", "bias": 0.5})])
def test_lif_network_round_trip(tmp_path, kind, extra):
    attrs = {"dv": 512} if kind != "if" else {}
    g = lif_network([_w(0, (6, 8)), _w(1, (4, 6))],
                    {"kind": kind, "threshold": 40.0, "quant_bits": 0, "delay": 0,
                     **attrs, **extra}, dt=1e-3)
    export_nir(g, tmp_path / "n.nir")
    back = nir.read(tmp_path / "n.nir", type_check=True)
    assert {type(n).__name__ for n in back.nodes.values()} >= {"Input", "Output", "Linear"}
    g2 = import_nir(tmp_path / "n.nir", 1e-3)
    for a, b in zip([n.op for n in g2.nodes], [n.op for n in g.nodes]):
        assert type(a) is type(b)
        if a.emits_spikes:  # the same neuron (bias through v_leak = bias tau / dt: to 1e-12)
            assert a.attributes() == {**b.attributes(), "bias": a.bias}
            assert a.bias == pytest.approx(b.bias, rel=1e-12, abs=0)
    x = (np.random.default_rng(3).random((60, 8)) < 0.5).astype(np.int64)
    want = NumpyExecutor(g).run_steps(x).outputs[0]
    assert want.sum() > 0
    np.testing.assert_array_equal(NumpyExecutor(g2).run_steps(x).outputs[0], want)


@pytest.mark.parametrize("build", [_graph_a, _graph_b])
def test_imported_primitives_round_trip(tmp_path, build):
    """NIR -> snncompile -> NIR -> snncompile: nir.read accepts the written file; the
    parameters equal the original's (float64 file: to 1e-12 relative); the outputs agree."""
    g, _ref = build(np.random.default_rng(0))
    nir.write(tmp_path / "a.nir", g)
    ir = import_nir(tmp_path / "a.nir", DT)
    export_nir(ir, tmp_path / "b.nir")
    back = nir.read(tmp_path / "b.nir", type_check=True)
    want = _by_params(nir.read(tmp_path / "a.nir", type_check=False))
    got = _by_params(back)
    assert sorted(want) == sorted(got)
    for key, n in want.items():
        for field, a in vars(n).items():
            if isinstance(a, np.ndarray) and field not in ("input_type", "output_type"):
                np.testing.assert_allclose(np.asarray(vars(got[key])[field], np.float64),
                                           np.asarray(a, np.float64), rtol=1e-12,
                                           atol=1e-15, err_msg=f"{key}.{field}")
    ir2 = import_nir(tmp_path / "b.nir", DT)
    x = (np.random.default_rng(1).random((50, ir.metadata["network"]["inputs"])) < 0.5
         ).astype(np.int64)
    for a, b in zip(_run(ir, x), _run(ir2, x)):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-9)


def _by_params(graph):
    """Leaf nodes keyed by type and first array's first value (names change on export)."""
    out = {}

    def walk(g):
        for n in g.nodes.values():
            if isinstance(n, nir.NIRGraph):
                walk(n)
            elif not isinstance(n, (nir.Input, nir.Output, nir.Flatten)):
                first = next(np.asarray(a).reshape(-1)[0] for k, a in vars(n).items()
                             if isinstance(a, np.ndarray) and k not in ("input_type",
                                                                        "output_type"))
                out[(type(n).__name__, round(float(first), 9))] = n
    walk(graph)
    return out


def test_refuses_quantised_delayed_or_refractory_neurons():
    for attrs, field in (({"quant_bits": 6}, "quant_bits"), ({"delay": 1}, "delay"),
                         ({"refractory": 2}, "refractory")):
        with pytest.raises(IRError, match=rf"node 'layers.0.neuron' \(LIF\): {field}"):
            to_nir_graph(_net(**attrs))


def test_refuses_the_first_op_nir_cannot_write():
    """A SpikingMamba-style token graph: refused at its first op (Embedding); a network with
    a SiLU between synapse and neuron: refused naming the SiLU."""
    with pytest.raises(IRError, match=r"node 'embedding' \(Embedding\): NIR cannot express"):
        to_nir_graph(EXAMPLES["ssm_scan"]())
    g = _net()
    nodes = list(g.nodes)
    silu = Node("layers.0.act", ops.SiLU(d=6), ("layers.0.x",), ("layers.0.y",))
    nodes[1] = Node(nodes[1].name, nodes[1].op, ("layers.0.y",), nodes[1].outputs)
    g2 = Graph(nodes[:1] + [silu] + nodes[1:], g.params, g.inputs, g.outputs, g.metadata)
    g2.verify()
    with pytest.raises(IRError, match=r"node 'layers.0.act' \(SiLU\): NIR cannot express"):
        to_nir_graph(g2)


def test_subgraph_writes_the_spiking_projections(tmp_path):
    """--subgraph: one Input -> Linear -> Output chain per SpikedLinear, with the weight
    W = input_scale * weight_scale[:, None] * Wq (quantized) or input_scale * W."""
    g = EXAMPLES["spiked_linear_q8"]()
    syns = [n for n in g.nodes if n.op_type == "SpikedLinear"]
    assert any(n.op.weight_bits == 8 for n in syns)
    export_nir(g, tmp_path / "p.nir", subgraph=True)
    back = nir.read(tmp_path / "p.nir", type_check=True)
    assert sorted(back.nodes) == sorted(f"{n.name}{s}" for n in syns
                                        for s in ("", "_input", "_output"))
    assert sorted(back.edges) == sorted(e for n in syns for e in (
        (f"{n.name}_input", n.name), (n.name, f"{n.name}_output")))
    for syn in syns:
        W = g.params[syn.params["weight"]].astype(np.float64)
        if syn.op.weight_bits:
            W = g.params[syn.params["weight_scale"]].astype(np.float64)[:, None] * W
        np.testing.assert_allclose(back.nodes[syn.name].weight, syn.op.input_scale * W,
                                   rtol=1e-15)


def test_cli_export_and_refusal(tmp_path):
    r = CliRunner()
    net = tmp_path / "net.onnx"
    serde.save(_net(reset="subtract"), net)
    res = r.invoke(main, ["nir", "export", str(net), "-o", str(tmp_path / "net.nir")])
    assert res.exit_code == 0, res.output
    lif = [n for n in nir.read(tmp_path / "net.nir").nodes.values() if isinstance(n, nir.LIF)]
    assert len(lif) == 2 and all(n.metadata["reset"] == "subtract" for n in lif)
    tok = tmp_path / "tok.onnx"
    serde.save(EXAMPLES["gate"](), tok)
    res = r.invoke(main, ["nir", "export", str(tok), "-o", str(tmp_path / "tok.nir")])
    assert res.exit_code == 2
    assert res.output.strip().startswith("error: node 'embedding' (Embedding)")
    assert not (tmp_path / "tok.nir").exists()
    res = r.invoke(main, ["nir", "export", str(tok), "-o", str(tmp_path / "tok.nir"),
                          "--subgraph"])
    assert res.exit_code == 2 and "no spiking projection" in res.output
    q8 = tmp_path / "q8.onnx"
    serde.save(EXAMPLES["spiked_linear_q8"](), q8)
    res = r.invoke(main, ["nir", "export", str(q8), "-o", str(tmp_path / "q8.nir"),
                          "--subgraph"])
    assert res.exit_code == 0, res.output
