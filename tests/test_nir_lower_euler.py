"""Imported networks with per-neuron parameters (EulerNeuron), recurrent weights and a
LeakyIntegrator read-out on the cores: lowering (recurrent weights as integers times a power
of two per row), placement (recurrent synapses beside their neurons), the time-stepped
kernel against its NumPy twin and against the reference on the lowered graph, and the
command line from a NIR file to energy."""

from __future__ import annotations

import json

import nir
import numpy as np
import pytest

from snncompile.backends.accum import HardwareSpec
from snncompile.backends.accum.network import lower_network, network_layers
from snncompile.backends.accum.recurrent import pow2_rows, quantize_pow2
from snncompile.backends.reference.interpreter import ReferenceInterpreter
from snncompile.errors import HardwareFitError, SimulationError
from snncompile.nir import import_nir
from snncompile.simulator import stepped_kernels as K
from snncompile.simulator.executor import NumpyExecutor
from snncompile.simulator.stepped import SteppedNetwork, simulate_steps
from cli_helpers import cli_ok
from stepped_helpers import kernel_matches_twin, small_hw

DT = 1e-3


def _rec_nir(rng, n_in=12, d=10, d2=6, d_out=4):
    """Input -> Affine (a bias) -> LIF (per neuron, recurrent Affine) -> Linear -> CubaLIF (per
    neuron) -> Linear -> LI -> Output."""
    lif = nir.LIF(tau=rng.uniform(5e-3, 2e-2, d), r=rng.uniform(5, 15, d),
                  v_leak=rng.uniform(-0.1, 0.1, d), v_threshold=rng.uniform(0.5, 1.0, d),
                  v_reset=rng.uniform(-0.2, 0.0, d))
    cuba = nir.CubaLIF(tau_syn=rng.uniform(2e-3, 5e-3, d2), tau_mem=rng.uniform(5e-3, 1e-2, d2),
                       r=rng.uniform(1, 4, d2), v_leak=np.zeros(d2),
                       v_threshold=rng.uniform(0.2, 0.5, d2), v_reset=np.zeros(d2),
                       w_in=rng.uniform(1, 3, d2))
    li = nir.LI(tau=rng.uniform(2e-3, 1e-2, d_out), r=rng.uniform(1, 3, d_out),
                v_leak=rng.uniform(-0.2, 0.2, d_out))
    return nir.NIRGraph(nodes={
        "input": nir.Input(input_type=np.array([n_in])),
        "w0": nir.Affine(weight=rng.standard_normal((d, n_in)) * 2,
                         bias=rng.uniform(-0.1, 0.2, d)), "lif": lif,
        "rec": nir.Affine(weight=rng.standard_normal((d, d)) * 0.8,
                          bias=rng.uniform(-0.05, 0.05, d)),
        "w1": nir.Linear(weight=rng.standard_normal((d2, d)) * 2), "cuba": cuba,
        "w2": nir.Linear(weight=rng.standard_normal((d_out, d2))), "li": li,
        "output": nir.Output(output_type=np.array([d_out]))},
        edges=[("input", "w0"), ("w0", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "w1"),
               ("w1", "cuba"), ("cuba", "w2"), ("w2", "li"), ("li", "output")])


RESETS = (None, "subtract", "subtract_next")


@pytest.mark.parametrize("reset", RESETS)
def test_simulator_matches_reference_on_lowered_euler_network(reset):
    rng = np.random.default_rng(7)
    g = import_nir(_rec_nir(rng), DT, reset=reset)
    kinds = [n.op_type for _s, n in network_layers(g)]
    assert kinds == ["EulerNeuron", "EulerNeuron", "LeakyIntegrator"]
    prog = lower_network(g, small_hw(neurons_per_core=4, axons_per_core=64,
                                      weight_sram_bytes=2048))
    assert "quantize-recurrent" in prog.lowering
    lp = prog.placement.layers[0]
    assert len(lp.tiles) == 3                     # 10 neurons, 4 per core
    # recurrent synapses sit beside their neurons: 12 inputs + 10 recurrent per neuron
    assert lp.synapses == [(c1 - c0) * 22 for _ch, c0, c1, _c, _h in lp.tiles]
    x = (rng.random((80, 12)) < 0.4).astype(np.int64)
    ours = simulate_steps(prog, x)
    for ref in (NumpyExecutor(prog.graph).run_steps(x),
                ReferenceInterpreter(prog.graph, device="cpu").run_steps(x)):
        for a, b in zip(ours.outputs, ref.outputs):     # potentials of the LI, bit for bit
            np.testing.assert_array_equal(np.asarray(a, np.float64),
                                          np.asarray(b, np.float64))
    assert np.abs(ours.outputs[0]).sum() > 0
    spikes = list(ours.spikes_per_layer.values())
    assert spikes[0] > 0 and spikes[1] > 0 and spikes[2] == 0    # the read-out never spikes
    # the recurrent synapses' events: every spike of layer 0 reaches its 10 neurons
    syn0 = ours.counters.node(network_layers(prog.graph)[0][0].name)
    ff = int(NumpyExecutor(prog.graph).run_steps(x).counters.node(syn0.name).acs)
    assert syn0.acs == ff + 10 * ours.spikes_per_layer[network_layers(prog.graph)[0][1].name]


@pytest.mark.parametrize("reset,lanes", [(r, ln) for r in RESETS for ln in (1, 3)])
def test_kernel_matches_numpy_twin_on_euler_layers(reset, lanes):
    rng = np.random.default_rng(11 + lanes)
    g = import_nir(_rec_nir(rng, n_in=20, d=14), DT, reset=reset)
    hw = small_hw(neurons_per_core=5, axons_per_core=48, weight_sram_bytes=1024,
                   ac_lanes=lanes)
    net = SteppedNetwork(lower_network(g, hw))
    x = (rng.random((50, 20)) < 0.3).astype(np.int32)
    a_state, a_out = kernel_matches_twin(net, x)
    assert a_state[4].any() and a_out[4].sum() > 0 and a_out[2][0, K.LC_ACS] > 0


def test_recurrent_weights_are_integers_times_powers_of_two():
    rng = np.random.default_rng(3)
    w = rng.standard_normal((9, 9)) * np.exp2(rng.integers(-6, 6, (9, 1)))
    w[4] = 0.0
    q = quantize_pow2(w, 8)
    n, scale = pow2_rows(q, 8, "node 'x'")
    np.testing.assert_array_equal(n.astype(np.float64) * scale[:, None], q)
    assert np.abs(n).max() <= 127 and (np.log2(scale) == np.round(np.log2(scale))).all()
    assert np.abs(q - w).max(axis=1)[0] <= np.abs(w[0]).max() / 127  # within half a step x2
    with pytest.raises(SimulationError, match="node 'x'.*power of two"):
        pow2_rows(w, 8, "node 'x'")          # unquantized floats have no such form


def test_recurrent_layer_too_wide_for_one_core_is_refused_naming_it():
    rng = np.random.default_rng(5)
    g = import_nir(_rec_nir(rng, n_in=40, d=30), DT)
    with pytest.raises(HardwareFitError, match="layer .*recurrent inputs.*split by outputs"):
        lower_network(g, small_hw(axons_per_core=64))       # 40 + 30 inputs > 64 axons


def test_cli_recurrent_nir_to_energy(tmp_path):
    """nir import -> lower --hw loihi1 -> simulate --input --json -> energy --from: the
    simulated read-out equals `run` on the lowered program, and the energy report prices the
    recurrent synapses' events."""
    rng = np.random.default_rng(2)
    nir.write(tmp_path / "net.nir", _rec_nir(rng))
    x = (rng.random((40, 12)) < 0.4).astype(np.int64)
    np.save(tmp_path / "x.npy", x)
    cli_ok("nir", "import", tmp_path / "net.nir", "-o", tmp_path / "net.onnx", "--dt", "1e-3",
           "--reset", "subtract_next")
    cli_ok("lower", tmp_path / "net.onnx", "--hw", "loihi1", "-o", tmp_path / "p")
    cli_ok("run", tmp_path / "p", "--input", tmp_path / "x.npy", "-o", tmp_path / "yr.npy")
    cli_ok("simulate", tmp_path / "p", "--input", tmp_path / "x.npy", "-o", tmp_path / "ys.npy",
           "--json", tmp_path / "sim.json")
    yr, ys = np.load(tmp_path / "yr.npy"), np.load(tmp_path / "ys.npy")
    assert ys.dtype == np.float64 and ys.shape == (40, 4) and np.abs(ys).sum() > 0
    np.testing.assert_array_equal(ys, yr)
    sim = json.loads((tmp_path / "sim.json").read_text())
    cli_ok("energy", "--from", tmp_path / "sim.json", "--preset", "loihi1-sanafe", "--json",
           tmp_path / "e.json")
    rep = json.loads((tmp_path / "e.json").read_text())
    syn0 = next(n for n in rep["nodes"] if n["name"] == "layers.0.synapse")
    assert syn0["counts"]["acs"] == next(n["acs"] for n in sim["nodes"]
                                         if n["name"] == "layers.0.synapse")
    assert syn0["snn_j"]["ac"] > 0 and rep["total"]["snn_j"]["neuron"] > 0


def test_threshold_layers_lower_as_neurons_that_spike_alike():
    """NIR Threshold (stateless s = x > threshold) lowers as an EulerNeuron with v = x: the
    simulated spikes equal the imported graph's where the int8 weights are exact."""
    rng = np.random.default_rng(8)
    W0 = rng.integers(-3, 4, (7, 9)).astype(np.float64)
    W0[:, 0] = 127.0                       # every row's scale max|row| / 127 = 1: exact int8
    W1 = rng.integers(-3, 4, (5, 7)).astype(np.float64)
    W1[:, 0] = 127.0
    g_nir = nir.NIRGraph(nodes={
        "input": nir.Input(input_type=np.array([9])), "w0": nir.Linear(weight=W0),
        "t0": nir.Threshold(threshold=rng.uniform(0, 3, 7)), "w1": nir.Linear(weight=W1),
        "t1": nir.Threshold(threshold=rng.uniform(0, 3, 5)),
        "output": nir.Output(output_type=np.array([5]))},
        edges=[("input", "w0"), ("w0", "t0"), ("t0", "w1"), ("w1", "t1"), ("t1", "output")])
    g = import_nir(g_nir, DT)
    prog = lower_network(g, HardwareSpec.load("loihi1"))
    assert [n.op_type for _s, n in network_layers(prog.graph)] == ["EulerNeuron"] * 2
    x = (rng.random((50, 9)) < 0.3).astype(np.int64)
    ours = simulate_steps(prog, x).outputs[0]
    np.testing.assert_array_equal(ours, NumpyExecutor(g).run_steps(x).outputs[0])
    assert 0 < ours.sum() < ours.size
