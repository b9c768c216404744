"""Convolutional NIR networks (docs/nir.md, "Convolutions"): the Conv1d / Conv2d / SumPool2d ops
against torch's own functions, snnTorch and Norse convolutional networks imported and compared
spike for spike with the frameworks' own simulations, a Conv1d network and a SumPool2d network
built from nir objects (with a Flatten to and from multi-dim) compared with an independent
torch loop, round trips NIR -> snncompile -> NIR, and the lowering of conv nets onto loihi1
(unrolled connections, placement by connections, the lowered graph spikes as the original)."""

from __future__ import annotations

import dataclasses
import json

import nir
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from snncompile.backends.accum.hardware import HardwareSpec
from snncompile.backends.accum.network import lower_network, place_network, unroll_synapses
from snncompile.backends.reference.interpreter import ReferenceInterpreter
from snncompile.errors import IRError
from snncompile.ir import serde
from snncompile.ir.conv_ops import Conv1d, Conv2d, SumPool2d
from snncompile.ir.graph import Graph, Node
from snncompile.nir import export_nir, import_nir
from snncompile.simulator.executor import NumpyExecutor
from cli_helpers import cli_ok
from nir_conv_helpers import (leaky_loop, round_trip_leaves, snntorch_conv_net,
                                    snntorch_run, spikes)

DT = 1e-4


def _ref(graph, x):
    return ReferenceInterpreter(graph, device="cpu").run_steps(x)


# -- the ops ---------------------------------------------------------------------------------

OPS = [
    (Conv2d(input_shape=(4, 7, 6), kernel=(3, 2), stride=(2, 1), padding=(1, 2), dilation=(1, 2),
            c_out=6, groups=2, has_bias=True), F.conv2d),
    (Conv1d(input_shape=(3, 11), kernel=(3,), stride=(2,), padding=(2,), dilation=(2,), c_out=2,
            groups=1, has_bias=False), F.conv1d),
    (SumPool2d(input_shape=(3, 5, 6), kernel=(2, 3), stride=(2, 2), padding=(1, 0)), None),
]


@pytest.mark.parametrize("op,fn", OPS, ids=lambda o: getattr(o, "op_type", ""))
def test_op_matches_torch_unrolled_numpy_and_serde(op, fn, tmp_path):
    """The reference runner = torch's conv (or a sum pool: avg_pool2d with divisor 1) on the
    reshaped vector; the unrolled matrix and `apply_numpy` give the same values; the op
    survives ONNX save/load."""
    rng = np.random.default_rng(0)
    op = dataclasses.replace(op, spiking=True)     # a network's input is its spike vector
    params = {}
    if op.op_type != "SumPool2d":
        params["weight"] = rng.standard_normal(op.weight_shape())
        if op.has_bias:
            params["bias"] = rng.standard_normal(op.c_out)
    g = Graph([Node("c", op, ("x",), ("y",), {r: f"c.{r}" for r in params})],
              {f"c.{r}": a for r, a in params.items()}, ("x",), ("y",),
              {"network": {"inputs": op.d_in}})
    g.verify()
    x = rng.standard_normal(op.d_in)
    xt = torch.tensor(x).reshape(1, *op.input_shape)
    if fn is None:
        want = F.avg_pool2d(xt, op.kernel, op.stride, op.padding, divisor_override=1)
    else:
        want = fn(xt, torch.tensor(params["weight"]),
                  torch.tensor(params["bias"]) if op.has_bias else None,
                  stride=op.stride, padding=op.padding, dilation=op.dilation, groups=op.groups)
    want = want.reshape(-1).numpy()
    interp = ReferenceInterpreter(g, device="cpu")
    run = getattr(interp, f"run_{op.op_type}")
    got = interp.to_numpy(run(g.nodes[0], [torch.tensor(x)], {})[0])
    assert got.shape == (op.d_out,) and op.d_out == want.size
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    M, C = op.unrolled(params)
    bias = np.repeat(params["bias"], op.d_out // op.c_out) if "bias" in params else 0
    np.testing.assert_allclose(M @ x + bias, want, atol=1e-12)
    np.testing.assert_allclose(op.apply_numpy(x, params), want, atol=1e-12)
    assert C.dtype == np.uint8 and int(C.sum()) == op.connections()
    np.testing.assert_array_equal(op.fan_out(), C.sum(axis=0))
    serde.save(g, tmp_path / "g.onnx")
    back = serde.load(tmp_path / "g.onnx")
    assert back.nodes[0].op == op


def test_spike_input_counts_the_connections_reached():
    """On spikes the synaptic events (acs) are the connections the spikes reach: sum over the
    spiking inputs of their fan-out, border inputs reaching fewer outputs."""
    op = Conv2d(input_shape=(1, 4, 4), kernel=(3, 3), stride=(1, 1), padding=(1, 1),
                dilation=(1, 1), c_out=2, spiking=True)
    W = np.ones(op.weight_shape())
    g = Graph([Node("c", op, ("spikes",), ("y",), {"weight": "c.weight"})], {"c.weight": W},
              ("spikes",), ("y",), {"network": {"inputs": 16}})
    x = np.zeros((2, 16), np.int64)
    x[0, 0] = 1            # a corner: 4 taps per output channel
    x[1, 5] = 2            # an inner pixel, 2 spikes: 9 taps per channel, twice
    r = _ref(g, x)
    c = r.counters.nodes[0].counts
    assert c.acs == 2 * 4 + 2 * 2 * 9 and c.input_spikes == 3
    np.testing.assert_array_equal(r.outputs[0].sum(0), (op.unrolled({"weight": W})[0]
                                                         @ x.sum(0)))


def test_conv_op_errors():
    with pytest.raises(IRError, match="groups 3 must divide"):
        Conv2d(input_shape=(4, 5, 5), kernel=(3, 3), stride=(1, 1), padding=(0, 0),
               dilation=(1, 1), c_out=6, groups=3).verify()
    with pytest.raises(IRError, match="does not fit the input"):
        SumPool2d(input_shape=(1, 2, 2), kernel=(3, 3), stride=(1, 1), padding=(0, 0)).verify()
    with pytest.raises(IRError, match="kernel must have 1 entries"):
        Conv1d(input_shape=(1, 5), kernel=(3, 3), stride=(1,), padding=(0,), dilation=(1,),
               c_out=1).verify()


# -- snnTorch --------------------------------------------------------------------------------

def test_snntorch_conv_net_identical(tmp_path):
    """snnTorch Conv2d -> Leaky(zero, beta 0.875) -> AvgPool2d -> Flatten -> Linear ->
    Leaky, exported by snnTorch: imported as Conv2d, LIF (dv 512, 12-bit exact), SumPool2d,
    Scale 1/4, Linear, LIF; the spike trains equal snnTorch's own (float64)."""
    net, shape = snntorch_conv_net()
    path = tmp_path / "conv.nir"
    from snntorch.export_nir import export_to_nir
    nir.write(path, export_to_nir(net, torch.zeros(1, *shape), ignore_dims=[0]))
    g = import_nir(path, DT, source="snntorch")
    assert [n.op_type for n in g.nodes] == ["Conv2d", "LIF", "SumPool2d", "Scale", "Linear",
                                            "LIF"]
    assert g.nodes[1].op.dv == 512 and g.nodes[1].op.d == 4 * 6 * 6
    assert g.nodes[0].op.spiking and g.nodes[2].op.spiking
    x = spikes(int(np.prod(shape)), seed=1)
    want = snntorch_run(net, x, shape)
    assert want.sum() > 20 and (want == 0).sum() > 20
    np.testing.assert_array_equal(_ref(g, x).outputs[0], want)


def test_snntorch_conv_round_trip(tmp_path):
    """NIR (snnTorch) -> snncompile -> NIR: nir.read (type-checked) accepts the file, a Flatten
    stands where the value changes rank, the AvgPool2d comes back, the parameters equal the
    original's (float32: 1e-6 relative), and the re-import spikes alike."""
    net, shape = snntorch_conv_net()
    from snntorch.export_nir import export_to_nir
    nir.write(tmp_path / "a.nir", export_to_nir(net, torch.zeros(1, *shape), ignore_dims=[0]))
    g = import_nir(tmp_path / "a.nir", DT)
    export_nir(g, tmp_path / "b.nir")
    a, b = nir.read(tmp_path / "a.nir"), nir.read(tmp_path / "b.nir", type_check=True)
    round_trip_leaves(a, b, rtol=1e-6)
    x = spikes(int(np.prod(shape)), seed=2)
    np.testing.assert_array_equal(_ref(import_nir(tmp_path / "b.nir", DT), x).outputs[0],
                                  _ref(g, x).outputs[0])


# -- Norse -----------------------------------------------------------------------------------

def test_norse_conv_net_identical():
    """Norse Conv2d -> LIFBoxCell (per-channel parameters, shape (C, 1, 1)) -> Conv2d ->
    LIFBoxCell, exported with norse.torch.to_nir (input with its batch axis, conv nodes without
    input_shape; nir.write cannot write those, so the graph is imported as it is): with --dt =
    dt_norse^2 (tests/test_nir_norse.py) the spike trains equal Norse's."""
    nt = pytest.importorskip("norse.torch", reason="norse is not installed (docs/nir.md)")
    from norse.torch.utils.export_nir import to_nir
    dtn = 1e-3

    def p(shape, tau_inv):
        return nt.LIFBoxParameters(tau_mem_inv=torch.full(shape, tau_inv),
                                   v_th=torch.full(shape, 0.3), v_leak=torch.zeros(shape),
                                   v_reset=torch.zeros(shape))
    torch.manual_seed(0)
    net = nt.SequentialState(torch.nn.Conv2d(1, 2, 3),
                             nt.LIFBoxCell(p((2, 1, 1), 100.0)),
                             torch.nn.Conv2d(2, 2, 3, padding=1),
                             nt.LIFBoxCell(p((2, 1, 1), 200.0)))
    with torch.no_grad():
        net[0].weight.mul_(10)
        net[2].weight.mul_(10)
        net[0].bias.fill_(0.05)
        net[1].p.tau_mem_inv[1] = 150.0          # per channel: channel 1 leaks differently
    g = import_nir(to_nir(net, torch.zeros(1, 1, 6, 6), dt=dtn), dtn ** 2, source="norse")
    assert [n.op_type for n in g.nodes] == ["Conv2d", "EulerNeuron", "Conv2d", "EulerNeuron"]
    alpha = g.params[g.nodes[1].params["alpha_v"]]
    np.testing.assert_allclose(alpha, np.repeat([1 - dtn * 100.0, 1 - dtn * 150.0], 16),
                               rtol=1e-6)
    x = spikes(36, seed=3, T=200)
    net = net.double()
    state, out = None, []
    with torch.no_grad():
        for row in x:
            z, state = net(torch.from_numpy(row.reshape(1, 1, 6, 6).astype(np.float64)), state)
            out.append(z[0].reshape(-1).numpy().astype(np.int64))
    want = np.stack(out)
    assert want.sum() > 20 and (want == 0).sum() > 20
    np.testing.assert_array_equal(_ref(g, x).outputs[0], want)
    # Norse's defaults lower as they are: conv biases become the layers' input biases, the
    # per-channel neurons EulerNeuron layers; the simulator spikes as the lowered reference
    from snncompile.simulator.stepped import simulate_steps
    prog = lower_network(g, HardwareSpec.load("loihi1"))
    assert [n.op_type for n in prog.graph.nodes].count("Bias") == 2
    ours = simulate_steps(prog, x).outputs[0]
    np.testing.assert_array_equal(ours, NumpyExecutor(prog.graph).run_steps(x).outputs[0])
    assert (ours == want).mean() > 0.9


# -- nir-built Conv1d and SumPool2d networks --------------------------------------------------

def _lif(shape, thr=1.5):
    return nir.LIF(tau=np.full(shape, 8e-4), r=np.full(shape, 8e-4 / DT),
                   v_leak=np.zeros(shape), v_threshold=np.full(shape, thr),
                   v_reset=np.zeros(shape))


def conv1d_graph(seed=0):
    """Input (2, 3, 8) -> Flatten(1..2) -> (2, 24) -> Conv1d (3 out, k 3, stride 2, padding 1,
    dilation 2) -> LIF per channel ((3,): broadcast) -> Flatten -> Linear -> LIF."""
    rng = np.random.default_rng(seed)
    w = rng.integers(-2, 4, (3, 2, 3)).astype(np.float64)
    conv = nir.Conv1d(input_shape=24, weight=w, stride=2, padding=1, dilation=2, groups=1,
                      bias=np.zeros(3))
    L = conv.output_type["output"][1]
    lin = rng.integers(-1, 3, (4, 3 * L)).astype(np.float64)
    lif0 = nir.LIF(tau=np.full(3, 8e-4), r=np.full(3, 8.0), v_leak=np.zeros(3),
                   v_threshold=np.array([1.5, 2.5, 1.5]), v_reset=np.zeros(3))
    return nir.NIRGraph(nodes={
        "input": nir.Input(input_type=np.array([2, 3, 8])),
        "f0": nir.Flatten(input_type={"input": np.array([2, 3, 8])}, start_dim=1, end_dim=2),
        "conv": conv, "lif0": lif0,
        "f1": nir.Flatten(input_type={"input": np.array([3, L])}, start_dim=0, end_dim=-1),
        "lin": nir.Linear(weight=lin), "lif1": _lif(4),
        "output": nir.Output(output_type=np.array([4]))},
        edges=[("input", "f0"), ("f0", "conv"), ("conv", "lif0"), ("lif0", "f1"),
               ("f1", "lin"), ("lin", "lif1"), ("lif1", "output")],
        type_check=False), w, lin          # (nir's type check wants per-element shapes)


def pool_graph(seed=0, bias=False, int8=False):
    """Input (2, 6, 6) -> Conv2d (3 out, k 3, padding 1) -> LIF (per element, all equal) ->
    SumPool2d (2, 2) -> Flatten -> Linear -> LIF; integer weights. `int8`: weights times 40
    and a 127 in every row of each layer's unrolled matrix (the always-inside centre tap of
    input channel 0; column 0 of the Linear), so that the int8 quantization of the lowering is
    exact (every scale max|row| / 127 = 1)."""
    rng = np.random.default_rng(seed)
    w = rng.integers(-1, 3, (3, 2, 3, 3)).astype(np.float64)
    lin = rng.integers(-2, 3, (5, 27)).astype(np.float64)
    thr = 1.5
    if int8:
        w, lin, thr = w * 40, lin * 40, 60.5
        w[:, 0, 1, 1] = 127
        lin[:, 0] = 127
    return nir.NIRGraph(nodes={
        "input": nir.Input(input_type=np.array([2, 6, 6])),
        "conv": nir.Conv2d(input_shape=(6, 6), weight=w, stride=1, padding=1, dilation=1,
                           groups=1, bias=np.full(3, 0.5) if bias else np.zeros(3)),
        "lif0": _lif((3, 6, 6), thr),
        "pool": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                              padding=np.array([0, 0])),
        "flat": nir.Flatten(input_type={"input": np.array([3, 3, 3])}, start_dim=0, end_dim=-1),
        "lin": nir.Linear(weight=lin), "lif1": _lif(5, thr),
        "output": nir.Output(output_type=np.array([5]))},
        edges=[("input", "conv"), ("conv", "lif0"), ("lif0", "pool"), ("pool", "flat"),
               ("flat", "lin"), ("lin", "lif1"), ("lif1", "output")]), w, lin


def test_conv1d_network_matches_a_torch_loop(tmp_path):
    """The Conv1d network (with a Flatten to 2-D and one to 1-D) against a plain torch loop:
    F.conv1d on the (2, 24) input, LIF v <- 0.875 v + x, s = v > thr, v <- 0 on a spike."""
    g_nir, w, lin = conv1d_graph()
    nir.write(tmp_path / "c1.nir", g_nir)
    g = import_nir(tmp_path / "c1.nir", DT)
    assert [n.op_type for n in g.nodes] == ["Conv1d", "EulerNeuron", "SpikedLinear", "LIF"]
    assert g.nodes[0].op.input_shape == (2, 24)
    x = spikes(48, seed=4)

    def syn0(s):
        return F.conv1d(s.reshape(1, 2, 24), torch.tensor(w), stride=2, padding=1,
                        dilation=2).reshape(-1)
    thr0 = torch.repeat_interleave(torch.tensor([1.5, 2.5, 1.5], dtype=torch.float64),
                                   g.nodes[0].op.output_shape[1])
    want = leaky_loop(x, [(syn0, thr0), (lambda s: torch.tensor(lin) @ s, 1.5)], 0.875)
    assert want.sum() > 20 and (want == 0).sum() > 20
    np.testing.assert_array_equal(_ref(g, x).outputs[0], want)
    export_nir(g, tmp_path / "back.nir")
    b = nir.read(tmp_path / "back.nir", type_check=True)
    round_trip_leaves(nir.read(tmp_path / "c1.nir", type_check=False), b, rtol=1e-12,
                      per_channel=True)


def test_sumpool_network_matches_a_torch_loop(tmp_path):
    """Conv2d -> LIF -> SumPool2d -> Flatten -> Linear -> LIF (nir objects) against a torch
    loop (avg_pool2d with divisor 1 as the sum); shared LIF parameters give LIF ops."""
    g_nir, w, lin = pool_graph()
    nir.write(tmp_path / "p.nir", g_nir)
    g = import_nir(tmp_path / "p.nir", DT)
    assert [n.op_type for n in g.nodes] == ["Conv2d", "LIF", "SumPool2d", "Linear", "LIF"]
    x = spikes(72, seed=5)

    def syn0(s):
        return F.conv2d(s.reshape(1, 2, 6, 6), torch.tensor(w), padding=1).reshape(-1)

    def syn1(s):
        pooled = F.avg_pool2d(s.reshape(1, 3, 6, 6), 2, divisor_override=1).reshape(-1)
        return torch.tensor(lin) @ pooled
    want = leaky_loop(x, [(syn0, 1.5), (syn1, 1.5)], 0.875)
    assert want.sum() > 20 and (want == 0).sum() > 20
    np.testing.assert_array_equal(_ref(g, x).outputs[0], want)
    export_nir(g, tmp_path / "back.nir")
    round_trip_leaves(nir.read(tmp_path / "p.nir"), nir.read(tmp_path / "back.nir"),
                      rtol=1e-12)


def test_import_errors_name_the_node():
    g, _w, _l = pool_graph()
    g.nodes["conv"] = nir.Conv2d(input_shape=(5, 5), weight=np.ones((3, 2, 3, 3)), stride=1,
                                 padding=1, dilation=1, groups=1, bias=np.zeros(3))
    with pytest.raises(IRError, match=r"node 'conv' \(Conv2d\): its input shape \[2, 5, 5\]"):
        import_nir(g, DT)
    g, _w, _l = pool_graph()
    g.nodes["conv"] = nir.Conv2d(input_shape=(6, 6), weight=np.ones((3, 2, 2, 2)), stride=1,
                                 padding="same", dilation=1, groups=1, bias=np.zeros(3))
    with pytest.raises(IRError, match=r"node 'conv' \(Conv2d\): padding 'same'"):
        import_nir(g, DT)


# -- lowering --------------------------------------------------------------------------------

def _expected_connections(g):
    """Connection masks of the imported graph's synapse stages, composed per layer."""
    conv, pool = g.nodes[0].op, g.nodes[2].op
    c0 = conv.unrolled({"weight": g.params[g.nodes[0].params["weight"]]})[1]
    c1 = (np.ones((5, 27), np.int64) @ pool.unrolled()[1].astype(np.int64)) > 0
    return c0, c1


def test_cli_lower_conv_net_places_connections_and_spikes_alike(tmp_path):
    """`nir import` -> `lower --hw loihi1` -> the program: the conv layer is a SpikedLinear
    with "connections" = the kernel taps (zero weights included); the pool + Linear layer
    composes to a dense one (no role); placement.json's synapse counts equal the connections;
    the lowered graph on the reference and the simulator spike as the imported one."""
    g_nir, w, _lin = pool_graph(seed=1, int8=True)
    nir.write(tmp_path / "p.nir", g_nir)
    x = spikes(72, seed=6)
    np.save(tmp_path / "x.npy", x)
    ok = cli_ok
    ok("nir", "import", tmp_path / "p.nir", "-o", tmp_path / "net.onnx", "--dt", DT)
    ok("run", tmp_path / "net.onnx", "--input", tmp_path / "x.npy", "-o", tmp_path / "y.npy")
    ok("lower", tmp_path / "net.onnx", "--hw", "loihi1", "-o", tmp_path / "prog")
    ok("run", tmp_path / "prog", "--input", tmp_path / "x.npy", "-o", tmp_path / "yr.npy")
    y, yr = np.load(tmp_path / "y.npy"), np.load(tmp_path / "yr.npy")
    assert y.sum() > 20 and (y == 0).sum() > 20
    np.testing.assert_array_equal(yr, y)
    g = import_nir(tmp_path / "p.nir", DT)
    c0, c1 = _expected_connections(g)
    assert (w == 0).any()                          # zero weights are still connections
    assert int(c0.sum()) == 3 * 2 * 16 * 16      # (2 + 3 * 4 + 2)^2 taps inside 6 x 6, per pair
    low = serde.load(tmp_path / "prog" / "graph.onnx")
    syn0, syn1 = low.nodes[0], low.nodes[2]
    assert syn0.op.sparse and syn0.op.weight_bits == 8
    np.testing.assert_array_equal(low.params[syn0.params["connections"]], c0)
    assert not (low.params[syn0.params["weight"]][c0 == 0]).any()
    assert c1.all() and not syn1.op.sparse and "connections" not in syn1.params
    place = json.loads((tmp_path / "prog" / "placement.json").read_text())
    assert sum(place["layers"][0]["synapses"]) == int(c0.sum())
    assert sum(place["layers"][1]["synapses"]) == 5 * 108
    ok("simulate", tmp_path / "prog", "--input", tmp_path / "x.npy", "-o", tmp_path / "ys.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "ys.npy"), y)
    # the synaptic events: the conv's on the imported graph = the sparse layer's on the lowered
    # one = the connections the input spikes reach
    ev = int((x @ c0.sum(axis=0).astype(np.int64)).sum())
    assert _ref(g, x).counters.nodes[0].counts.acs == ev
    assert _ref(low, x).counters.nodes[0].counts.acs == ev
    # the simulator counts the same events, and sends no message to a core where a spike
    # reaches no synapse (fewer messages than one per spike and tile of its chunk)
    ok("simulate", tmp_path / "prog", "--input", tmp_path / "x.npy", "-o", tmp_path / "ys.npy",
       "--json", tmp_path / "sim.json")
    sim = json.loads((tmp_path / "sim.json").read_text())
    node0 = next(n for n in sim["nodes"] if n["name"] == syn0.name)
    assert node0["acs"] == ev
    from snncompile.backends import load_program
    from snncompile.simulator.stepped import SteppedNetwork
    net = SteppedNetwork(load_program(tmp_path / "prog"))
    t0 = np.flatnonzero(net.fan_off >= 0)
    assert t0.size and (net.fan_flat >= 0).all()
    run = net.run(x)
    lp = net.program.placement.layers[0]
    # one message per input spike and tile holding at least one of that input's synapses
    # (the layer is one chunk: every tile covers all its inputs)
    msgs = sum(int(x[:, c0[a:b].sum(axis=0) > 0].sum()) for (_c, a, b, _k, _h) in lp.tiles)
    assert run.counters.nodes[0].counts.spike_messages == msgs
    assert load_program(tmp_path / "prog").report()["layers"][0]["synapses"] == int(c0.sum())


def test_placement_packs_by_connections():
    """With little weight memory a core takes as many conv neurons as their connections fit:
    more than the dense bound rows x columns allows, never more than its memory holds."""
    g_nir, _w, _l = pool_graph(seed=1)
    g = unroll_synapses(import_nir(g_nir, DT))
    hw = dataclasses.replace(HardwareSpec.load("loihi1"), weight_sram_bytes=300)
    place = place_network(g, hw)
    lp = place.layers[0]
    conn = g.params[g.nodes[0].params["connections"]]
    dense_k = 300 * 8 // (72 * hw.weight_bits)
    assert max(t[2] - t[1] for t in lp.tiles) > dense_k
    assert all(s * hw.weight_bits <= 300 * 8 for s in lp.synapses)
    assert sum(lp.synapses) == int(conn.sum())
    for (_ch, c0, c1, core, _home), s in zip(lp.tiles, lp.synapses):
        assert s == int(conn[c0:c1].sum())
        assert (lp.neuron_core[c0:c1] == core).all()
    prog = lower_network(import_nir(g_nir, DT), hw)
    assert prog.placement.layers[0].synapses == lp.synapses
    # simulated on these tiles: events = connections reached; a spike goes only to the
    # tiles that hold one of its synapses (fewer messages than spikes x tiles)
    from snncompile.simulator.stepped import SteppedNetwork
    x = spikes(72, seed=3)
    run = SteppedNetwork(prog).run(x)
    c = run.counters.nodes[0].counts
    assert c.acs == int((x @ conn.sum(axis=0).astype(np.int64)).sum())
    msgs = sum(int(x[:, conn[a:b].sum(axis=0) > 0].sum()) for (_c, a, b, _k, _h) in lp.tiles)
    assert len(lp.tiles) > 1 and c.spike_messages == msgs < int(x.sum()) * len(lp.tiles)


def test_a_conv_bias_lowers_as_the_layers_input_bias():
    """A conv's bias (per channel) is composed with the stages after it into one Bias node
    before the neurons (bias_total = A_k ... A_2 b_1 + ... + b_k); the simulator spikes as
    the reference runs the lowered graph."""
    g_nir, _w, _l = pool_graph(bias=True)
    prog = lower_network(import_nir(g_nir, DT), HardwareSpec.load("loihi1"))
    biases = [n for n in prog.graph.nodes if n.op_type == "Bias"]
    assert len(biases) == 1 and biases[0].outputs[0] == prog.graph.nodes[2].inputs[0]
    assert np.abs(prog.graph.params[biases[0].params["bias"]]).max() > 0
    from snncompile.simulator.stepped import simulate_steps
    x = spikes(72, seed=5)
    ours = simulate_steps(prog, x)
    ref = NumpyExecutor(prog.graph).run_steps(x)
    for a, b in zip(ours.outputs, ref.outputs):
        np.testing.assert_array_equal(a, b)
    assert ours.outputs[0].sum() > 0
