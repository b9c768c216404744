"""`snncompile sweep`: spec validation, points, a tiny sweep end to end through the CLI, the
Pareto front, and identical results from every executor (serial, process pool, dask)."""

from __future__ import annotations

import csv
import io
import json
import os
import sys

import pytest
from click.testing import CliRunner

from snncompile.cli import main
from snncompile.errors import ConfigError, MissingDependencyError
from snncompile.frontend import build_graph
from snncompile.frontend.synthetic import random_state_dict
from snncompile.ir import serde
from snncompile.models.config import NeuronConfig, SpikingMambaConfig
from snncompile.sweep import (DaskExecutor, ProcessExecutor, SerialExecutor, load_spec,
                              pareto_front, parse_spec, run_sweep)

MODEL = """
[model]
config = { d_model = 32, n_layer = 2, vocab_size = 256, d_state = 8, headdim = 16 }
neuron = { kind = "silif", D = 4, theta = 0.5 }
seed = 0
"""
# 2 x 2 x 2 = 8 points; the 2x2 mesh of the `small` preset cannot hold this model (8 cores)
SPEC = MODEL + """
[workload]
prompt = "hi"
tokens = 2

[hardware]
base = "small"

[axes]
"spikes.encoding" = ["binary", "graded"]
"core.ac_lanes" = [4, 16]
"chip.mesh" = [[2, 2], [4, 4]]

[energy]
presets = ["accum", "paper-45nm"]
"""


def write_spec(tmp_path, text=SPEC, name="spec.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def comparable(points):
    """Point records as plain JSON (what results.json stores)."""
    return json.loads(json.dumps(points))


def dominated(a, b):
    """b dominates a (energy, time minimised)."""
    return b[0] <= a[0] and b[1] <= a[1] and (b[0] < a[0] or b[1] < a[1])


@pytest.fixture(scope="module")
def serial_result(tmp_path_factory):
    spec = load_spec(write_spec(tmp_path_factory.mktemp("s")))
    return run_sweep(spec, SerialExecutor())


# -- the spec ------------------------------------------------------------------------------
@pytest.mark.parametrize("change, field", [
    (('"core.ac_lanes" = [4, 16]', '"core.ac_lane" = [4, 16]'), "core.ac_lane"),
    (('"core.ac_lanes" = [4, 16]', '"ac_lanes" = [4, 16]'), "did you mean 'core.ac_lanes'"),
    (('"core.ac_lanes" = [4, 16]', '"core.ac_lanes" = [4, 0]'), 'axes."core.ac_lanes"[1]'),
    (('"core.ac_lanes" = [4, 16]', '"core.ac_lanes" = [4, 4.5]'), 'axes."core.ac_lanes"[1]'),
    (('"core.ac_lanes" = [4, 16]', '"core.ac_lanes" = [4, 4]'), "duplicate"),
    (('"core.ac_lanes" = [4, 16]', '"core.ac_lanes" = []'), 'axes."core.ac_lanes"'),
    (('"spikes.encoding" = ["binary", "graded"]', '"spikes.encoding" = ["binary", "ternary"]'),
     'axes."spikes.encoding"[1]'),
    (('"core.ac_lanes" = [4, 16]', '"mapping.rate" = [0.25, 1.5]'), 'axes."mapping.rate"[1]'),
    (('"chip.mesh" = [[2, 2], [4, 4]]', '"chip.mesh" = [[2, 2], [4]]'), 'axes."chip.mesh"[1]'),
    (('presets = ["accum", "paper-45nm"]', 'presets = ["accum", "no-such-table"]'),
     "energy.presets[1]"),
    (('base = "small"', 'base = "tiny-chip"'), "hardware.base"),
    (('tokens = 2', 'tokens = -1'), "workload.tokens"),
    (('prompt = "hi"', 'prompt = ""'), "workload.prompt"),
    (("d_model = 32", "d_modle = 32"), "model.config.d_modle"),
    (('kind = "silif"', 'kind = "relu"'), "model.neuron.kind"),
    (("[energy]", "[energies]"), "'energies'"),
])
def test_bad_spec_names_the_field(tmp_path, change, field):
    old, new = change
    assert old in SPEC
    with pytest.raises(ConfigError) as err:
        load_spec(write_spec(tmp_path, SPEC.replace(old, new)))
    assert field in str(err.value)


def test_model_needs_exactly_one_source(tmp_path):
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"")
    text = SPEC.replace("seed = 0", 'seed = 0\nonnx = "m.onnx"')
    with pytest.raises(ConfigError, match="exactly one of model.onnx or model.config"):
        load_spec(write_spec(tmp_path, text))


def test_points_product_order_and_coupled_fields(tmp_path):
    spec = load_spec(write_spec(tmp_path))
    pts = spec.points()
    assert spec.n_points() == len(pts) == 8
    # last axis fastest
    assert [p.values["chip.mesh"] for p in pts[:2]] == [(2, 2), (4, 4)]
    assert pts[0].values["spikes.encoding"] == "binary" and pts[4].values[
        "spikes.encoding"] == "graded"
    assert [(p.hardware.cores, p.hardware.mesh) for p in pts[:2]] == [(4, (2, 2)), (16, (4, 4))]
    assert all(p.hardware.spike_encoding == p.values["spikes.encoding"] for p in pts)
    assert all(p.rate == 0.25 for p in pts)  # the lowering's default
    # chip.cores alone gets the most square mesh; [fixed] applies to every point
    text = SPEC.replace('"chip.mesh" = [[2, 2], [4, 4]]', '"chip.cores" = [6, 16]').replace(
        "[axes]", '[fixed]\n"noc.hop_latency_cycles" = 9\n"mapping.rate" = 0.1\n\n[axes]')
    pts = load_spec(write_spec(tmp_path, text, "b.toml")).points()
    assert [p.hardware.mesh for p in pts[:2]] == [(2, 3), (4, 4)]
    assert {p.hardware.hop_latency_cycles for p in pts} == {9} and {p.rate for p in pts} == {0.1}


def test_pareto_front_against_brute_force():
    pairs = [(5.0, 1.0), (4.0, 2.0), (4.0, 2.0), (6.0, 0.5), (5.0, 2.0), (3.0, 9.0),
             (3.0, 10.0), (7.0, 0.5), (6.0, 1.0)]
    flags = pareto_front(pairs)
    expect = [not any(dominated(a, b) for b in pairs) for a in pairs]
    assert flags == expect
    assert flags == [True, True, True, True, False, True, False, False, False]
    assert pareto_front([]) == []


# -- running ---------------------------------------------------------------------------------
def test_cli_sweep_end_to_end(tmp_path, serial_result):
    spec_path = write_spec(tmp_path)
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["sweep", str(spec_path), "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert {f.name for f in out.iterdir()} == {"results.json", "results.csv", "sweep.png",
                                               "spec.json"}
    doc = json.loads((out / "results.json").read_text())
    assert doc["format"] == "snncompile-sweep-results/1" and doc["run"]["executor"] == "local"
    pts = doc["points"]
    assert [p["index"] for p in pts] == list(range(8))
    assert comparable(serial_result.points) == pts  # the CLI runs what the API runs

    # the 2x2 mesh does not fit: recorded, not fatal
    for p in pts:
        if p["axes"]["chip.mesh"] == [2, 2]:
            assert p["status"] == "does_not_fit"
            assert p["error"]["type"] == "HardwareFitError"
            assert "does not fit" in p["error"]["message"]
        else:
            assert p["status"] == "ok" and p["error"] is None and p["cores_used"] <= 16
    ok = {(p["axes"]["spikes.encoding"], p["axes"]["core.ac_lanes"]): p
          for p in pts if p["status"] == "ok"}
    assert len(ok) == 4
    for lanes in (4, 16):  # graded: one event per neuron instead of D micro-steps
        assert (ok["graded", lanes]["per_token"]["cycles"]
                < ok["binary", lanes]["per_token"]["cycles"])
    for enc in ("binary", "graded"):
        assert ok[enc, 4]["per_token"]["acs"] == ok[enc, 16]["per_token"]["acs"] > 0
        assert ok[enc, 16]["per_token"]["cycles"] < ok[enc, 4]["per_token"]["cycles"]
    assert len({p["continuation"] for p in ok.values()}) == 1  # same weights, same tokens
    for p in ok.values():
        assert p["tokens"] == 3  # 2 prompt bytes + 2 new tokens - 1
        assert p["per_token"]["time_s"] == pytest.approx(p["per_token"]["cycles"] / 1e9)
        assert p["total"]["cycles"] == pytest.approx(p["per_token"]["cycles"] * p["tokens"])
        for preset in ("accum", "paper-45nm"):
            e = p["energy"][preset]["per_token"]
            parts = sum(v for k, v in e["snn_j"].items() if k != "total")
            assert parts == pytest.approx(e["snn_j"]["total"])
            assert p["energy"][preset]["ratio"] == pytest.approx(
                e["ann_j"]["total"] / e["snn_j"]["total"])
        # binary spikes read/write membranes every micro-step: more neuron energy in `accum`
    assert (ok["binary", 4]["energy"]["accum"]["per_token"]["snn_j"]["total"]
            > ok["graded", 4]["energy"]["accum"]["per_token"]["snn_j"]["total"])

    # Pareto front = the non-dominated points that ran
    for preset in ("accum", "paper-45nm"):
        pairs = {p["index"]: (p["energy"][preset]["per_token"]["snn_j"]["total"],
                              p["per_token"]["time_s"])
                 for p in ok.values()}
        for p in pts:
            expect = p["index"] in pairs and not any(
                dominated(pairs[p["index"]], b) for b in pairs.values())
            assert p["pareto"][preset] == expect
        assert any(p["pareto"][preset] for p in pts)

    rows = list(csv.DictReader(io.StringIO((out / "results.csv").read_text())))
    assert len(rows) == 8 * 2
    assert {"point", "spikes.encoding", "core.ac_lanes", "chip.mesh", "preset", "cores_used",
            "cycles_per_token", "time_per_token_s", "acs_per_token", "macs_per_token",
            "e_snn_ac_j_per_token", "e_snn_memory_j_per_token", "e_snn_total_j_per_token",
            "e_ann_j_per_token", "ratio", "tokens", "pareto", "error"} <= set(rows[0])
    no_fit = [r for r in rows if r["chip.mesh"] == "2x2"]
    assert len(no_fit) == 8 and all("does not fit" in r["error"] for r in no_fit)
    row = next(r for r in rows if r["point"] == "7" and r["preset"] == "paper-45nm")
    assert float(row["e_snn_total_j_per_token"]) == pytest.approx(
        ok["graded", 16]["energy"]["paper-45nm"]["per_token"]["snn_j"]["total"])
    assert row["tokens"] == "3"
    assert (out / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "no fit" in r.output and "Pareto" in r.output and "HardwareFitError" in r.output


def test_onnx_model_matches_config_model(tmp_path, serial_result):
    cfg = SpikingMambaConfig(d_model=32, n_layer=2, vocab_size=256, d_state=8, headdim=16,
                             spiking=True, neuron=NeuronConfig(kind="silif", D=4, theta=0.5))
    serde.save(build_graph(cfg, random_state_dict(cfg, 0)), tmp_path / "model.onnx")
    text = SPEC.replace(MODEL, '\n[model]\nonnx = "model.onnx"\n').replace(
        '"chip.mesh" = [[2, 2], [4, 4]]', '"chip.mesh" = [[4, 4]]').replace(
        '"core.ac_lanes" = [4, 16]', '"core.ac_lanes" = [16]')
    res = run_sweep(load_spec(write_spec(tmp_path, text)))
    by_axes = {json.dumps(p["axes"], sort_keys=True): p for p in serial_result.points}
    for p in res.points:
        twin = dict(by_axes[json.dumps(p["axes"], sort_keys=True)])
        for key in ("index", "pareto"):
            twin.pop(key), p.pop(key)
        assert comparable(p) == comparable(twin)


def test_mapping_rate_axis_reaches_the_lowering(tmp_path):
    text = SPEC.replace('"core.ac_lanes" = [4, 16]', '"mapping.rate" = [0.05, 0.9]').replace(
        '"chip.mesh" = [[2, 2], [4, 4]]', '"chip.mesh" = [[4, 4]]').replace(
        '"spikes.encoding" = ["binary", "graded"]', '"spikes.encoding" = ["binary"]')
    res = run_sweep(load_spec(write_spec(tmp_path, text)))
    lo, hi = res.points
    assert (lo["mapping"]["rate"], hi["mapping"]["rate"]) == (0.05, 0.9)
    assert lo["mapping"]["est_hops_per_token"] < hi["mapping"]["est_hops_per_token"]


def test_process_pool_gives_identical_results(tmp_path, serial_result):
    res = run_sweep(load_spec(write_spec(tmp_path)), ProcessExecutor(2))
    assert res.run["workers"] == 2
    assert comparable(res.points) == comparable(serial_result.points)


def _distributed():
    try:
        import distributed
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("dask.distributed must be installed in CI (the `test` extra has it)")
        pytest.skip("dask.distributed not installed: pip install 'snncompile[cluster]'")
    return distributed


def test_dask_executor_gives_identical_results(tmp_path, serial_result):
    distributed = _distributed()
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster, set_as_default=False) as client:
            res = run_sweep(load_spec(write_spec(tmp_path)), DaskExecutor(client=client))
        assert res.run["executor"] == "dask"
        assert comparable(res.points) == comparable(serial_result.points)
        # the CLI connects to the running scheduler with --scheduler
        out = tmp_path / "out"
        r = CliRunner().invoke(main, ["sweep", str(write_spec(tmp_path)), "-o", str(out),
                                      "--scheduler", cluster.scheduler_address, "--json"])
        assert r.exit_code == 0, r.output
        doc = json.loads((out / "results.json").read_text())
        assert doc["run"]["executor"] == "dask"
        assert doc["points"] == comparable(serial_result.points)
        assert json.loads(r.stdout)["points"] == doc["points"]


def test_missing_dask_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    with pytest.raises(MissingDependencyError, match=r"snncompile\[cluster\]"):
        with DaskExecutor(local_workers=1):
            pass
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["sweep", str(write_spec(tmp_path)), "-o", str(out),
                                  "--dask-local", "2"])
    assert r.exit_code == 2 and "pip install 'snncompile[cluster]'" in r.output
    assert not out.exists()


def test_cli_bad_input_exits_2_without_output(tmp_path):
    out = tmp_path / "out"
    bad = write_spec(tmp_path, SPEC.replace('"core.ac_lanes"', '"core.lanes"'))
    r = CliRunner().invoke(main, ["sweep", str(bad), "-o", str(out)])
    assert r.exit_code == 2 and "core.lanes" in r.output and "Traceback" not in r.output
    assert not out.exists()
    r = CliRunner().invoke(main, ["sweep", str(write_spec(tmp_path)), "-o", str(out),
                                  "--workers", "2", "--dask-local", "2"])
    assert r.exit_code == 2 and "--workers" in r.output and not out.exists()
    r = CliRunner().invoke(main, ["sweep", str(write_spec(tmp_path)), "--plan"])
    assert r.exit_code == 0 and "8 point(s)" in r.output and "4x4" in r.output


def test_parse_spec_relative_paths_and_default_presets(tmp_path):
    hw = tmp_path / "hw"
    hw.mkdir()
    from snncompile.backends.accum.hardware import HardwareSpec
    (hw / "mine.toml").write_text(HardwareSpec.load("small").to_toml())
    import tomllib
    data = tomllib.loads(SPEC.replace('base = "small"', 'base = "hw/mine.toml"'))
    del data["energy"]
    spec = parse_spec(data, base_dir=tmp_path)
    assert spec.presets == ("accum",) and spec.base == HardwareSpec.load("small")


def test_weight_bits_axis_and_quantized_graph_cache(tmp_path):
    from snncompile.backends import get_backend
    from snncompile.backends.accum.backend import as_hardware
    from snncompile.sweep.model import graph_for, quantized_graph_for
    text = SPEC.replace('"core.ac_lanes" = [4, 16]', '"core.weight_bits" = [4, 8]').replace(
        '"chip.mesh" = [[2, 2], [4, 4]]', '"chip.mesh" = [[4, 4]]').replace(
        '"spikes.encoding" = ["binary", "graded"]', '"spikes.encoding" = ["binary"]')
    spec = load_spec(write_spec(tmp_path, text))
    four, eight = run_sweep(spec).points
    assert four["status"] == eight["status"] == "ok"
    # 4-bit weight rows are half the bytes of 8-bit ones; the spiked ACs stay the same count
    assert four["per_token"]["weight_bytes_read"] < eight["per_token"]["weight_bytes_read"]
    # lowering the cached pre-quantized graph gives the program lowering the float graph gives
    hw = as_hardware("large")
    a = get_backend("accum").lower(graph_for(spec.model), hw)
    b = get_backend("accum").lower(quantized_graph_for(spec.model, hw.weight_bits), hw)
    assert a.graph.params.keys() == b.graph.params.keys()
    assert all((a.graph.params[k] == b.graph.params[k]).all() for k in a.graph.params)
    assert [n.op for n in a.graph.nodes] == [n.op for n in b.graph.nodes]
    assert a.mapping == b.mapping
