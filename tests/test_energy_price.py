"""The pricing function on hand-made counters: every component against hand arithmetic,
additivity (layers sum to blocks sum to totals), the dense baseline and the ratio rules."""

from __future__ import annotations

import dataclasses

import pytest

from snncompile.ir.counts import Counts, NodeCounts, RunCounts
from snncompile.energy.price import Energy, price
from snncompile.energy.table import load_table, parse_table
from snncompile.errors import CostTableError

TABLE = {
    "format": "snncompile-cost/1", "name": "t", "description": "hand table",
    "constants": {
        "add": {"pj": 1.0, "source": "a"}, "mul": {"pj": 10.0, "source": "b"},
        "nu": {"pj": 3.0, "source": "c"}, "sp": {"pj": 5.0, "source": "d"},
        "w": {"pj": 16.0, "source": "e"}, "st": {"pj": 8.0, "source": "f"},
        "msg": {"pj": 2.0, "source": "g"}, "hop": {"pj": 0.5, "source": "h"},
        "leak": {"watts": 2.0, "source": "i"},
    },
    "prices": {
        "ac": "add", "mac": "mul", "neuron_update": "nu", "spike": "sp",
        "weight_read": {"constant": "w", "bytes_per_access": 8},     # 2 pJ/byte
        "state_read": {"constant": "st", "bytes_per_access": 4},     # 2 pJ/byte
        "state_write": {"constant": "st", "bytes_per_access": 2},    # 4 pJ/byte
        "spike_message": "msg", "noc_hop": "hop", "static_power": "leak",
    },
}


def _same(a: Energy, b: Energy) -> bool:
    return all(getattr(a, c) == pytest.approx(getattr(b, c), rel=1e-12, abs=1e-9)
               for c in ("ac", "mac", "neuron", "memory", "noc", "static"))


def _counters(**kw) -> RunCounts:
    a = NodeCounts("layers.0.in_proj_spike", "SpikeEncode", 0, Counts(spikes=7, neuron_updates=40,
                      spike_messages=7, noc_hops=12, cycles=10))
    b = NodeCounts("layers.0.in_proj", "SpikedLinear", 0, Counts(acs=100, dense_macs=60,
                      weight_bytes_read=80, dense_weight_bytes_read=240, cycles=30))
    c = NodeCounts("layers.0.ssm", "SSMScan", 0, Counts(macs=50, dense_macs=50, state_bytes_read=16,
                      state_bytes_written=16, dense_state_bytes_read=16,
                      dense_state_bytes_written=16, cycles=40))
    d = NodeCounts("layers.0.residual", "Add", 0, Counts(acs=4, dense_acs=4, cycles=0))
    e = NodeCounts("lm_head", "LMHead", None, Counts(macs=20, dense_macs=20, weight_bytes_read=40,
                      dense_weight_bytes_read=40, cycles=20))
    return RunCounts((a, b, c, d, e), tokens=2, time_s=1e-9, clock_hz=1e11,
                      meta={"mode": "measured"}, **kw)


def test_components_by_hand():
    rep = price(_counters(), parse_table(TABLE))
    static_total = 2.0 * 1e-9 * 1e12  # 2 W for 1 ns = 2000 pJ
    by = {l.name: l for l in rep.layers}
    enc = by["layers.0.in_proj_spike"].snn
    assert _same(enc, Energy(neuron=3 * 40 + 5 * 7, noc=2 * 7 + 0.5 * 12,
                             static=static_total * 10 / 100))
    lin = by["layers.0.in_proj"]
    assert _same(lin.snn, Energy(ac=100, memory=2 * 80, static=static_total * 30 / 100))
    assert _same(lin.ann, Energy(mac=10 * 60, memory=2 * 240))
    ssm = by["layers.0.ssm"]
    assert _same(ssm.snn, Energy(mac=500, memory=2 * 16 + 4 * 16, static=static_total * 40 / 100))
    assert _same(ssm.ann, Energy(mac=500, memory=2 * 16 + 4 * 16))
    add = by["layers.0.residual"]
    assert _same(add.snn, Energy(ac=4)) and _same(add.ann, Energy(ac=4))
    head = by["lm_head"]
    assert head.snn.total == pytest.approx(200 + 80 + static_total * 20 / 100)

    snn_total = (155 + 20) + (100 + 160) + (500 + 96) + 4 + (200 + 80) + static_total
    ann_total = (600 + 480) + (500 + 96) + 4 + (200 + 80)
    assert rep.snn.total == pytest.approx(snn_total)
    assert rep.ann.total == pytest.approx(ann_total)
    assert rep.snn.static == pytest.approx(static_total)
    assert rep.ratio == pytest.approx(ann_total / snn_total)
    assert rep.ratio_basis == "all"
    assert rep.ratio_compute == pytest.approx((600 + 500 + 4 + 200) / (100 + 500 + 4 + 200))
    assert rep.unpriced == {}


def test_blocks_add_up_to_totals():
    rep = price(_counters(), parse_table(TABLE))
    blocks = rep.blocks()
    assert [b.label for b in blocks] == ["layers.0", "lm_head"]
    assert len(blocks[0].nodes) == 4
    total = Energy()
    for b in blocks:
        total = total + b.snn
    for comp in ("ac", "mac", "neuron", "memory", "noc", "static"):
        assert getattr(total, comp) == pytest.approx(getattr(rep.snn, comp))


def test_paper_table_lists_unpriced_counters_and_ignores_them():
    rep = price(_counters(), load_table("paper-45nm"))
    assert _same(rep.snn, Energy(ac=0.9 * 104, mac=4.6 * 70))
    assert rep.ann.total == pytest.approx(4.6 * 130 + 0.9 * 4)
    assert rep.unpriced == {"spikes": 7, "neuron_updates": 40, "weight_bytes_read": 120,
                            "state_bytes_read": 16, "state_bytes_written": 16,
                            "spike_messages": 7, "noc_hops": 12}


def test_static_split_evenly_without_cycles_and_absent_without_time():
    cs = _counters()
    no_cycles = dataclasses.replace(cs, nodes=tuple(
        dataclasses.replace(l, counts=l.counts.replace(cycles=0)) for l in cs.nodes))
    rep = price(no_cycles, parse_table(TABLE))
    assert all(l.snn.static == pytest.approx(2000 / 5) for l in rep.layers)
    rep = price(dataclasses.replace(cs, time_s=None), parse_table(TABLE))
    assert rep.snn.static == 0
    assert any("static power not priced" in n for n in rep.notes)


def test_unknown_dense_weight_reads_fall_back_to_compute_ratio():
    cs = _counters()
    layers = tuple(dataclasses.replace(l, counts=l.counts.replace(dense_weight_bytes_read=None))
                   if l.op == "SpikedLinear" else l for l in cs.nodes)
    rep = price(dataclasses.replace(cs, nodes=layers), parse_table(TABLE))
    assert rep.ratio_basis == "compute"
    assert rep.ratio == rep.ratio_compute
    assert any("dense weight reads unknown" in n for n in rep.notes)


def test_price_is_pure():
    cs = _counters()
    t = parse_table(TABLE)
    a, b = price(cs, t), price(cs, t)
    assert a.snn == b.snn and a.ann == b.ann
    assert cs == _counters()
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.layers[0].snn.ac = 1.0  # type: ignore[misc]


def _hops(ns: int) -> RunCounts:
    n = NodeCounts("layers.0.synapse", "SpikedLinear", 0,
                   Counts(spike_messages=7, noc_hops=12, noc_hops_ns=ns))
    return RunCounts((n,), tokens=1, time_s=None, clock_hz=1e9, meta={"mode": "measured"})


def test_hops_priced_by_direction_when_the_table_splits_them():
    t = dict(TABLE, constants=dict(TABLE["constants"], hop_ns={"pj": 0.75, "source": "j"}),
             prices=dict(TABLE["prices"], noc_hop_ns="hop_ns"))
    rep = price(_hops(5), parse_table(t))
    assert rep.snn.noc == pytest.approx(2 * 7 + 0.5 * (12 - 5) + 0.75 * 5)
    assert "noc_hops_ns" not in rep.unpriced
    flat = price(_hops(5), parse_table(TABLE))      # one hop price: every hop at it
    assert flat.snn.noc == pytest.approx(2 * 7 + 0.5 * 12)
    assert "noc_hops_ns" not in flat.unpriced


def test_north_south_price_needs_the_east_west_one():
    t = dict(TABLE, constants=dict(TABLE["constants"], hop_ns={"pj": 0.75, "source": "j"}),
             prices={k: v for k, v in dict(TABLE["prices"], noc_hop_ns="hop_ns").items()
                     if k != "noc_hop"})
    with pytest.raises(CostTableError, match="noc_hop_ns needs prices.noc_hop"):
        parse_table(t)


@pytest.mark.parametrize("name, ew, ns", [("loihi1", 3.0, 4.0), ("loihi1-sanafe", 3.0, 4.2)])
def test_loihi_tables_price_each_direction(name, ew, ns):
    t = load_table(name)
    assert t.per_unit("noc_hop") == ew and t.per_unit("noc_hop_ns") == ns
    rep = price(_hops(4), t)
    assert rep.snn.noc == pytest.approx(t.per_unit("spike_message") * 7 + ew * 8 + ns * 4)
