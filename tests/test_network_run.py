"""Time-stepped networks: the `lif_network` builder, the network graph (spike-vector input,
metadata "network"), `Interpreter.run_steps` on the NumPy executor and the torch reference
(bit-exact), synaptic delay, counters over T steps, and `snncompile run --input`."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from click.testing import CliRunner

from snncompile.backends.reference import ReferenceInterpreter
from snncompile.cli import main
from snncompile.errors import IRError, SimulationError
from snncompile.ir import Graph, serde
from snncompile.ir.examples import example_graphs, lif_network
from snncompile.ir.graph import verify_metadata
from snncompile.simulator.executor import NumpyExecutor


def mlp_weights(seed: int = 0, sizes=(24, 32, 16, 6)) -> list[np.ndarray]:
    r = np.random.default_rng(seed)
    return [r.integers(-40, 64, (b, a)).astype(np.int8) for a, b in zip(sizes, sizes[1:])]


def spikes(T: int, n: int, seed: int = 1, p: float = 0.3) -> np.ndarray:
    return (np.random.default_rng(seed).random((T, n)) < p).astype(np.int64)


LIF = {"kind": "lif", "dv": 600, "threshold": 60.0, "reset": "subtract", "refractory": 1}


@pytest.mark.parametrize("fixed", [False, True], ids=["float", "fixed"])
def test_reference_equals_numpy_on_a_3_layer_lif_mlp(fixed):
    """The 3-layer LIF MLP: outputs, per-node counters and final state bit-exact."""
    g = lif_network(mlp_weights(), {**LIF, "fixed_point": fixed}, output="both")
    x = spikes(80, 24)
    a = NumpyExecutor(g).run_steps(x)
    b = ReferenceInterpreter(g, device="cpu").run_steps(x)
    assert [o.dtype.name for o in a.outputs] == [o.dtype.name for o in b.outputs] == \
        ["int64", "float64"]
    assert all(np.array_equal(p, q) for p, q in zip(a.outputs, b.outputs))
    assert a.counters == b.counters
    for node, st in a.state.items():
        for k, v in st.items():
            assert np.array_equal(v, b.state[node][k].numpy()), (node, k)
    spk = [a.counters.node(f"layers.{i}.neuron").counts.spikes for i in range(3)]
    assert all(s > 0 for s in spk), spk                                   # every layer fires
    assert a.outputs[0].shape == (80, 6) and a.counters.tokens == 80


def test_cubalif_and_if_layers_agree_too():
    specs = [{"kind": "cubalif", "du": 1000, "dv": 200, "threshold": 50.0, "delay": 1},
             {"kind": "if", "threshold": 30.0, "reset": "subtract", "bias": -0.5, "delay": 0},
             {"kind": "lif", "dv": 4096, "threshold": 5.0, "quant_bits": 4, "fixed_point": True}]
    g = lif_network(mlp_weights(2), specs, output="v")
    x = spikes(60, 24, seed=5)
    a, b = (ex.run_steps(x) for ex in (NumpyExecutor(g), ReferenceInterpreter(g, device="cpu")))
    assert np.array_equal(a.outputs[0], b.outputs[0]) and a.counters == b.counters
    assert [n.op_type for n in g.neurons()] == ["CubaLIF", "IF", "LIF"]


def test_counters_over_the_steps():
    """tokens = T; per step spikes of a neuron node = its output; synapse ACs = d_out * input
    spikes; neuron updates = T * d; the sum over two halves (state carried) = the whole."""
    W = mlp_weights()
    g = lif_network(W, LIF, output="spikes")
    x = spikes(50, 24)
    ex = NumpyExecutor(g)
    res = ex.run_steps(x)
    c = res.counters
    assert c.tokens == 50
    assert c.node("layers.2.neuron").counts.spikes == int(res.outputs[0].sum())
    assert c.node("layers.0.synapse").counts.acs == 32 * int(x.sum())
    assert c.node("layers.0.synapse").counts.input_spikes == int(x.sum())
    assert c.node("layers.1.neuron").counts.neuron_updates == 50 * 16
    assert c.node("layers.1.synapse").counts.acs == \
        16 * c.node("layers.0.neuron").counts.spikes
    first = ex.run_steps(x[:20])
    second = ex.run_steps(x[20:], state=first.state)
    assert np.array_equal(np.concatenate([first.outputs[0], second.outputs[0]]), res.outputs[0])
    assert first.counters + second.counters == c


@pytest.mark.parametrize("delay", [0, 1])
def test_delay_alignment(delay):
    """An input spike at step t changes layer 0's potential at step t + delay; a spike layer
    0 emits at step u changes layer 1's potential at u + delay (so t + 2 * delay)."""
    W0 = np.full((2, 3), 5, np.int8)
    W1 = np.full((2, 2), 7, np.int8)
    t = 5
    x = np.zeros((12, 3), np.int64)
    x[t, 1] = 1
    quiet = {"kind": "lif", "dv": 0, "threshold": 100.0, "delay": delay}
    fire = {**quiet, "threshold": 4.0}
    for ex_cls in (NumpyExecutor, lambda g: ReferenceInterpreter(g, device="cpu")):
        v0 = ex_cls(lif_network([W0], quiet, output="v")).run_steps(x).outputs[0][:, 0]
        assert np.nonzero(v0)[0][0] == t + delay and v0[t + delay] == 5.0
        s0 = ex_cls(lif_network([W0], fire)).run_steps(x).outputs[0][:, 0]
        assert np.nonzero(s0)[0].tolist() == [t + delay]
        v1 = ex_cls(lif_network([W0, W1], [fire, quiet], output="v")).run_steps(x).outputs[0]
        assert np.nonzero(v1[:, 0])[0][0] == t + 2 * delay
        assert v1[t + 2 * delay].tolist() == [14.0, 14.0]       # both layer-0 neurons fired


def test_run_steps_rejects_bad_input_and_token_graphs():
    g = lif_network(mlp_weights(), LIF)
    ex = NumpyExecutor(g)
    for bad, msg in [(np.zeros(24, np.int64), "2-D"), (np.zeros((3, 23), np.int64), "columns"),
                     (-np.ones((2, 24), np.int64), "negative"),
                     (np.full((2, 24), 0.5), "non-integer"),
                     (np.zeros((2, 24), bool), "integers"),
                     (np.array([["a"] * 24]), "integers")]:
        with pytest.raises(SimulationError, match=msg):
            ex.run_steps(bad)
    assert ex.run_steps(np.ones((2, 24))).outputs[0].shape == (2, 6)   # integral floats
    empty = ex.run_steps(np.zeros((0, 24), np.int64))
    assert empty.outputs[0].shape == (0, 6) and empty.outputs[0].dtype == np.int64
    with pytest.raises(SimulationError, match="network"):
        ex.step(3, ex.init_state())
    tok = NumpyExecutor(example_graphs()["lif"])
    with pytest.raises(SimulationError, match="run_steps needs"):
        tok.run_steps(np.zeros((2, 8), np.int64))


def test_token_graphs_still_run_neurons_per_token():
    """A neuron op fed by the embedding: one step per token, both executors equal."""
    g = example_graphs()["cubalif"]
    a = NumpyExecutor(g).run([1, 5, 5, 5, 2])
    b = ReferenceInterpreter(g, device="cpu").run([1, 5, 5, 5, 2])
    assert all(np.array_equal(x, y.numpy()) for x, y in zip(a[0], b[0]))
    assert a[1] == b[1] and a[1].node("neuron").counts.neuron_updates == 5 * 8


# -- builder and graph checks ------------------------------------------------------------------
def test_builder_layout():
    g = lif_network(mlp_weights(), LIF, output="both", source="unit-test", dt=1e-3)
    assert [n.name for n in g.nodes] == [f"layers.{i}.{k}" for i in range(3)
                                         for k in ("synapse", "neuron")]
    assert g.inputs == ("spikes",) and g.outputs == ("layers.2.s", "layers.2.v")
    assert g.metadata == {"network": {"inputs": 24, "dt": 1e-3, "source": "unit-test"}}
    assert g.input_specs() == {"spikes": ("spike", (24,))} and g.is_network
    syn = g.node("layers.0.synapse").op
    assert (syn.weight_bits, syn.input_scale, syn.d_in, syn.d_out) == (8, 1.0, 24, 32)
    assert (g.params["layers.0.weight_scale"] == 1).all()
    neu = g.node("layers.0.neuron").op
    assert (neu.quant_bits, neu.delay, neu.refractory, neu.fixed_point) == (6, 1, 1, False)
    assert [b for b in (n.block for n in g.nodes)] == [0, 0, 1, 1, 2, 2]


@pytest.mark.parametrize("weights, neuron, kw, match", [
    ([], LIF, {}, "empty"),
    (mlp_weights()[::2], LIF, {}, "columns"),
    (mlp_weights(), {**LIF, "kind": "izh"}, {}, "kind"),
    (mlp_weights(), {**LIF, "tau": 3}, {}, "unknown attributes"),
    (mlp_weights(), {"kind": "if", "threshold": 1.0, "dv": 3}, {}, "unknown attributes"),
    (mlp_weights(), {"kind": "lif", "threshold": 1.0}, {}, "dv"),
    (mlp_weights(), {**LIF, "dv": 5000}, {}, r"layer 0 neuron: LIF\.dv"),
    (mlp_weights(), [LIF, LIF], {}, "2 neuron dicts for 3 layers"),
    (mlp_weights(), LIF, {"output": "all"}, "output"),
    ([np.zeros(4, np.int8)], LIF, {}, "2-D"),
])
def test_builder_errors(weights, neuron, kw, match):
    with pytest.raises(IRError, match=match):
        lif_network(weights, neuron, **kw)


def _with_meta(g: Graph, meta) -> Graph:
    return Graph(g.nodes, g.params, g.inputs, g.outputs, meta)


@pytest.mark.parametrize("meta, match", [
    ({"network": {"dt": None}}, "network.inputs is missing"),
    ({"network": {"inputs": 0}}, "network.inputs"),
    ({"network": {"inputs": "24"}}, "network.inputs"),
    ({"network": {"inputs": 24, "dt": -1.0}}, "network.dt"),
    ({"network": {"inputs": 24, "dt": "1ms"}}, "network.dt"),
    ({"network": {"inputs": 24, "source": 3}}, "network.source"),
    ({"network": [24]}, "network must be an object"),
    ({"network": {"inputs": 24}, "config": {"d_model": 1, "n_layer": 1, "vocab_size": 2}},
     "both config"),
    ({"network": {"inputs": 25}}, "layers.0.synapse"),
])
def test_network_metadata_is_checked(meta, match):
    g = lif_network(mlp_weights(), LIF)
    with pytest.raises(IRError, match=match):
        _with_meta(g, meta).verify()


def test_metadata_schema_still_guards_token_models():
    verify_metadata({"network": {"inputs": 3, "dt": 0.001, "source": "x"}})
    verify_metadata({"config": {"d_model": 4, "n_layer": 1, "vocab_size": 8}})
    with pytest.raises(IRError, match="config.d_model"):
        verify_metadata({"config": {"n_layer": 1, "vocab_size": 8}})
    g = lif_network(mlp_weights(), LIF)
    two = Graph(g.nodes, g.params, ("spikes", "more"), g.outputs, g.metadata)
    with pytest.raises(IRError, match="one input"):
        two.verify()


def test_network_onnx_round_trip_and_bad_metadata_on_load(tmp_path):
    import onnx
    g = lif_network(mlp_weights(), [LIF, {**LIF, "kind": "cubalif", "du": 7},
                                    {**LIF, "fixed_point": True}], output="both")
    path = serde.save(g, tmp_path / "net.onnx")
    back = serde.load(path)
    assert [n.op for n in back.nodes] == [n.op for n in g.nodes]
    assert back.metadata == g.metadata and back.outputs == g.outputs
    x = spikes(30, 24)
    a, b = NumpyExecutor(g).run_steps(x), NumpyExecutor(back).run_steps(x)
    assert all(np.array_equal(p, q) for p, q in zip(a.outputs, b.outputs))
    m = onnx.load(str(path))
    assert [d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim] == [24]
    for p in m.metadata_props:
        if p.key == "snncompile.metadata":
            p.value = json.dumps({"network": {"inputs": -1}})
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(m.SerializeToString())
    with pytest.raises(IRError, match="network.inputs"):
        serde.load(bad)


# -- snncompile run --input --------------------------------------------------------------------
@pytest.fixture(scope="module")
def net_files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("net")
    g = lif_network(mlp_weights(), LIF, output="both")
    serde.save(g, tmp / "net.onnx")
    x = spikes(40, 24)
    np.save(tmp / "x.npy", x)
    return tmp, g, x


def test_cli_run_input_writes_outputs_and_json(net_files):
    tmp, g, x = net_files
    out, js = tmp / "y.npy", tmp / "run.json"
    res = CliRunner().invoke(main, ["run", str(tmp / "net.onnx"), "--input", str(tmp / "x.npy"),
                                    "-o", str(out), "--json", str(js), "--device", "cpu"])
    assert res.exit_code == 0, res.output
    want = NumpyExecutor(g).run_steps(x)
    y = np.load(out)
    assert y.shape == (40, 6) and np.array_equal(y, want.outputs[0])
    doc = json.loads(js.read_text())
    assert doc["format"] == "snncompile-run-steps/1" and doc["steps"] == 40
    assert doc["inputs"] == 24
    assert doc["outputs"][0] == {"name": "layers.2.s", "shape": [40, 6], "dtype": "int64"}
    assert [lay["spikes"] for lay in doc["spikes_per_layer"]] == \
        [want.counters.node(f"layers.{i}.neuron").counts.spikes for i in range(3)]
    assert {n["name"]: n["acs"] for n in doc["nodes"]} == \
        {n.name: n.counts.acs for n in want.counters.nodes}
    assert doc["total"]["spikes"] == want.counters.total("spikes")
    assert doc["per_step"]["spikes"] == pytest.approx(doc["total"]["spikes"] / 40)
    res = CliRunner().invoke(main, ["run", str(tmp / "net.onnx"), "--input", str(tmp / "x.npy"),
                                    "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["steps"] == 40


def _bad_inputs(tmp):
    np.save(tmp / "wide.npy", np.zeros((5, 25), np.int64))
    np.save(tmp / "flat.npy", np.zeros(24, np.int64))
    np.save(tmp / "neg.npy", -np.ones((5, 24), np.int64))
    np.save(tmp / "frac.npy", np.full((5, 24), 0.5))
    good = (tmp / "x.npy").read_bytes()
    (tmp / "trunc.npy").write_bytes(good[:len(good) // 2])
    (tmp / "text.npy").write_text("1 2 3\n")
    np.savez(tmp / "arch.npz", x=np.zeros((5, 24)))
    return {"wide": "25 columns", "flat": "2-D", "neg": "negative", "frac": "non-integer",
            "trunc": "not a readable .npy", "text": "not a readable .npy",
            "arch": "not a readable .npy|not a .npy array", "missing": "no such file"}


def test_cli_run_input_errors_are_one_line_and_write_nothing(net_files):
    tmp, _g, _x = net_files
    for name, msg in _bad_inputs(tmp).items():
        src = tmp / (f"{name}.npz" if name == "arch" else f"{name}.npy")
        out, js = tmp / f"out-{name}.npy", tmp / f"out-{name}.json"
        res = CliRunner().invoke(main, ["run", str(tmp / "net.onnx"), "--input", str(src),
                                        "-o", str(out), "--json", str(js)])
        assert res.exit_code == 2, (name, res.output)
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:"), (name, res.stderr)
        assert re.search(msg, lines[0]), (name, lines[0])
        assert not out.exists() and not js.exists(), name


def test_cli_input_and_prompt_go_to_their_own_models(net_files, tmp_path):
    tmp, _g, _x = net_files
    tok = tmp_path / "tok.onnx"
    serde.save(example_graphs()["lif"], tok)
    cases = [
        (["run", str(tok), "--input", str(tmp / "x.npy"), "-o", str(tmp_path / "y.npy")],
         "token model"),
        (["run", str(tmp / "net.onnx"), "--prompt", "hi"], "time-stepped network"),
        (["run", str(tmp / "net.onnx"), "--input", str(tmp / "x.npy"), "--prompt", "hi"],
         "not both"),
        (["run", str(tmp / "net.onnx"), "-o", str(tmp_path / "y.npy")], "needs --input"),
        (["run", str(tmp / "net.onnx"), "--input", str(tmp / "x.npy"),
          "-o", str(tmp / "x.npy")], "destroy the input"),
    ]
    for args, msg in cases:
        res = CliRunner().invoke(main, args)
        assert res.exit_code == 2 and msg in res.stderr, (args, res.output)
        assert len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "y.npy").exists()
    assert np.load(tmp / "x.npy").shape == (40, 24)


def test_cli_inspect_reads_a_network(net_files):
    tmp, g, _x = net_files
    res = CliRunner().invoke(main, ["inspect", str(tmp / "net.onnx"), "--json"])
    assert res.exit_code == 0, res.output
    rows = {r["name"]: r for r in json.loads(res.stdout)["nodes"]}
    assert rows["layers.0.synapse"]["D"] == 1 and rows["layers.2.neuron"]["op"] == "LIF"
    assert rows["layers.1.neuron"]["acs"] == 0
