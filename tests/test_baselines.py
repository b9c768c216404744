"""Fair baselines (issue 14): dense baselines as data, every comparison naming both sides,
mismatched sides refused, memory split three ways, latency on both sides, plots and the
per-chip table."""

from __future__ import annotations

import copy
import json
import math
import re
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from snncompile.cli import main
from snncompile.energy.analytic import analytic_counters, spiking_graph
from snncompile.energy.baseline import (ARITHMETIC_ONLY, BASELINES_DIR, choose_method, compare,
                                        list_baselines, load_baseline, parse_baseline,
                                        price_dense, snn_latency, twin_of_preset,
                                        twin_of_table)
from snncompile.energy.price import price
from snncompile.energy.table import list_tables, load_table
from snncompile.errors import BaselineError
from snncompile.ir.counts import Counts, NodeCounts, RunCounts
from snncompile.models.config import PUBLIC_CONFIGS, NeuronConfig, SpikingMambaConfig
from snncompile.simulator.simjson import parse_sim

PRESETS_DIR = Path(__file__).resolve().parents[1] / "backends" / "accum" / "presets"


def _hw(name="default"):
    from snncompile.backends.accum.hardware import HardwareSpec
    return HardwareSpec.load(name).to_dict()


def _table(name, hw=None):
    return load_table(name, hardware=hw or _hw())


def _run(args):
    return CliRunner().invoke(main, ["energy", *args])


TINY = SpikingMambaConfig(d_model=32, n_layer=2, vocab_size=40, d_state=8, headdim=16,
                          spiking=True, neuron=NeuronConfig(kind="silif", D=4))


# -- every bundled table and chip preset has a comparable dense twin ----------------------------
@pytest.mark.parametrize("table", list_tables())
def test_every_bundled_cost_table_has_a_comparable_dense_twin(table):
    name = twin_of_table(table)
    assert name is not None, f"cost table {table} has no dense twin in energy/baselines/"
    t, b = _table(table), load_baseline(name)
    assert t.technology and t.technology == b.technology
    method = choose_method(t, b)  # raises when the sides are not comparable
    has_memory = any(k in t.prices for k in ("weight_read", "state_read", "state_write"))
    assert method == ("twin" if has_memory else "arithmetic")


@pytest.mark.parametrize("preset", sorted(p.stem for p in PRESETS_DIR.glob("*.toml")))
def test_every_chip_preset_has_a_dense_twin(preset):
    name = twin_of_preset(preset)
    assert name is not None, f"chip preset {preset} has no dense twin in energy/baselines/"
    b = load_baseline(name)
    # the twin's tables price this chip: comparable with it on the preset's own hardware
    for t in b.twin_tables:
        choose_method(_table(t, _hw(preset)), b)


def test_twin_relations_name_existing_tables_and_presets():
    presets = {p.stem for p in PRESETS_DIR.glob("*.toml")}
    for name in list_baselines():
        b = load_baseline(name)
        assert set(b.twin_tables) <= set(list_tables()), name
        assert set(b.twin_presets) <= presets, name


def _numbers(node, where=""):
    """Every numeric leaf of a TOML document, with its path."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _numbers(v, f"{where}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _numbers(v, f"{where}[{i}]")
    elif isinstance(node, (int, float)) and not isinstance(node, bool):
        yield where


@pytest.mark.parametrize("name", list_baselines())
def test_every_number_of_a_baseline_has_a_source(name):
    data = tomllib.loads((BASELINES_DIR / f"{name}.toml").read_text())
    paths = list(_numbers(data))
    assert paths
    for p in paths:
        assert p.endswith(".value"), f"{name}: {p} is a bare number"
        node = data
        for part in p.strip(".").split(".")[:-1]:
            node = node[part]
        src = node["source"]
        assert src.strip(), f"{name}: {p} has an empty source"


def _raw(name="dense-45nm"):
    return tomllib.loads((BASELINES_DIR / f"{name}.toml").read_text())


@pytest.mark.parametrize("mutate, match", [
    (lambda d: d["mac_array"]["lanes"].pop("source"), "every number needs its source"),
    (lambda d: d["mac_array"].update(lanes=64), "every number needs its source"),
    (lambda d: d["mac_array"]["lanes"].update(value=0), "positive integer"),
    (lambda d: d["mac_array"]["clock_hz"].update(value=float("inf")), "positive finite"),
    (lambda d: d["memory"]["weight_sram"].update(kind="flash"), "kind must be one of"),
    (lambda d: d["dataflow"].update(weights="l3"), "not a memory level of this file"),
    (lambda d: d["dataflow"].pop("state"), "not priced"),
    (lambda d: d.pop("not_priced"), "static_watts"),
    (lambda d: d.update(format="x/1"), "format must be"),
    (lambda d: d.update(extra=1), "not a known field"),
    (lambda d: d.pop("technology"), "technology must be a non-empty string"),
    (lambda d: d["memory"]["weight_sram"].pop("bytes_per_access"), "pj_per_byte"),
])
def test_malformed_baseline_is_a_typed_error(mutate, match):
    d = copy.deepcopy(_raw())
    mutate(d)
    with pytest.raises(BaselineError, match=match):
        parse_baseline(d, where="x.toml")


def test_unknown_baseline_names_the_choices(tmp_path):
    with pytest.raises(BaselineError, match="choose one of"):
        load_baseline("nope")
    bad = tmp_path / "b.toml"
    bad.write_text("format = [")
    with pytest.raises(BaselineError, match="not valid TOML"):
        load_baseline(bad)


# -- mismatched sides are refused ---------------------------------------------------------------
@pytest.mark.parametrize("table, baseline, match", [
    ("horowitz-45nm", "dense-loihi1", "loihi1-14nm.* across technologies|technolog"),
    ("loihi1-sanafe", "dense-45nm", "technolog"),
    ("accum", "dense-loihi1-sanafe", "technolog"),
    ("loihi1", "dense-loihi1-sanafe", None),          # same technology and coverage: allowed
    ("horowitz-45nm", "dense-accum", None),
])
def test_technology_mismatch_is_refused(table, baseline, match):
    t, b = _table(table), load_baseline(baseline)
    if match is None:
        assert choose_method(t, b) == "twin"
    else:
        with pytest.raises(BaselineError, match="refused"):
            choose_method(t, b)


def test_memory_on_one_side_only_is_refused_except_the_papers_method():
    paper, dense = _table("paper-45nm"), load_baseline("dense-45nm")
    with pytest.raises(BaselineError, match="one side only"):
        choose_method(paper, dense, "twin")
    assert choose_method(paper, dense) == "arithmetic"
    # a twin without state traffic against a table that prices it
    d = _raw("dense-45nm")
    d["dataflow"].pop("state")
    d["not_priced"]["state"] = "test"
    no_state = parse_baseline(d, where="t.toml")
    with pytest.raises(BaselineError, match="state traffic on one side only"):
        choose_method(_table("horowitz-45nm"), no_state)
    # a twin with static power against a table without it
    d = _raw("dense-45nm")
    d["not_priced"].pop("static_power")
    d["static_watts"] = {"value": 0.1, "source": "test"}
    with pytest.raises(BaselineError, match="static power on one side only"):
        choose_method(_table("horowitz-45nm"), parse_baseline(d, where="t.toml"))
    # a table with no technology cannot be compared at all
    t = _table("horowitz-45nm")
    import dataclasses
    with pytest.raises(BaselineError, match="declares no technology"):
        choose_method(dataclasses.replace(t, technology=""), dense)


def test_cli_refuses_mismatched_sides_on_one_line():
    r = _run(["--config", "mamba2-130m", "--fire-rate", "0.1", "--preset", "horowitz-45nm",
              "--baseline", "dense-loihi1"])
    assert r.exit_code == 2
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: refused") and "dense-loihi1" in lines[0]
    r = _run(["--config", "mamba2-130m", "--fire-rate", "0.1", "--method", "twin"])
    assert r.exit_code == 2 and "one side only" in r.output


# -- the paper's method, untouched and labelled -------------------------------------------------
def test_papers_method_gives_the_papers_ratio_and_says_so():
    from snncompile.energy.reproduce import PAPER_RATIO, RatioModel, solve_rate

    rm = RatioModel("mamba2-1.3b", "paper-45nm", lm_head=True)
    rate = solve_rate(rm.ratio, PAPER_RATIO).rate
    graph = spiking_graph(PUBLIC_CONFIGS["mamba2-1.3b"])
    rep = price(analytic_counters(graph, rate=rate), load_table("paper-45nm"))
    cmp = compare(rep, load_baseline("dense-45nm"))
    assert cmp.method == "arithmetic" and cmp.label == ARITHMETIC_ONLY
    assert cmp.ratio == pytest.approx(rep.ratio_compute, rel=1e-12)
    assert round(cmp.ratio, 2) == PAPER_RATIO
    r = _run(["--config", "mamba2-1.3b", "--fire-rate", f"{rate}"])
    assert r.exit_code == 0, r.output
    assert "comparison: arithmetic only (the paper's method" in r.output
    assert re.search(r"ratio E_dense / E_SNN = 4\.76\dx \(dense-45nm vs paper-45nm\)", r.output)


# -- the dense twin, by hand --------------------------------------------------------------------
def _node(name, op, **kw):
    return NodeCounts(name, op, 0, Counts(**kw))


def test_dense_twin_energy_and_time_by_hand():
    b = load_baseline("dense-accum")   # 192 lanes, 1 GHz, pipeline 8; 16 MB at 512 GB/s
    wb = 40 * 2 ** 20                  # 40 MB of weights: 3 units of 16 MB stream in parallel
    nodes = (_node("p", "SpikedLinear", dense_macs=10 ** 7, dense_weight_bytes_read=wb),
             _node("s", "SSMScan", dense_macs=192_000, dense_state_bytes_read=1000,
                   dense_state_bytes_written=1000),
             _node("a", "Add", dense_acs=96))
    run = price_dense(RunCounts(nodes, tokens=1), b)
    p, s, a = run.nodes
    assert p.bound == "weights"
    assert p.time_s == pytest.approx((wb / (3 * 5.12e11) * 1e9 + 8) / 1e9)
    assert p.energy.mac == pytest.approx(4.6 * 10 ** 7)
    assert p.energy.memory_weights == pytest.approx(wb * 52 / 8)
    assert s.bound == "compute" and s.time_s == pytest.approx((1000 + 8) / 1e9)
    assert s.energy.memory_state == pytest.approx(2000 * 20 / 8)
    assert a.energy.ac == pytest.approx(96 * 0.9) and a.time_s == pytest.approx((0.5 + 8) / 1e9)
    e = run.energy
    assert e.memory == pytest.approx(e.memory_weights + e.memory_state) and e.memory_buffers == 0
    assert run.units == 3
    # arithmetic only: no memory energy, the same dataflow time
    arith = price_dense(RunCounts(nodes, tokens=1), b, memory=False)
    assert arith.energy.memory == 0 and arith.time_s == pytest.approx(run.time_s)
    # unknown dense weight reads cannot be priced by a twin
    unknown = (_node("p", "SpikedLinear", dense_macs=10, dense_weight_bytes_read=None),)
    with pytest.raises(BaselineError, match="dense weight reads unknown"):
        price_dense(RunCounts(unknown), b)


# -- memory split three ways --------------------------------------------------------------------
def test_memory_split_into_weights_state_and_buffers():
    from test_energy_measured import sim_fixture

    data = sim_fixture()
    for l in data["layers"]:
        if l["op"] == "SpikedLinear":   # accumulator traffic of the spiked projections
            l["state_bytes_read"] = l["state_bytes_written"] = 3 * l["acs"]
    for k in ("state_bytes_read", "state_bytes_written"):
        data["totals"][k] = sum(l[k] for l in data["layers"])
    rep = price(parse_sim(data), load_table("accum", hardware=data["hardware"]))
    for l in rep.layers:
        e = l.snn
        assert e.memory == pytest.approx(e.memory_weights + e.memory_state + e.memory_buffers)
        if l.op == "SpikedLinear":
            assert e.memory_buffers > 0 and e.memory_state == 0
        else:
            assert e.memory_buffers == 0
    assert rep.snn.memory_state > 0 and rep.snn.memory_weights > 0
    from snncompile.energy.report import report_dict, to_csv
    d = report_dict(rep)
    for k in ("memory_weights", "memory_state", "memory_buffers"):
        assert k in d["total"]["snn_j"] and k in d["nodes"][0]["snn_j"]
    header = to_csv(rep).splitlines()[0].split(",")
    assert {"snn_memory_weights_j", "snn_memory_state_j", "snn_memory_buffers_j"} <= set(header)


# -- latency on both sides ----------------------------------------------------------------------
def test_snn_latency_simulated_and_estimated():
    from test_energy_measured import sim_fixture

    cs = parse_sim(sim_fixture())
    lat = snn_latency(cs)
    assert lat.basis == "simulated" and lat.total_s == pytest.approx(cs.time_s)
    assert sum(lat.per_node_s) == pytest.approx(cs.time_s)
    # analytic: one spiked node on the default chip, by hand
    hw = _hw("default")
    node = _node("p", "SpikedLinear", acs=8000, dense_macs=1000, dense_weight_bytes_read=4000)
    est = snn_latency(RunCounts((node,), meta={"D": 4}), hw)
    cores = math.ceil(4000 / hw["core"]["weight_sram_bytes"])
    want = (8000 * 1 / (cores * hw["core"]["ac_lanes"])
            + 4 * (hw["sync"]["barrier_cycles"] + hw["core"]["pipeline_depth"]))
    assert est.basis == "analytic estimate" and est.total_s == pytest.approx(want / 1e9)
    assert snn_latency(RunCounts((node,))) is None    # no chip, not simulated


# -- every command names both sides -------------------------------------------------------------
RATIO = re.compile(r"\d\.\d+x")


@pytest.mark.parametrize("table", list_tables())
def test_no_ratio_printed_without_both_sides(table):
    r = _run(["--config", "mamba2-130m", "--fire-rate", "0.1", "--preset", table])
    assert r.exit_code == 0, r.output
    summary = r.output.split("mode: analytic")[1]
    twin = twin_of_table(table)
    printed = [l for l in summary.splitlines() if RATIO.search(l)]
    assert printed
    for line in printed:
        assert table in line, line
        assert twin in line or f"priced with {table}" in line, line
    assert "Energy by block" in r.output and f"SNN {table} vs dense {twin}" in r.output


def test_json_comparison_names_both_sides_with_latency():
    r = _run(["--config", "mamba2-130m", "--fire-rate", "0.1", "--preset", "accum", "--json"])
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    c = rep["comparison"]
    assert c["method"] == "twin"
    assert c["snn"]["table"] == "accum" and c["snn"]["hardware"] == "generic-1chip"
    assert c["dense"]["baseline"] == "dense-accum" and c["dense"]["technology"] == "45nm"
    assert c["ratio"] == pytest.approx(c["dense"]["total_j"]["total"] / c["snn"]["total_j"]["total"])
    assert c["latency_ratio"] == pytest.approx(c["dense"]["latency_s"] / c["snn"]["latency_s"])
    assert c["snn"]["latency_basis"] == "analytic estimate"
    assert sum(b["dense_j"]["total"] for b in c["blocks"]) == pytest.approx(
        c["dense"]["total_j"]["total"])
    assert rep["ratio_sides"]["dense"].startswith("the dense model priced with cost table accum")
    from test_output_formats import check_names
    check_names(rep)   # the naming conventions of docs/output-formats.md


def test_measured_comparison_uses_the_simulated_chip(tmp_path):
    from test_energy_measured import sim_fixture

    sim = tmp_path / "sim.json"
    sim.write_text(json.dumps(sim_fixture()))
    r = _run(["--from", str(sim), "--preset", "accum", "--json"])
    assert r.exit_code == 0, r.output
    c = json.loads(r.stdout)["comparison"]
    assert c["snn"]["latency_basis"] == "simulated" and c["dense"]["baseline"] == "dense-accum"
    assert _run(["--from", str(sim), "--preset", "accum", "--hw", "default"]).exit_code == 2


def test_table_without_twin_names_its_sides(tmp_path):
    src = Path(load_table("horowitz-45nm").path).read_text().replace(
        'name = "horowitz-45nm"', 'name = "mine"')
    p = tmp_path / "mine.toml"
    p.write_text(src)
    r = _run(["--config", "mamba2-130m", "--fire-rate", "0.1", "--preset", str(p)])
    assert r.exit_code == 0, r.output
    assert "ratio E_ANN / E_SNN" in r.output and "priced with cost table mine" in r.output
    r = _run(["--config", "mamba2-130m", "--fire-rate", "0.1", "--preset", str(p),
              "--baseline", "dense-45nm", "--json"])
    assert json.loads(r.stdout)["comparison"]["dense"]["baseline"] == "dense-45nm"
    r = _run(["--config", "mamba2-130m", "--fire-rate", "0.1", "--preset", str(p),
              "--layers-png", str(tmp_path / "x.png")])
    assert r.exit_code == 2 and "no bundled dense twin" in r.output


# -- plots --------------------------------------------------------------------------------------
def test_layer_and_rate_plots(tmp_path):
    lp, rp, csvp = tmp_path / "layers.png", tmp_path / "rate.png", tmp_path / "e.csv"
    r = _run(["--config", "mamba2-130m", "--fire-rate", "0.1", "--preset", "accum",
              "--layers-png", str(lp), "--rate-png", str(rp), "--csv", str(csvp),
              "--pair", "loihi1-sanafe:dense-loihi1-sanafe", "--pair", "paper-45nm:dense-45nm"])
    assert r.exit_code == 0, r.output
    for p in (lp, rp):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 10_000
    import csv
    import io
    rows = list(csv.DictReader(io.StringIO(csvp.read_text())))
    total = rows[-1]
    assert float(total["dense_total_j"]) > 0 and float(total["snn_time_s"]) > 0
    assert float(total["dense_ratio"]) == pytest.approx(
        float(total["dense_total_j"]) / float(total["snn_total_j"]))
    r = _run(["--config", "mamba2-130m", "--fire-rate", "0.1", "--rate-png", str(rp),
              "--pair", "horowitz-45nm:dense-loihi1"])
    assert r.exit_code == 2 and "refused" in r.output
    assert _run(["--config", "mamba2-130m", "--fire-rate", "0.1", "--pair",
                 "accum:dense-accum"]).exit_code == 2     # --pair without --rate-png


def test_break_even_is_where_the_ratio_is_one():
    from snncompile.energy.ratio_curve import Side, break_even, ratio_curve

    graph = spiking_graph(TINY)
    side = Side(_table("horowitz-45nm"), load_baseline("dense-45nm"))
    be = break_even(graph, side)
    assert be is not None and 0 < be < 1
    c = ratio_curve(graph, side, [be, be / 2, min(1.0, be * 1.5)])
    assert c.points[0].ratio == pytest.approx(1.0, rel=1e-9)
    assert c.points[1].ratio > 1 > c.points[2].ratio
    arith = ratio_curve(graph, Side(_table("paper-45nm"), load_baseline("dense-45nm")), [0.1])
    assert arith.method == "arithmetic"


def test_list_baselines_and_presets_name_twins():
    r = _run(["--list-baselines"])
    assert r.exit_code == 0
    for name in list_baselines():
        assert name in r.output
    r = _run(["--list-presets"])
    assert "[dense twin: dense-loihi1-sanafe]" in r.output


# -- the committed table ------------------------------------------------------------------------
def test_comparison_table_rows_and_committed_section():
    from snncompile.energy import comparison_table as ct

    hw = {p: _hw(p) for p in ct.PRESETS}
    rate = 0.1213
    rows = ct.rows(["mamba2-130m"], hw, rate)
    assert [(r.table, r.baseline) for r in rows] == [(t, b) for t, _, b in ct.PAIRS]
    by = {r.table: r for r in rows}
    assert by["paper-45nm"].method == "arithmetic" and by["paper-45nm"].t_snn_s is None
    for t in ("accum", "loihi1", "loihi1-sanafe"):
        assert by[t].method == "twin" and by[t].latency_ratio == pytest.approx(
            by[t].t_dense_s / by[t].t_snn_s)
    md = ct.markdown(rows, rate)
    assert "| mamba2-130m | accum (default) | dense-accum | dense twin |" in md
    committed = (Path(__file__).resolve().parents[1] / "examples" / "results"
                 / "energy_reproduction.md").read_text()
    head, _, section = committed.partition("## Each chip against its dense twin")
    assert "**mamba2-1.3b reaches 4.76x**" in head and section
    for c in ("mamba2-130m", "mamba2-370m", "mamba2-780m", "mamba2-1.3b", "mamba2-2.7b"):
        assert f"| {c} | accum (default) | dense-accum |" in section
        assert f"| {c} | loihi1-sanafe (loihi1) | dense-loihi1-sanafe |" in section
    assert "| mamba2-1.3b | paper-45nm (no chip) | dense-45nm | arithmetic only (paper) |" \
        in section and "| 4.76x |" in section


# -- sweeps carry the dense twin of each cost table ---------------------------------------------
def test_sweep_points_name_the_dense_twin(tmp_path):
    from snncompile.sweep import SerialExecutor, load_spec, run_sweep

    spec = tmp_path / "spec.toml"
    spec.write_text("""
[model]
config = { d_model = 32, n_layer = 1, vocab_size = 256, d_state = 8, headdim = 16 }
neuron = { kind = "silif", D = 4, theta = 0.5 }
seed = 0

[workload]
prompt = "hi"
tokens = 1

[hardware]
base = "default"

[axes]
"core.ac_lanes" = [4]

[energy]
presets = ["accum", "paper-45nm"]
""")
    res = run_sweep(load_spec(spec), SerialExecutor())
    (p,) = res.points
    assert p["status"] == "ok", p
    acc, pap = p["energy"]["accum"]["comparison"], p["energy"]["paper-45nm"]["comparison"]
    assert acc["baseline"] == "dense-accum" and acc["method"] == "twin"
    assert pap["baseline"] == "dense-45nm" and pap["method"] == "arithmetic"
    assert pap["ratio"] == pytest.approx(p["energy"]["paper-45nm"]["ratio"], rel=1e-12)
    t = acc["per_token"]
    assert acc["ratio"] == pytest.approx(t["dense_j"] / t["snn_j"])
    assert t["snn_latency_s"] == pytest.approx(p["per_token"]["time_s"])
    assert acc["latency_ratio"] == pytest.approx(t["dense_latency_s"] / t["snn_latency_s"])


def test_unknown_dense_weight_reads_fall_back_to_the_labelled_papers_method():
    from test_energy_measured import sim_fixture

    data = sim_fixture()
    data.pop("hardware")   # no hardware: the dense weight reads cannot be derived
    rep = price(parse_sim(data), load_table("horowitz-45nm"))
    assert not rep.ann_memory_known
    cmp = compare(rep, load_baseline("dense-45nm"))
    assert cmp.method == "arithmetic" and cmp.label == ARITHMETIC_ONLY
    assert cmp.ratio == pytest.approx(rep.ratio_compute, rel=1e-12)
    with pytest.raises(BaselineError, match="dense weight reads unknown"):
        compare(rep, load_baseline("dense-45nm"), method="twin")
