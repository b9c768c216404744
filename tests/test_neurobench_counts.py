"""Synaptic-operation counts against NeuroBench's `SynapticOperations` (neurobench 2.3.0)
on the same snnTorch networks and input spike trains (docs/nir.md, "Counts against
NeuroBench").

Ours: a `SpikedLinear` counts acs = d_out * sum_t sum_j s_j[t] (every synapse of the row a
spike reaches, a count c being c messages), on the reference and on the simulator alike.
NeuroBench: per forward call of a Linear, sum_o sum_j [W_oj != 0] [x_j != 0] (nonzero
weights reached by nonzero inputs, inputs binarised), reported per sample as Effective_ACs
when every input of the layer is in {-1, 0, 1}, else as Effective_MACs. The two agree when
no weight is zero and the inputs are 0/1 spikes; a zero weight counts for us, not for
NeuroBench (the core still walks the row)."""

from __future__ import annotations

import numpy as np
import pytest

neurobench = pytest.importorskip("neurobench")
snn = pytest.importorskip("snntorch")
nir = pytest.importorskip("nir")

import torch  # noqa: E402
from neurobench.benchmarks import Benchmark  # noqa: E402
from neurobench.metrics.workload import SynapticOperations  # noqa: E402
from neurobench.models import SNNTorchModel  # noqa: E402
from snntorch import utils  # noqa: E402
from snntorch.export_nir import export_to_nir  # noqa: E402

from snncompile.backends import get_backend  # noqa: E402
from snncompile.backends.reference.interpreter import ReferenceInterpreter  # noqa: E402
from snncompile.nir import import_nir  # noqa: E402
from snncompile.simulator.stepped import SteppedNetwork  # noqa: E402

DT = 1e-4
N_IN, HIDDEN, N_OUT, T, SAMPLES = 24, 16, 5, 30, 6


class _Net(torch.nn.Module):
    """Linear -> Leaky("zero", beta 0.875) -> Linear -> Leaky, no biases; snnTorch's Leaky
    returns float32 spikes, cast to the weights' dtype so the network runs in float64."""

    def __init__(self):
        super().__init__()

        def leaky(d, **kw):
            return snn.Leaky(beta=torch.full((d,), 0.875), threshold=torch.ones(d),
                             init_hidden=True, reset_mechanism="zero", **kw)

        self.fc1, self.lif1 = torch.nn.Linear(N_IN, HIDDEN, bias=False), leaky(HIDDEN)
        self.fc2, self.lif2 = torch.nn.Linear(HIDDEN, N_OUT, bias=False), leaky(N_OUT,
                                                                             output=True)

    def forward(self, x):
        s = self.lif1(self.fc1(x.to(self.fc1.weight.dtype)))
        return self.lif2(self.fc2(s.to(self.fc2.weight.dtype)))


def _net(seed=0, prune=0.0):
    """A `_Net` in float64, weights PyTorch's init x 3; `prune`: the share of weights set to
    exactly zero."""
    torch.manual_seed(seed)
    net = _Net()
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for m in (net.fc1, net.fc2):
            m.weight.mul_(3.0)
            if prune:
                keep = torch.rand(m.weight.shape, generator=gen) >= prune
                m.weight.mul_(keep.to(m.weight.dtype))
    return net.double()


def _inputs(seed=0, p=0.3):
    return (np.random.default_rng(seed).random((SAMPLES, T, N_IN)) < p).astype(np.int64)


def _neurobench(net, x):
    """NeuroBench's SynapticOperations on x (samples, T, n_in), batches of 3."""
    data = torch.utils.data.TensorDataset(torch.from_numpy(x).double(),
                                          torch.zeros(len(x), dtype=torch.long))
    loader = torch.utils.data.DataLoader(data, batch_size=3, shuffle=False)
    bench = Benchmark(SNNTorchModel(net), loader, [], [], [[], [SynapticOperations]])
    return bench.run(quiet=True)["SynapticOperations"]


def _hidden_spikes(net, x):
    """snnTorch's spikes of every Linear's input: [(samples, T, d_in)] per Linear."""
    layers = [net.fc1, net.fc2]
    seen = {id(m): [] for m in layers}
    hooks = [m.register_forward_pre_hook(lambda mod, inp: seen[id(mod)].append(inp[0].clone()))
             for m in layers]
    with torch.no_grad():
        for s in x:
            utils.reset(net)
            for row in torch.from_numpy(s).double():
                net(row[None])
    for h in hooks:
        h.remove()
    return [torch.cat(seen[id(m)]).reshape(len(x), T, -1).numpy() for m in layers], layers


def _ours(graph, x):
    """Our acs per SpikedLinear over all samples, per sample, from the reference."""
    ref = ReferenceInterpreter(graph, device="cpu")
    total = None
    for s in x:
        c = ref.run_steps(s).counters
        total = c if total is None else total + c
    return {n.name: n.counts.acs / len(x) for n in total.nodes if n.op == "SpikedLinear"}


def _import(net, tmp_path):
    """net -> NIR (float32, what snnTorch's exporter writes) -> IR graph; net is left in
    float64 with the float32-rounded weights, so both sides run the same weights."""
    path = tmp_path / "net.nir"
    nir.write(path, export_to_nir(net.float(), torch.zeros(1, N_IN), ignore_dims=[0]))
    net.double()
    g = import_nir(path, DT)
    assert [n.op_type for n in g.nodes] == ["SpikedLinear", "LIF"] * 2
    return g


def test_dense_weights_agree(tmp_path):
    """No zero weight, 0/1 input spikes: our acs per layer = d_out x the spikes it receives
    (written out with numpy from snnTorch's own spikes), and their sum = NeuroBench's
    Effective_ACs; Effective_MACs = 0 (every layer's input is spikes)."""
    net = _net()
    graph = _import(net, tmp_path)          # rounds the weights to float32, as the file
    x = _inputs()
    spikes, layers = _hidden_spikes(net, x)
    want = [float(s.sum() * m.out_features) / len(x) for s, m in zip(spikes, layers)]
    assert spikes[1].sum() > 0                          # the hidden layer does spike
    ours = _ours(graph, x)
    assert list(ours.values()) == pytest.approx(want, rel=0, abs=1e-9)
    nb = _neurobench(net, x)
    assert nb["Effective_MACs"] == 0
    assert nb["Effective_ACs"] == pytest.approx(sum(ours.values()), rel=0, abs=1e-9)
    assert nb["Dense"] == pytest.approx(T * (N_IN * HIDDEN + HIDDEN * N_OUT))


def test_zero_weights_count_for_us_not_for_neurobench(tmp_path):
    """Half the weights exactly zero: NeuroBench counts the nonzero weights reached,
    sum_t sum_j s_j[t] nnz(W[:, j]); ours every synapse of the row, d_out sum s. The gap is
    the zero weights reached, written out with numpy."""
    net = _net(seed=3, prune=0.5)
    graph = _import(net, tmp_path)
    x = _inputs(seed=4, p=0.5)
    spikes, layers = _hidden_spikes(net, x)
    nnz = [(m.weight.detach().numpy() != 0).sum(axis=0) for m in layers]   # per input j
    assert all((k < m.out_features).any() for k, m in zip(nnz, layers))
    nb_want = sum(float((s.sum(axis=(0, 1)) * k).sum()) for s, k in zip(spikes, nnz)) / len(x)
    ours_want = sum(float(s.sum()) * m.out_features for s, m in zip(spikes, layers)) / len(x)
    ours = _ours(graph, x)
    assert sum(ours.values()) == pytest.approx(ours_want, rel=0, abs=1e-9)
    nb = _neurobench(net, x)
    assert nb["Effective_ACs"] == pytest.approx(nb_want, rel=0, abs=1e-9)
    assert nb["Effective_ACs"] < sum(ours.values())


def test_simulator_counts_as_the_reference(tmp_path):
    """The lowered program (loihi1, int8 weights): the simulator's acs per node equal the
    reference's on the same lowered graph, and the first layer's (fed by the inputs alone)
    equal the float network's and NeuroBench's first-layer count d_out sum s."""
    net = _net(seed=5)
    x = _inputs(seed=6)
    prog = get_backend("accum").lower(_import(net, tmp_path), "loihi1")
    sim = SteppedNetwork(prog)
    ref = ReferenceInterpreter(prog.graph, device="cpu")
    first = prog.graph.nodes[0].name
    for s in x:
        a = {n.name: n.counts.acs for n in sim.run(s).counters.nodes
             if n.op == "SpikedLinear"}
        b = {n.name: n.counts.acs for n in ref.run_steps(s).counters.nodes
             if n.op == "SpikedLinear"}
        assert a == b
        assert a[first] == int(s.sum()) * HIDDEN
