"""Analytic mode on a tiny config: MACs, ACs, memory and energies checked against numbers
computed here by hand from the Mamba2 formulas (not from the code's accounting)."""

from __future__ import annotations

import pytest

from snncompile.energy.analytic import analytic_counters, rates_from_counters, spiking_graph
from snncompile.energy.price import price
from snncompile.energy.table import load_table
from snncompile.errors import ConfigError
from snncompile.models.config import NeuronConfig, SpikingMambaConfig

# d_model 64, 2 layers, vocab 100 -> padded 112, N 16, K 4, expand 2, headdim 32
TINY = SpikingMambaConfig(d_model=64, n_layer=2, vocab_size=100, d_state=16, d_conv=4, expand=2,
                          headdim=32, ngroups=1)


def hand(R: float, D: int, lm_head: bool = True):
    """Per-token counts of TINY by hand: returns (snn_macs, acs_spiked, acs_add, dense_macs)."""
    d, L, V = 64, 2, 112
    di, H, P, N, G, K = 128, 4, 32, 16, 1, 4
    C = di + 2 * G * N                      # 160
    d_in_proj = 2 * di + 2 * G * N + H       # 292
    per_block_dense_ops = (2 * d              # RMSNorm
                           + C * K            # conv1d
                           + C                # SiLU after conv
                           + H                # softplus
                           + 3 * H * P * N + 2 * H * P   # SSM step
                           + 3 * di)          # gated RMSNorm
    assert per_block_dense_ops == 7716
    in_proj, out_proj = d * d_in_proj, di * d
    snn_macs = L * per_block_dense_ops + 2 * d + (V * d if lm_head else 0)
    acs_spiked = L * (d_in_proj * R * d * D + d * R * di * D)
    acs_add = L * d
    dense_macs = snn_macs + L * (in_proj + out_proj)
    return snn_macs, acs_spiked, acs_add, dense_macs


@pytest.mark.parametrize("lm_head", [True, False])
@pytest.mark.parametrize("R,D", [(0.0, 4), (0.1, 4), (0.37, 4), (0.25, 2)])
def test_counts_match_hand_formulas(R, D, lm_head):
    g = spiking_graph(TINY, D)
    cs = analytic_counters(g, rate=R, lm_head=lm_head)
    snn_macs, acs_spiked, acs_add, dense_macs = hand(R, D, lm_head)
    assert cs.total("macs") == snn_macs
    assert cs.total("acs") == pytest.approx(acs_spiked + acs_add, rel=1e-12)
    assert cs.total("dense_macs") == dense_macs
    assert cs.total("dense_acs") == acs_add
    assert any(l.op == "LMHead" for l in cs.nodes) is lm_head
    assert cs.meta["lm_head"] is lm_head and cs.meta["D"] == D

    rep = price(cs, load_table("paper-45nm"))
    e_snn = 0.9 * (acs_spiked + acs_add) + 4.6 * snn_macs
    e_ann = 4.6 * dense_macs + 0.9 * acs_add
    assert rep.snn.total == pytest.approx(e_snn, rel=1e-12)
    assert rep.ann.total == pytest.approx(e_ann, rel=1e-12)
    assert rep.ratio == pytest.approx(e_ann / e_snn, rel=1e-12)


def test_mean_spikes_is_rate_times_D():
    g = spiking_graph(TINY, 4)
    a = analytic_counters(g, rate=0.2)
    b = analytic_counters(g, mean_spikes=0.8)
    assert a.total("acs") == pytest.approx(b.total("acs"))
    assert b.meta["fire_rate"] == pytest.approx(0.2)


def test_neuron_updates_spikes_and_tokens():
    g = spiking_graph(TINY, 4)
    cs = analytic_counters(g, rate=0.25, tokens=3)
    # two encoders per block: in_proj (64 inputs) and out_proj (128 inputs), D = 4
    assert cs.total("neuron_updates") == 3 * 2 * (64 + 128) * 4
    assert cs.total("spikes") == pytest.approx(3 * 2 * (64 + 128) * 4 * 0.25)
    assert cs.tokens == 3
    one = analytic_counters(g, rate=0.25)
    assert cs.total("acs") == pytest.approx(3 * one.total("acs"))


def test_memory_counters_by_hand():
    g = spiking_graph(TINY, 4)
    R = 0.1
    d, V, di, C, K, H, P, N = 64, 112, 128, 160, 4, 4, 32, 16
    d_in_proj = 292
    for mode in ("per-spike", "per-active"):
        cs = analytic_counters(g, rate=R, weight_reads=mode)
        by = {l.name: l for l in cs.nodes}
        emb = by["embedding"]
        assert emb.dense_weight_bytes_read == d * 4 and emb.weight_bytes_read == d * 4
        assert by["lm_head"].weight_bytes_read == V * d * 4
        ip = by["layers.0.in_proj"]
        assert ip.dense_weight_bytes_read == d_in_proj * d * 4
        if mode == "per-spike":
            assert ip.weight_bytes_read == pytest.approx(ip.acs * 4)
        else:  # active inputs = R*d (each at level D): one column of d_in_proj weights each
            assert ip.weight_bytes_read == pytest.approx(R * d * d_in_proj * 4)
        conv = by["layers.0.conv1d"]
        assert conv.dense_weight_bytes_read == (C * K + C) * 4
        assert conv.state_bytes_read == conv.state_bytes_written == C * (K - 1) * 4
        assert by["layers.0.ssm"].state_bytes_read == H * P * N * 4
        assert by["layers.0.ssm"].dense_weight_bytes_read == 2 * H * 4


def test_horowitz_energy_by_hand_at_zero_rate():
    """At R = 0 the spiked projections cost nothing in the SNN; the dense model pays their
    MACs and weight reads."""
    g = spiking_graph(TINY, 4)
    cs = analytic_counters(g, rate=0.0, lm_head=False)
    rep = price(cs, load_table("horowitz-45nm"))
    proj_weights = 2 * (64 * 292 + 128 * 64)
    diff = rep.ann.total - rep.snn.total
    assert diff == pytest.approx(proj_weights * (4.6 + 4 * 12.5), rel=1e-12)


def test_dense_config_gets_default_D_and_spiked_config_keeps_its_own():
    g = spiking_graph(TINY)
    assert {n.op.D for n in g.nodes if n.op_type == "SpikeEncode"} == {4}
    spk = TINY.replace(spiking=True, neuron=NeuronConfig(D=3))
    g = spiking_graph(spk)
    assert {n.op.D for n in g.nodes if n.op_type == "SpikeEncode"} == {3}
    g = spiking_graph(spk, 6)
    assert {n.op.D for n in g.nodes if n.op_type == "SpikeEncode"} == {6}


def test_per_node_rates_and_rates_from_counters():
    g = spiking_graph(TINY, 4)
    names = [n.name for n in g.nodes if n.op_type == "SpikedLinear"]
    rates = {n: 0.05 * (i + 1) for i, n in enumerate(names)}
    cs = analytic_counters(g, rates=rates, tokens=5)
    back = rates_from_counters(g, cs)
    assert back == pytest.approx(rates)
    assert cs.meta["node_rates"] == rates


@pytest.mark.parametrize("kw,match", [
    ({"rate": 1.5}, "--fire-rate"),
    ({"rate": -0.1}, "--fire-rate"),
    ({"mean_spikes": 5.0}, "--mean-spikes"),
    ({}, "exactly one"),
    ({"rate": 0.1, "mean_spikes": 0.4}, "exactly one"),
    ({"rate": 0.1, "weight_reads": "sometimes"}, "weight_reads"),
    ({"rates": {"layers.0.in_proj": 0.1}}, "no firing rate given"),
])
def test_bad_rates_raise_config_error(kw, match):
    g = spiking_graph(TINY, 4)
    with pytest.raises(ConfigError, match=match):
        analytic_counters(g, **kw)
