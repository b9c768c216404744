"""Measured mode: pricing a simulator's sim.json (schema `snncompile-sim/1`, written here by
hand for a one-block model), memory / NoC / static components, and the consistency of
analytic mode fed the measured firing rates."""

from __future__ import annotations

import copy
import json

import pytest
from click.testing import CliRunner

from snncompile.cli import main
from snncompile.energy.analytic import analytic_counters, rates_from_counters, spiking_graph
from snncompile.simulator.simjson import parse_sim, read_sim_json
from snncompile.energy.price import price
from snncompile.energy.table import load_table
from snncompile.errors import SimulationError
from snncompile.models.config import NeuronConfig, SpikingMambaConfig

# one block: d 32, d_inner 64, H 4, P 16, N 4, G 1, K 4, conv_dim 72, in_proj 140, V 48
CFG = SpikingMambaConfig(d_model=32, n_layer=1, vocab_size=40, d_state=4, headdim=16,
                         spiking=True, neuron=NeuronConfig(kind="silif", D=4))
T = 3                      # tokens simulated
S_IN, S_OUT = 37, 53       # measured sum|s| over the 3 tokens, into in_proj / out_proj
HOP_PJ = 5.0               # the simulated chip's hop energy (differs from the preset)


def _rec(name, op, block, **kw):
    r = {"name": name, "op": op, "block": block, "acs": 0, "macs": 0, "dense_macs": 0,
         "spikes": 0, "neuron_updates": 0, "weight_bytes_read": 0, "state_bytes_read": 0,
         "state_bytes_written": 0, "spike_messages": 0, "noc_hops": 0, "cycles": 0}
    r.update(kw)
    return r


def sim_fixture() -> dict:
    from snncompile.backends.accum.hardware import HardwareSpec

    d, di, H, P, N, K, C, dp, V = 32, 64, 4, 16, 4, 4, 72, 140, 48
    hw = HardwareSpec.load("default").to_dict()
    hw["noc"]["hop_energy_pj"] = HOP_PJ
    dense = lambda n: {"macs": T * n, "dense_macs": T * n}  # noqa: E731
    layers = [
        _rec("embedding", "Embedding", None, weight_bytes_read=T * d * 4, cycles=2),
        _rec("layers.0.norm", "RMSNorm", 0, **dense(2 * d), cycles=5),
        _rec("layers.0.in_proj_spike", "SpikeEncode", 0, spikes=S_IN, neuron_updates=T * d * 4,
             spike_messages=S_IN * 2, noc_hops=S_IN * 3, cycles=7),
        _rec("layers.0.in_proj", "SpikedLinear", 0, acs=dp * S_IN, dense_macs=T * dp * d,
             weight_bytes_read=dp * S_IN, cycles=100),
        _rec("layers.0.split_zxbcdt", "Split", 0),
        _rec("layers.0.conv1d", "CausalConv1d", 0, **dense(C * K), state_bytes_read=T * C * 3 * 4,
             state_bytes_written=T * C * 3 * 4, weight_bytes_read=T * (C * K + C) * 4, cycles=9),
        _rec("layers.0.conv_act", "SiLU", 0, **dense(C), cycles=3),
        _rec("layers.0.split_xbc", "Split", 0),
        _rec("layers.0.dt_softplus", "Softplus", 0, **dense(H), cycles=1),
        _rec("layers.0.ssm", "SSMScan", 0, **dense(3 * H * P * N + 2 * H * P),
             state_bytes_read=T * H * P * N * 4, state_bytes_written=T * H * P * N * 4, cycles=40),
        _rec("layers.0.norm_gated", "GatedRMSNorm", 0, **dense(3 * di), cycles=6),
        _rec("layers.0.out_proj_spike", "SpikeEncode", 0, spikes=S_OUT, neuron_updates=T * di * 4,
             spike_messages=S_OUT, noc_hops=S_OUT * 2, cycles=8),
        _rec("layers.0.out_proj", "SpikedLinear", 0, acs=d * S_OUT, dense_macs=T * d * di,
             weight_bytes_read=d * S_OUT, cycles=60),
        _rec("layers.0.residual", "Add", 0, acs=T * d, cycles=1),
        _rec("norm_f", "RMSNorm", None, **dense(2 * d), cycles=5),
        _rec("lm_head", "LMHead", None, **dense(V * d), weight_bytes_read=T * V * d * 4, cycles=53),
    ]
    cycles = sum(l["cycles"] for l in layers)
    totals = {k: sum(l[k] for l in layers) for k in layers[0] if k not in ("name", "op", "block")}
    return {"format": "snncompile-sim/1", "program": "prog/", "hardware": hw, "tokens": T,
            "text": "abc", "clock_hz": 1e9, "layers": layers, "totals": totals,
            "cycles": cycles, "time_s": cycles / 1e9}


def _write(tmp_path, data, name="sim.json"):
    p = tmp_path / name
    p.write_text(json.dumps(data))
    return p


def test_measured_accum_components_by_hand():
    data = sim_fixture()
    cs = parse_sim(data)
    t = load_table("accum", hardware=cs.meta["hardware"])
    assert t.per_unit("noc_hop") == HOP_PJ  # the simulated chip's value, not the preset's
    rep = price(cs, t)
    L = data["layers"]
    tot = lambda k: sum(l[k] for l in L)  # noqa: E731
    assert rep.snn.ac == pytest.approx(0.1 * tot("acs"))
    assert rep.snn.mac == pytest.approx(4.6 * tot("macs"))
    assert rep.snn.neuron == pytest.approx(0.2 * tot("neuron_updates"))
    assert rep.snn.memory == pytest.approx(52 / 8 * tot("weight_bytes_read")
                                           + 20 / 8 * (tot("state_bytes_read") + tot("state_bytes_written")))
    assert rep.snn.noc == pytest.approx(1.7 * tot("spike_messages") + HOP_PJ * tot("noc_hops"))
    assert rep.snn.static == 0  # the accum table has no static power
    assert rep.unpriced == {"spikes": S_IN + S_OUT}
    by = {l.name: l for l in rep.layers}
    assert by["layers.0.residual"].ann.ac == pytest.approx(0.1 * T * 32)  # dense_acs rule
    # dense baseline of a spiked projection: every int8 weight (core.weight_bits = 8) read
    # once per token, no accumulator/neuron state; still-dense ops: the measured traffic
    ip = by["layers.0.in_proj"]
    assert ip.counters.dense_weight_bytes_read == T * 140 * 32 * 8 / 8
    assert ip.ann.memory == pytest.approx(52 / 8 * T * 140 * 32)
    assert by["layers.0.in_proj_spike"].ann.total == 0
    ssm = by["layers.0.ssm"]
    assert ssm.ann.memory == pytest.approx(ssm.snn.memory)
    assert rep.ratio_basis == "all"
    assert rep.ratio == pytest.approx(rep.ann.total / rep.snn.total)


def test_without_hardware_dense_weight_reads_are_unknown():
    data = sim_fixture()
    data.pop("hardware")
    rep = price(parse_sim(data), load_table("horowitz-45nm"))
    assert rep.ratio_basis == "compute" and rep.ratio == rep.ratio_compute
    assert any("dense weight reads unknown for 2 node(s)" in n for n in rep.notes)


def test_explicit_dense_fields_win_over_the_rules():
    data = sim_fixture()
    for l in data["layers"]:
        if l["op"] == "SpikedLinear":
            l["dense_weight_bytes_read"] = l["dense_macs"] * 4   # say, fp32 dense weights
            l["dense_state_bytes_read"] = 8
    by = {l.name: l for l in parse_sim(data).nodes}
    ip = by["layers.0.in_proj"]
    assert ip.dense_weight_bytes_read == T * 140 * 32 * 4
    assert ip.dense_state_bytes_read == 8 and ip.dense_state_bytes_written == 0


def test_static_power_from_simulated_time(tmp_path):
    data = sim_fixture()
    table = tmp_path / "leaky.toml"
    table.write_text('format = "snncompile-cost/1"\nname = "leaky"\ndescription = "x"\n'
                     '[constants.add]\npj = 1.0\nsource = "s"\n'
                     '[constants.leak]\nwatts = 0.25\nsource = "s"\n'
                     '[prices]\nac = "add"\nstatic_power = "leak"\n')
    rep = price(parse_sim(data), load_table(str(table)))
    assert rep.snn.static == pytest.approx(0.25 * data["time_s"] * 1e12)
    ssm = next(l for l in rep.layers if l.name == "layers.0.ssm")
    assert ssm.snn.static == pytest.approx(rep.snn.static * 40 / data["cycles"])


def test_analytic_at_measured_rates_gives_the_measured_counts(tmp_path):
    """Fed the measured firing rates, analytic mode reproduces the simulator's AC and MAC
    counts (the fixture's MACs come from the Mamba2 formulas above, the graph's from Op.counts)."""
    cs = parse_sim(sim_fixture())
    g = spiking_graph(CFG)
    rates = rates_from_counters(g, cs)
    assert rates["layers.0.in_proj"] == pytest.approx(S_IN / (T * 32 * 4))
    an = analytic_counters(g, rates=rates, tokens=T)
    m = {l.name: l for l in cs.nodes}
    for l in an.nodes:
        assert l.acs == pytest.approx(m[l.name].acs, rel=1e-12), l.name
        assert l.macs == m[l.name].macs, l.name
        assert l.dense_macs == m[l.name].dense_macs, l.name
    # and through the CLI, both modes priced with the paper table agree on AC and MAC energy
    sim = _write(tmp_path, sim_fixture())
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "config.json").write_text(json.dumps(CFG.to_mamba_ssm_dict()))
    r_meas = CliRunner().invoke(main, ["energy", "--from", str(sim), "--json"])
    r_an = CliRunner().invoke(main, ["energy", "--config", str(tmp_path / "cfg"), "--rates-from",
                                     str(sim), "--tokens", str(T), "--json"])
    assert r_meas.exit_code == 0, r_meas.output
    assert r_an.exit_code == 0, r_an.output
    jm, ja = json.loads(r_meas.stdout), json.loads(r_an.stdout)
    for k in ("acs", "macs", "dense_macs"):
        assert ja["total"]["counts"][k] == pytest.approx(jm["total"]["counts"][k], rel=1e-12)
    for k in ("ac", "mac"):
        assert ja["total"]["snn_j"][k] == pytest.approx(jm["total"]["snn_j"][k], rel=1e-12)
        assert ja["total"]["ann_j"][k] == pytest.approx(jm["total"]["ann_j"][k], rel=1e-12)
    assert ja["ratio"] == pytest.approx(jm["ratio"], rel=1e-12)


def test_cli_measured_lm_head_choice(tmp_path):
    sim = _write(tmp_path, sim_fixture())
    r = CliRunner().invoke(main, ["energy", "--from", str(sim), "--preset", "accum"])
    assert r.exit_code == 0, r.output
    assert "LM head: counted" in r.output and "mode: measured" in r.output
    assert "NoC" in r.output and "memory" in r.output
    r = CliRunner().invoke(main, ["energy", "--from", str(sim), "--no-lm-head", "--json"])
    rep = json.loads(r.stdout)
    assert rep["lm_head"] is False and "lm_head" not in {o["name"] for o in rep["nodes"]}
    assert "LM head: NOT counted" in r.stderr
    data = sim_fixture()
    data["layers"] = [l for l in data["layers"] if l["op"] != "LMHead"]
    data["totals"] = {k: sum(l[k] for l in data["layers"]) for k in data["totals"]}
    data["cycles"] = data["totals"]["cycles"]
    sim2 = _write(tmp_path, data, "nohead.json")
    r = CliRunner().invoke(main, ["energy", "--from", str(sim2), "--lm-head"])
    assert r.exit_code == 2 and "no LMHead layer" in r.output
    r = CliRunner().invoke(main, ["energy", "--from", str(sim), "--fire-rate", "0.1"])
    assert r.exit_code == 2 and "--fire-rate is for analytic mode" in r.output


@pytest.mark.parametrize("mutate,match", [
    (lambda d: d.update(format="other/1"), "format must be"),
    (lambda d: d.pop("layers"), "'nodes' must be a non-empty list"),  # version 1 is upgraded
    (lambda d: d["layers"][3].pop("acs"), "node 'layers.0.in_proj': counter 'acs' is missing"),
    (lambda d: d["layers"][3].update(acs=-1), "counter 'acs' must be a number >= 0"),
    (lambda d: d["layers"][1].update(name=""), r"nodes\[1\].name"),
    (lambda d: d.update(tokens=0), "'tokens' must be a positive int"),
])
def test_malformed_sim_json(tmp_path, mutate, match):
    data = copy.deepcopy(sim_fixture())
    mutate(data)
    p = _write(tmp_path, data)
    with pytest.raises(SimulationError, match=match):
        read_sim_json(p)
    r = CliRunner().invoke(main, ["energy", "--from", str(p)])
    assert r.exit_code == 2 and "Traceback" not in r.output


def test_unreadable_sim_json(tmp_path):
    p = tmp_path / "sim.json"
    p.write_text("{not json")
    with pytest.raises(SimulationError, match="not a readable JSON"):
        read_sim_json(p)
    with pytest.raises(SimulationError, match="no such file"):
        read_sim_json(tmp_path / "absent.json")
