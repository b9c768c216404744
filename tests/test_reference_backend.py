"""The reference interpreter: op semantics against the NumPy executor, equality with
the PyTorch model, exact integer accumulation, counters, decoding, errors, the registry."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from snncompile.backends import BACKENDS, get_backend
from snncompile.backends.base import Backend
from snncompile.backends.reference import ReferenceInterpreter
from snncompile.errors import ConfigError, IRError, SimulationError
from snncompile.frontend import build_graph, neuron_node_name
from snncompile.ir.examples import EXAMPLES, example_graphs
from snncompile.ir.ops import OPS
from snncompile.models.config import NeuronConfig, SpikingMambaConfig
from snncompile.models.lm import SpikingMambaLM
from snncompile.models.neurons import record_spikes
from snncompile.simulator.executor import NumpyExecutor


# -- the torch executor against the NumPy executor (the same walk, other runners) ----------------
@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_torch_and_numpy_executors_agree(name):
    """Every example graph: every value, every token; integers (spike levels, accumulators)
    exactly, floats to 1e-12; the walk's counts equal."""
    g = EXAMPLES[name]()
    tokens = [3, 11, 0, 15, 3]
    ref, npx = ReferenceInterpreter(g, device="cpu"), NumpyExecutor(g)
    rs, ns = ref.init_state(), npx.init_state()
    assert {k: {s: tuple(v.shape) for s, v in d.items()} for k, d in rs.items()} == \
        {k: {s: v.shape for s, v in d.items()} for k, d in ns.items()} == g.state_shapes()
    for t in tokens:
        _, rc = ref.step(t, rs, keep_values=True)
        _, nc = npx.step(t, ns, keep_values=True)
        assert set(ref.values) == set(npx.values)
        for v, want in npx.values.items():
            got = ref.values[v].cpu().numpy()
            if got.dtype.kind == "i":
                assert np.asarray(want).dtype.kind == "i", v
                assert np.array_equal(got, want), v
            else:
                np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, err_msg=v)
        assert rc == nc


def test_numpy_executor_covers_every_op():
    assert all(hasattr(NumpyExecutor, f"run_{op}") for op in OPS)
    assert all(hasattr(ReferenceInterpreter, f"run_{op}") for op in OPS)


def test_state_layout_comes_from_the_ops():
    """A stateful op's state is what it declares (Op.state_shapes), in every executor."""
    g = example_graphs()["ssm_scan"]
    st = ReferenceInterpreter(g, device="cpu").init_state()
    op = g.node("ssm").op
    assert {k: tuple(v.shape) for k, v in st["ssm"].items()} == {"h": (op.H, op.P, op.N)}


def test_quantized_accumulation_is_exact_integer():
    g = example_graphs()["spiked_linear_q8"]
    interp = ReferenceInterpreter(g, device="cpu")
    state = interp.init_state()
    for t in range(16):
        y, c = interp.step(t, state, keep_values=True)
        s = interp.values["spike"].numpy()
        acc = interp.values["proj.acc"]
        assert acc.dtype == torch.int64
        assert np.array_equal(acc.numpy(), g.params["qw"].astype(np.int64) @ s)
        want = 0.2 * g.params["qs"].astype(np.float64) * acc.numpy().astype(np.float64)
        assert np.array_equal(y.numpy(), want)


def test_counters():
    g = example_graphs()["spiked_linear"]
    interp = ReferenceInterpreter(g, device="cpu")
    logits, total, _ = interp.run([1, 2, 3])
    step_spikes = []
    state = interp.init_state()
    for t in [1, 2, 3]:
        _, c = interp.step(t, state, keep_values=True)
        s = interp.values["spike"]
        step_spikes.append(int(s.abs().sum()))
        assert c.node("spike").spikes == step_spikes[-1]
        assert c.node("proj").acs == 6 * step_spikes[-1]
    enc, proj = total.node("spike"), total.node("proj")
    assert total.tokens == 3 and enc.spikes == sum(step_spikes) > 0
    assert enc.neuron_updates == 3 * 8 * 3
    assert enc.counts.firing_rate == pytest.approx(sum(step_spikes) / (24 * 3))
    assert proj.input_spikes == enc.spikes
    assert proj.acs == 6 * enc.spikes and proj.dense_macs == 3 * 48
    assert total.totals().acs == proj.acs
    assert [n.name for n in total.nodes] == ["embedding", "spike", "proj"]


def test_uncached_and_float32_paths_agree():
    g = example_graphs()["ssm_scan"]
    a = ReferenceInterpreter(g, device="cpu")
    b = ReferenceInterpreter(g, device="cpu", cache_bytes=0)
    c = ReferenceInterpreter(g, device="cpu", dtype=torch.float32)
    la, _, _ = a.run([1, 5, 7])
    lb, _, _ = b.run([1, 5, 7])
    lc, _, _ = c.run([1, 5, 7])
    assert all(torch.equal(x, y) for x, y in zip(la, lb))
    assert lc[-1].dtype == torch.float32
    torch.testing.assert_close(lc[-1].double(), la[-1], rtol=1e-4, atol=1e-4)


def test_errors_name_the_node():
    interp = ReferenceInterpreter(example_graphs()["lm_head"], device="cpu")
    with pytest.raises(SimulationError, match="node 'embedding'.*token id 99"):
        interp.step(99, interp.init_state())
    with pytest.raises(SimulationError, match="token must be an int"):
        interp.step("a", interp.init_state())
    with pytest.raises(IRError, match="dtype"):
        ReferenceInterpreter(example_graphs()["lm_head"], dtype=torch.int32)


def test_unknown_runner_is_refused(monkeypatch):
    g = example_graphs()["silu"]
    monkeypatch.delattr(ReferenceInterpreter, "run_SiLU")
    with pytest.raises(IRError, match="node 'act'.*run_SiLU"):
        ReferenceInterpreter(g, device="cpu")


# -- the exported model against the PyTorch model -------------------------------------------------
def _model(**kw):
    torch.manual_seed(0)
    base = dict(d_model=32, n_layer=2, vocab_size=256, d_state=8, headdim=8, ngroups=2,
                spiking=True, neuron=NeuronConfig(theta=0.05))
    base.update(kw)
    return SpikingMambaLM(SpikingMambaConfig(**base)).eval()


@pytest.mark.parametrize("kw", [
    {},
    {"spiking": False},
    {"tie_embeddings": False, "spiked_projections": ("in_proj",)},
    {"layer_neurons": (NeuronConfig(kind="lif", theta=0.1), NeuronConfig(kind="ilif", D=2,
                                                                          theta=0.03))},
])
def test_interpreter_equals_pytorch_model(kw):
    m = _model(**kw)
    g = build_graph(m.config, m.state_dict())
    interp = ReferenceInterpreter(g, device="cpu")
    m = m.double()
    st, ist = m.allocate_state(1, dtype=torch.float64), interp.init_state()
    n_spiking = 0
    with torch.no_grad():
        for t in [72, 105, 33, 10, 200, 7]:
            with record_spikes(m) as rec:
                want = m.step(torch.tensor([t]), st)[0]
            got, c = interp.step(t, ist)
            assert float((want - got).abs().max()) < 1e-10
            spikes = {n.name: c.node(n.name).spikes for n in g.neurons()}
            assert {neuron_node_name(k): v.sum_abs for k, v in rec.items()} == spikes
            n_spiking += sum(spikes.values())
    assert (n_spiking > 0) == m.config.spiking


def test_generate_greedy_and_sampled():
    m = _model()
    g = build_graph(m.config, m.state_dict())
    interp = ReferenceInterpreter(g, device="cpu")
    out = interp.generate([72, 105], 5)
    # greedy = argmax chain, checked by stepping by hand
    state = interp.init_state()
    interp.step(72, state)
    logits, _ = interp.step(105, state)
    chain = []
    for _ in range(5):
        nxt = int(torch.argmax(logits[:256]))
        chain.append(nxt)
        logits, _ = interp.step(nxt, state)
    assert out.tokens == chain
    assert out.counters.tokens == 2 + 4
    a = interp.generate([72], 8, temperature=1.5, seed=3)
    b = interp.generate([72], 8, temperature=1.5, seed=3)
    c = interp.generate([72], 8, temperature=1.5, seed=4)
    assert a.tokens == b.tokens != c.tokens
    assert all(0 <= t < 256 for t in a.tokens)
    assert interp.generate([72], 0).tokens == []
    with pytest.raises(SimulationError, match="empty"):
        interp.generate([], 3)


def test_cpu_never_imports_mamba_ssm():
    code = ("import sys, torch; from snncompile.ir.examples import example_graphs; "
            "from snncompile.backends.reference import ReferenceInterpreter as R; "
            "g = example_graphs()['ssm_scan']; r = R(g, device='cpu'); r.run([1, 2]); "
            "print('mamba_ssm' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- registry ------------------------------------------------------------------------------------
def test_backend_registry():
    assert {"reference", "accum", "loihi"} <= set(BACKENDS)
    assert all(get_backend(n).name == n for n in BACKENDS)
    b = get_backend("reference")
    assert isinstance(b, Backend) and b.name == "reference"
    prog = b.lower(example_graphs()["add"])
    from snncompile.backends.reference.program import ReferenceProgram
    assert isinstance(prog, ReferenceProgram) and prog.graph.nodes
    with pytest.raises(ConfigError, match="unknown backend 'loihi9'.*reference"):
        get_backend("loihi9")


def test_ssm_kernel_calling_convention():
    """The CUDA path hands the SSM step to mamba_ssm's selective_state_update; its arguments
    are checked here on CPU against the kernel's pure-torch twin, selective_state_update_ref."""
    from mamba_ssm_stub import import_mamba_ssm
    import_mamba_ssm()
    from mamba_ssm.ops.triton.selective_state_update import selective_state_update_ref
    g = example_graphs()["ssm_scan"]
    plain = ReferenceInterpreter(g, device="cpu")
    kernel = ReferenceInterpreter(g, device="cpu")
    kernel._ssm_kernel = selective_state_update_ref
    a, _, sa = plain.run([1, 4, 9, 2])
    b, _, sb = kernel.run([1, 4, 9, 2])
    for x, y in zip(a, b):
        torch.testing.assert_close(x, y, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(sa["ssm"]["h"], sb["ssm"]["h"], rtol=1e-12, atol=1e-12)


def test_generate_rejects_a_non_finite_temperature():
    interp = ReferenceInterpreter(example_graphs()["lm_head"], device="cpu")
    with pytest.raises(SimulationError, match="temperature"):
        interp.generate([1], 3, temperature=float("nan"))
