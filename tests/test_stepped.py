"""The time-stepped simulator: bit-exact against the reference on lowered networks, its
Numba kernel against its NumPy twin, the placement rules and the timing equations."""

from __future__ import annotations


import numpy as np
import pytest

from snncompile.backends.accum import HardwareSpec
from snncompile.backends.accum.network import lower_network, place_network
from snncompile.errors import HardwareFitError, SimulationError
from snncompile.ir.examples import lif_network
from snncompile.simulator import stepped_kernels as K
from snncompile.simulator.executor import NumpyExecutor
from snncompile.simulator.stepped import SteppedNetwork, simulate_steps
from stepped_helpers import kernel_matches_twin, small_hw


def _weights(rng, widths):
    return [rng.integers(-127, 128, (widths[i + 1], widths[i])).astype(np.int8)
            for i in range(len(widths) - 1)]


def _neuron(kind, fixed, rng):
    n = dict(kind=kind, threshold=float(rng.integers(50, 400)), quant_bits=6,
             delay=int(rng.integers(0, 2)), fixed_point=fixed,
             reset=str(rng.choice(["zero", "subtract"])), refractory=int(rng.integers(0, 3)),
             bias=float(rng.integers(-2, 3)))
    if kind != "if":
        n["dv"] = int(rng.integers(0, 4097))
    if kind == "cubalif":
        n["du"] = int(rng.integers(0, 4097))
    return n


CASES = [(kind, fixed, seed) for kind in ("lif", "if", "cubalif") for fixed in (False, True)
         for seed in (1, 2)]


@pytest.mark.parametrize("kind,fixed,seed", CASES)
def test_simulator_matches_reference_bit_exact(kind, fixed, seed):
    rng = np.random.default_rng(seed)
    widths = [int(w) for w in rng.integers(20, 120, 4)]
    g = lif_network(_weights(rng, widths), [_neuron(kind, fixed, rng) for _ in range(3)],
                    output="both")
    # a small core forces several cores per layer and, for wide layers, partial sums
    hw = small_hw(neurons_per_core=32, axons_per_core=64, weight_sram_bytes=2048)
    prog = lower_network(g, hw)
    x = (rng.random((60, widths[0])) < 0.3).astype(np.int32)
    ours = simulate_steps(prog, x)
    ref = NumpyExecutor(prog.graph).run_steps(x)
    for a, b in zip(ours.outputs, ref.outputs):
        np.testing.assert_array_equal(np.asarray(a, np.float64), np.asarray(b, np.float64))
    for n in ref.counters.nodes:
        if n.op != "SpikedLinear":
            assert ours.counters.node(n.name).spikes == n.spikes
        else:
            assert ours.counters.node(n.name).input_spikes == n.input_spikes


@pytest.mark.parametrize("kind,fixed,seed", CASES)
def test_kernel_matches_numpy_twin(kind, fixed, seed):
    rng = np.random.default_rng(100 + seed)
    widths = [int(w) for w in rng.integers(20, 100, 3)]
    g = lif_network(_weights(rng, widths), [_neuron(kind, fixed, rng) for _ in range(2)])
    hw = small_hw(neurons_per_core=16, axons_per_core=48, weight_sram_bytes=1024,
                   ac_lanes=int(rng.integers(1, 5)))
    prog = lower_network(g, hw)
    net = SteppedNetwork(prog)
    x = (rng.random((40, widths[0])) < 0.25).astype(np.int32)
    a_state, a_out = kernel_matches_twin(net, x)
    assert a_out[2][:, K.LC_ACS].sum() > 0 and a_out[4].sum() > 0


@pytest.mark.parametrize("delay,reset,bias,q", [(d, r, b, q) for d in (0, 1)
                                                 for r in ("zero", "subtract")
                                                 for b in (0.0, -1.5) for q in (0, 6)])
def test_float_lif_without_refractory_matches_twin_and_reference(delay, reset, bias, q):
    # the kernel's branch-free path for float LIF / IF layers with no refractory steps
    rng = np.random.default_rng(7)
    widths = [40, 70, 30]
    neurons = [dict(kind=kind, threshold=150.0, quant_bits=q, delay=delay, fixed_point=False,
                    reset=reset, refractory=0, bias=bias, **({"dv": 700} if kind == "lif"
                                                            else {}))
               for kind in ("lif", "if")]
    g = lif_network(_weights(rng, widths), neurons, output="both")
    prog = lower_network(g, small_hw(neurons_per_core=32, axons_per_core=64,
                                     weight_sram_bytes=2048))
    x = (rng.random((50, widths[0])) < 0.3).astype(np.int32)
    _state, out = kernel_matches_twin(SteppedNetwork(prog), x)
    assert 0 < out[0].sum() < out[0].size          # some neurons fire, not all
    ours = simulate_steps(prog, x)
    ref = NumpyExecutor(prog.graph).run_steps(x)
    for a, b in zip(ours.outputs, ref.outputs):
        np.testing.assert_array_equal(np.asarray(a, np.float64), np.asarray(b, np.float64))


def test_placement_outputs_and_partial_sums():
    rng = np.random.default_rng(0)
    hw = HardwareSpec.load("loihi1")
    # 512 inputs x 8-bit = 512 B per neuron: 128 KB holds 256 neurons per core
    g = lif_network(_weights(rng, [512, 600]), dict(kind="lif", dv=512, threshold=900.0))
    pl = place_network(g, hw)
    lp = pl.layers[0]
    assert lp.split == "outputs" and len(lp.tiles) == 3
    assert sorted(np.bincount(lp.neuron_core)[np.bincount(lp.neuron_core) > 0]) == [200] * 3
    # 6000 inputs exceed the 4,096 axons: partial sums, each chunk <= 4096 rows
    g2 = lif_network(_weights(rng, [6000, 100]), dict(kind="lif", dv=512, threshold=900.0))
    lp2 = place_network(g2, hw).layers[0]
    assert lp2.split == "partial" and lp2.rows <= 4096
    chunks = {t[0] for t in lp2.tiles}
    assert len(chunks) * lp2.rows >= 6000 > (len(chunks) - 1) * lp2.rows
    for (_ch, c0, c1, core, home) in lp2.tiles:   # every tile fits its core's weight memory
        assert lp2.rows * (c1 - c0) <= hw.weight_sram_bytes and core != home or _ch == 0
    with pytest.raises(HardwareFitError, match="layers.0.synapse"):
        place_network(g2, hw, split="outputs")
    small = small_hw(cores=2, mesh=(1, 2), tile=(1, 1), dense_position=(0, 0))
    with pytest.raises(HardwareFitError, match="cores"):
        place_network(g, small)


def test_timing_equation_one_core_by_hand():
    """Inputs on core 0 send k spikes back to back (message_out each); core 1 receives them
    in order, message_in + synapse * 32 each, and runs its 32 neurons on its own (sender)
    timeline: step = max(k * out + k * (in + 32 * syn), neurons) + sync."""
    rng = np.random.default_rng(3)
    W = _weights(rng, [64, 32])[0]
    g = lif_network([W], dict(kind="lif", dv=0, threshold=1e6, delay=1), output="both")
    hw = HardwareSpec.load("loihi1")
    prog = lower_network(g, hw)
    x = (rng.random((20, 64)) < 0.2).astype(np.int32)
    res = simulate_steps(prog, x)
    v = res.outputs[1]
    n = x.sum(axis=1)
    v_before = np.vstack([np.zeros((1, 32)), v[:-1]])
    got = np.concatenate([[False], n[:-1] > 0])                  # events arrive a step later
    active = ((v_before != 0) | got[:, None]).sum(axis=1)
    # the first message is sent after message_out; each is received on arrival, back to back
    recv = np.where(n > 0, hw.message_out_cycles
                    + n * (hw.message_in_cycles + hw.synapse_cycles * 32), 0)
    neurons = 32 * hw.neuron_access_cycles + active * hw.neuron_update_cycles
    send = n * hw.message_out_cycles
    assert res.counters.meta["tiles_used"] == 1
    np.testing.assert_array_equal(res.step_cycles,
                                  np.maximum.reduce([recv, neurons, send]) + hw.sync_cycles(1))
    assert res.counters.node("layers.0.synapse").acs == int(n.sum()) * 32
    assert res.counters.node("layers.0.neuron").neuron_accesses == 32 * 20
    assert res.counters.node("layers.0.neuron").neuron_updates == int(active.sum())


def test_sync_table_is_a_step_function():
    hw = HardwareSpec.load("loihi1")
    assert [hw.sync_cycles(k) for k in (1, 2, 3, 4, 28, 29, 32)] == \
        [6000, 10000, 10000, 14000, 14000, 18000, 18000]


def test_bad_input_is_a_simulation_error():
    rng = np.random.default_rng(0)
    g = lif_network(_weights(rng, [8, 4]), dict(kind="lif", dv=0, threshold=10.0))
    prog = lower_network(g, HardwareSpec.load("loihi1"))
    for bad in (np.zeros((3, 7), np.int32), np.zeros(8, np.int32), -np.ones((2, 8), np.int32),
                np.full((2, 8), 0.5), np.full((2, 8), 256, np.int16),
                np.full((2, 8), 2 ** 32 + 1, np.int64), np.full((2, 8), 2 ** 63 + 5, np.uint64)):
        with pytest.raises(SimulationError):
            simulate_steps(prog, bad)


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32,
                                   np.int64, np.uint64])
def test_integer_inputs_of_any_width_run_alike(dtype):
    rng = np.random.default_rng(1)
    g = lif_network(_weights(rng, [8, 4]), dict(kind="lif", dv=0, threshold=10.0))
    prog = lower_network(g, HardwareSpec.load("loihi1"))
    x = rng.integers(0, 2, (6, 8))
    want = simulate_steps(prog, x.astype(np.int32))
    got = simulate_steps(prog, x.astype(dtype))
    np.testing.assert_array_equal(got.outputs[0], want.outputs[0])
    np.testing.assert_array_equal(got.step_cycles, want.step_cycles)


def test_value_range_is_min_and_max():
    x = np.random.default_rng(2).integers(-5, 300, (7, 13))
    assert K.value_range(x) == (x.min(), x.max())


def test_hops_by_direction_match_a_write_out():
    """One dense layer over several tiles: every input spike sends one message to each core
    holding a tile of its chunk; noc_hops and its north-south part against that write-out."""
    rng = np.random.default_rng(3)
    g = lif_network(_weights(rng, [3000, 2000]), dict(kind="lif", dv=0, threshold=1e9))
    net = SteppedNetwork(lower_network(g, HardwareSpec.load("loihi1")))
    x = (rng.random((5, 3000)) < 0.05).astype(np.int32)
    c = net.run(x).counters.node("layers.0.synapse")
    ew = ns = 0
    for j in np.nonzero(x.sum(axis=0))[0]:
        src = net.core_of[net.pop_off[0] + j]
        ch = net.ch_off[0] + j // net.rows[0]
        for tt in range(net.ct_ptr[ch], net.ct_ptr[ch + 1]):
            dest = net.t_core[tt]
            n = int(x[:, j].sum())
            ew += n * abs(int(net.core_tx[src]) - int(net.core_tx[dest]))
            ns += n * abs(int(net.core_ty[src]) - int(net.core_ty[dest]))
    assert ns > 0 and ew > 0
    assert (c.noc_hops, c.noc_hops_ns) == (ew + ns, ns)
