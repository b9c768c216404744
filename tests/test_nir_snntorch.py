"""Networks built in snnTorch, exported with its own NIR exporter (snntorch.export_nir),
imported, run on the same input spike trains by the reference and the NumPy executor, and
compared with snnTorch's own simulation (docs/nir.md, "Checked against snnTorch").

snnTorch runs in float64 here (its modules cast with .double()), so where the discretisations
agree the spike trains are identical, not merely close. snnTorch's exporter writes a NIR LIF
with v_reset = 0 whatever the reset_mechanism; its "subtract" is imported with
reset="subtract_next" (the threshold subtracted at the next step, as snnTorch does)."""

from __future__ import annotations

import nir
import numpy as np
import pytest
import snntorch as snn
import torch
from snntorch import utils
from snntorch.export_nir import export_to_nir

from snncompile.backends.reference.interpreter import ReferenceInterpreter
from snncompile.nir import export_nir, import_nir
from snncompile.simulator.executor import NumpyExecutor

DT = 1e-4  # the time step snnTorch's exporter assumes (tau = dt / (1 - beta))
N_IN, T = 8, 200


def _leaky(d, beta, reset, **kw):
    # per-neuron beta and threshold: snnTorch's exporter cannot type a scalar-parameter layer
    return snn.Leaky(beta=torch.full((d,), beta), threshold=torch.ones(d), init_hidden=True,
                     reset_mechanism=reset, **kw)


def _spikes(seed=0, p=0.3):
    return (np.random.default_rng(seed).random((T, N_IN)) < p).astype(np.int64)


def _scale_weights(net, k=3.0):
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.Linear):
                m.weight.mul_(k)


def _snntorch_run(net, x, rec=None):
    """snnTorch's own simulation in float64: output spikes (T, d)."""
    utils.reset(net)
    net = net.double()
    out = []
    with torch.no_grad():
        for row in x:
            o = torch.from_numpy(row[None].astype(np.float64))
            if rec is not None and isinstance(getattr(rec, "spk", None), torch.Tensor):
                rec.spk = rec.spk.double()  # RLeaky keeps its last spikes in float32
            for m in (net if isinstance(net, torch.nn.Sequential) else [net]):
                o = m(o.double())
                if isinstance(o, tuple):
                    o = o[0]
            out.append(o[0].numpy().astype(np.int64))
    return np.stack(out)


def _export(net, path):
    g = export_to_nir(net, torch.zeros(1, N_IN), ignore_dims=[0])
    nir.write(path, g)
    return path


def _ours(graph, x):
    ref = ReferenceInterpreter(graph, device="cpu").run_steps(x).outputs[0]
    npy = NumpyExecutor(graph).run_steps(x).outputs[0]
    np.testing.assert_array_equal(ref, npy)
    return ref


def _ff(reset, betas=(0.875, 0.75), bias=True):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(N_IN, 6, bias=bias), _leaky(6, betas[0], reset),
                              torch.nn.Linear(6, 4, bias=bias),
                              _leaky(4, betas[1], reset, output=True))
    _scale_weights(net)
    return net


class _Rec(torch.nn.Module):
    """Linear -> RLeaky (all-to-all recurrent Linear with bias, or one weight per neuron)."""

    def __init__(self, all_to_all=True):
        super().__init__()
        torch.manual_seed(1)
        self.fc = torch.nn.Linear(N_IN, 5)
        kw = dict(beta=torch.full((5,), 0.875), threshold=torch.ones(5), init_hidden=True,
                  reset_mechanism="subtract", output=True, all_to_all=all_to_all)
        self.lif = (snn.RLeaky(linear_features=5, **kw) if all_to_all
                    else snn.RLeaky(V=torch.rand(5), **kw))

    def forward(self, x):
        return self.lif(self.fc(x))[0]


def _synaptic(reset="subtract"):
    torch.manual_seed(2)
    net = torch.nn.Sequential(torch.nn.Linear(N_IN, 6),
                              snn.Synaptic(alpha=torch.full((6,), 0.75),
                                           beta=torch.full((6,), 0.875), threshold=torch.ones(6),
                                           init_hidden=True, output=True,
                                           reset_mechanism=reset))
    _scale_weights(net, 2.0)
    return net


def test_leaky_subtract_identical(tmp_path):
    """snn.Leaky(reset_mechanism="subtract") -> NIR -> import with reset "subtract_next":
    identical spike trains, for 12-bit betas and for betas that are not (exact float form)."""
    x = _spikes()
    for betas in ((0.875, 0.75), (0.9, 0.8)):
        net = _ff("subtract", betas)
        g = import_nir(_export(net, tmp_path / "ff.nir"), DT, source="snntorch",
                       reset="subtract_next")
        assert [n.op_type for n in g.nodes] == ["SpikedLinear", "Bias", "EulerNeuron"] * 2
        want = _snntorch_run(net, x)
        assert want.sum() > 10 and (want == 0).sum() > 10
        np.testing.assert_array_equal(_ours(g, x), want)
        assert g.metadata["network"] == {"inputs": N_IN, "dt": DT, "source": "snntorch"}


def test_leaky_zero_identical_as_lif_ops(tmp_path):
    """Leaky(reset_mechanism="zero") is NIR's own reset: with 12-bit betas the import gives
    the cores' LIF ops (dv = 4096 (1 - beta)) and identical spike trains."""
    net = _ff("zero", bias=False)
    g = import_nir(_export(net, tmp_path / "ff.nir"), DT)
    lifs = [n.op for n in g.nodes if n.op_type == "LIF"]
    assert [n.op_type for n in g.nodes] == ["SpikedLinear", "LIF"] * 2
    assert [op.dv for op in lifs] == [512, 1024] and all(op.reset == "zero" for op in lifs)
    x = _spikes(1)
    want = _snntorch_run(net, x)
    assert want.sum() > 10
    np.testing.assert_array_equal(_ours(g, x), want)


def test_leaky_12bit_decays_within_tolerance(tmp_path):
    """beta = 0.9 is no 12-bit fraction: --quantize-decays gives LIF ops with dv = 410
    (alpha = 0.89990234, |error| <= 2^-13); the spike trains then agree to within 2% of
    the (step, neuron) slots of snnTorch's, the tolerance docs/nir.md states."""
    net = _ff("zero", betas=(0.9, 0.85), bias=False)
    path = _export(net, tmp_path / "ff.nir")
    exact = import_nir(path, DT)
    assert [n.op_type for n in exact.nodes] == ["SpikedLinear", "EulerNeuron"] * 2
    q = import_nir(path, DT, quantize_decays=True)
    assert [n.op.dv for n in q.nodes if n.op_type == "LIF"] == [410, 614]
    x = _spikes(2, p=0.4)
    want = _snntorch_run(net, x)
    np.testing.assert_array_equal(_ours(exact, x), want)
    mismatch = float((_ours(q, x) != want).mean())
    assert mismatch <= 0.02


def test_leaky_subtract_read_as_the_file_says(tmp_path):
    """Without --reset the file's reset (to v_reset = 0) is used: that is snnTorch's "zero",
    not its "subtract", and the trains differ: the importer does not guess."""
    net = _ff("subtract")
    g = import_nir(_export(net, tmp_path / "ff.nir"), DT)
    x = _spikes(3)
    assert (_ours(g, x) != _snntorch_run(net, x)).any()
    zero = _ff("zero")
    np.testing.assert_array_equal(_ours(g, x), _snntorch_run(zero, x))


@pytest.mark.parametrize("all_to_all", [True, False])
def test_rleaky_identical(tmp_path, all_to_all):
    """snn.RLeaky -> NIR (a subgraph with a cycle lif -> w_rec -> lif) -> one recurrent
    EulerNeuron (w_rec, b_rec on the previous step's spikes): identical spike trains."""
    net = _Rec(all_to_all)
    g = import_nir(_export(net, tmp_path / "rec.nir"), DT, source="snntorch",
                   reset="subtract_next")
    neuron = g.nodes[-1]
    assert neuron.op_type == "EulerNeuron" and neuron.op.recurrent
    assert g.params[neuron.params["w_rec"]].shape == (5, 5)
    x = _spikes(4)
    want = _snntorch_run(net, x, rec=net.lif)
    assert want.sum() > 10 and (want == 0).sum() > 10
    np.testing.assert_array_equal(_ours(g, x), want)


def test_synaptic_identical(tmp_path):
    """snn.Synaptic (current-based) -> NIR CubaLIF -> EulerNeuron(current=True) with reset
    "subtract_next": identical spike trains. With the file's reset (to 0) and 12-bit alpha
    and beta the import gives the cores' CubaLIF op (du, dv from alpha, beta); that one is
    not compared with snnTorch's Synaptic "zero", which also drops the whole potential of
    the step after a spike (input included), a reset NIR cannot say (docs/nir.md)."""
    net = _synaptic()
    path = _export(net, tmp_path / "syn.nir")
    g = import_nir(path, DT, source="snntorch", reset="subtract_next")
    assert [n.op_type for n in g.nodes] == ["SpikedLinear", "Bias", "EulerNeuron"]
    assert g.nodes[-1].op.current
    x = _spikes(5)
    want = _snntorch_run(net, x)
    assert want.sum() > 10 and (want == 0).sum() > 10
    np.testing.assert_array_equal(_ours(g, x), want)
    cuba = import_nir(path, DT)
    assert cuba.nodes[-1].op_type == "CubaLIF"
    assert (cuba.nodes[-1].op.du, cuba.nodes[-1].op.dv) == (1024, 512)


@pytest.mark.parametrize("build, reset", [(lambda: _ff("subtract"), "subtract_next"),
                                          (lambda: _ff("zero", bias=False), None),
                                          (_synaptic, "subtract_next"),
                                          (_Rec, "subtract_next")])
def test_round_trip_nir_snncompile_nir(tmp_path, build, reset):
    """NIR (snnTorch's) -> snncompile -> NIR: nir.read accepts it (with its type check), the
    parameters are equal to float32 precision (rtol 1e-6: the file's own precision), node
    for node, and importing it again gives the same spike trains."""
    net = build()
    src = _export(net, tmp_path / "a.nir")
    g = import_nir(src, DT, reset=reset)
    export_nir(g, tmp_path / "b.nir")
    back = nir.read(tmp_path / "b.nir", type_check=True)
    orig = nir.read(src, type_check=False)
    want, got = _sorted_leaves(orig), _sorted_leaves(back)
    assert [type(n).__name__ for n in want] == [type(n).__name__ for n in got]
    for n, m in zip(want, got):
        for field, a in vars(n).items():
            if isinstance(a, np.ndarray):
                np.testing.assert_allclose(np.asarray(vars(m)[field], np.float64),
                                           np.asarray(a, np.float64), rtol=1e-6,
                                           err_msg=f"{type(n).__name__}.{field}")
    x = _spikes(6)
    g2 = import_nir(tmp_path / "b.nir", DT)
    np.testing.assert_array_equal(_ours(g2, x), _ours(g, x))


def _leaves(graph):
    for n in graph.nodes.values():
        if isinstance(n, nir.NIRGraph):
            yield from _leaves(n)
        elif not isinstance(n, (nir.Input, nir.Output)):
            yield n


def _sorted_leaves(graph):
    """The leaf nodes in a name-independent order: by type, then by their arrays' shapes."""
    def key(n):
        return (type(n).__name__, [a.shape for a in vars(n).values()
                                   if isinstance(a, np.ndarray)])
    return sorted(_leaves(graph), key=key)


def test_leaky_zero_imports_lowers_and_simulates(tmp_path):
    """snnTorch -> NIR -> `nir import` -> `run --input` (the snnTorch spike trains) ->
    `lower --hw loihi1` -> `simulate --input`: the simulator gives the reference's spikes on
    the lowered (int8) program."""
    from cli_helpers import cli_ok
    net = _ff("zero", bias=False)
    src = _export(net, tmp_path / "ff.nir")
    x = _spikes(7)
    np.save(tmp_path / "x.npy", x)
    ok = cli_ok
    ok("nir", "import", src, "-o", tmp_path / "net.onnx", "--dt", DT, "--source", "snntorch")
    ok("run", tmp_path / "net.onnx", "--input", tmp_path / "x.npy", "-o", tmp_path / "y.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), _snntorch_run(net, x))
    ok("lower", tmp_path / "net.onnx", "--hw", "loihi1", "-o", tmp_path / "prog")
    ok("run", tmp_path / "prog", "--input", tmp_path / "x.npy", "-o", tmp_path / "yr.npy")
    ok("simulate", tmp_path / "prog", "--input", tmp_path / "x.npy", "-o", tmp_path / "ys.npy",
       "--json", tmp_path / "sim.json")
    ys = np.load(tmp_path / "ys.npy")
    np.testing.assert_array_equal(ys, np.load(tmp_path / "yr.npy"))
    assert ys.sum() > 0
    ok("energy", "--from", tmp_path / "sim.json", "--preset", "loihi1")


@pytest.mark.parametrize("build", ["rleaky", "leaky_subtract_bias", "synaptic"])
def test_default_snntorch_networks_lower_and_simulate(tmp_path, build):
    """snnTorch's defaults (nn.Linear with a bias, reset by subtraction at the next step,
    RLeaky's recurrent Linear) import as EulerNeuron layers with a Bias and lower to loihi1:
    the simulator gives the reference's spikes on the lowered program, bit for bit, and the
    int8 program still follows snnTorch's float spike trains closely."""
    from snncompile.backends.accum import HardwareSpec
    from snncompile.backends.accum.network import lower_network
    from snncompile.simulator.stepped import simulate_steps
    net = {"rleaky": lambda: _Rec(True), "leaky_subtract_bias": lambda: _ff("subtract"),
           "synaptic": _synaptic}[build]()
    g = import_nir(_export(net, tmp_path / "n.nir"), DT, source="snntorch",
                   reset="subtract_next")
    assert "Bias" in [n.op_type for n in g.nodes]
    prog = lower_network(g, HardwareSpec.load("loihi1"))
    x = _spikes(9)
    ours = simulate_steps(prog, x).outputs[0]
    np.testing.assert_array_equal(ours, _ours(prog.graph, x))
    want = _snntorch_run(net, x, rec=getattr(net, "lif", None))
    assert ours.sum() > 10 and (ours == want).mean() > 0.85
    assert abs(int(ours.sum()) - int(want.sum())) <= 0.05 * want.sum()
