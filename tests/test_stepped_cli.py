"""The time-stepped network on the command line: lower --hw loihi1 [--split], simulate
--input -o --json (bit-exact with run --input), energy --from sim.json, bad input, hardware
file fields of the time-stepped model, and `hw show` sources."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from snncompile.backends.accum import HardwareSpec
from snncompile.cli import main
from snncompile.errors import HardwareSpecError
from snncompile.ir import serde
from snncompile.ir.examples import lif_network


@pytest.fixture(scope="module")
def net_files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("stepped")
    rng = np.random.default_rng(0)
    Ws = [rng.integers(-127, 128, (96, 300)).astype(np.int8),
          rng.integers(-127, 128, (10, 96)).astype(np.int8)]
    g = lif_network(Ws, dict(kind="lif", dv=512, threshold=600.0, quant_bits=6, delay=1))
    serde.save(g, tmp / "net.onnx")
    np.save(tmp / "x.npy", (rng.random((80, 300)) < 0.1).astype(np.int8))
    r = CliRunner().invoke(main, ["lower", str(tmp / "net.onnx"), "--hw", "loihi1", "-o",
                                  str(tmp / "prog")])
    assert r.exit_code == 0, r.output
    return tmp


def test_simulate_input_matches_run_and_prices(net_files):
    t = net_files
    r = CliRunner().invoke(main, ["simulate", str(t / "prog"), "--input", str(t / "x.npy"),
                                  "-o", str(t / "y.npy"), "--json", str(t / "sim.json")])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["run", str(t / "prog"), "--input", str(t / "x.npy"),
                                  "-o", str(t / "y_ref.npy")])
    assert r.exit_code == 0, r.output
    y, y_ref = np.load(t / "y.npy"), np.load(t / "y_ref.npy")
    assert y.shape == (80, 10) and np.array_equal(y, y_ref)
    doc = json.loads((t / "sim.json").read_text())
    assert doc["steps"] == doc["tokens"] == 80 and doc["tiles_used"] == 1
    assert doc["total"]["time_s"] > 0 and doc["total"]["neuron_accesses"] == 80 * (96 + 10)
    r = CliRunner().invoke(main, ["energy", "--from", str(t / "sim.json"), "--preset",
                                  "loihi1-sanafe", "--json"])
    assert r.exit_code == 0, r.output
    e = json.loads(r.stdout)
    assert any("static power not priced" in n for n in e["notes"])
    assert "neuron_accesses" not in e["unpriced"]
    r = CliRunner().invoke(main, ["energy", "--from", str(t / "sim.json"), "--preset",
                                  "loihi1-sanafe"])
    assert r.exit_code == 0, r.output
    assert "total over 80 steps" in r.output and "per step" in r.output
    assert "tokens" not in r.output


def test_lower_split_partial_and_refusal(net_files, tmp_path):
    t = net_files
    r = CliRunner().invoke(main, ["lower", str(t / "net.onnx"), "--hw", "loihi1", "--split",
                                  "partial", "-o", str(tmp_path / "p"), "--json"])
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    assert {lr["split"] for lr in rep["layers"]} == {"partial"}
    small = HardwareSpec.load("loihi1").to_toml().replace("axons = 4096", "axons = 128")
    (tmp_path / "hw.toml").write_text(small)
    r = CliRunner().invoke(main, ["lower", str(t / "net.onnx"), "--hw", str(tmp_path / "hw.toml"),
                                  "--split", "outputs", "-o", str(tmp_path / "q")])
    assert r.exit_code == 2 and "layers.0.synapse" in r.output
    assert len(r.output.strip().splitlines()) == 1 and not (tmp_path / "q").exists()


@pytest.mark.parametrize("bad", ["wrong_width", "one_d", "negative", "truncated", "missing"])
def test_simulate_bad_input_exits_2(net_files, tmp_path, bad):
    t = net_files
    x = tmp_path / "x.npy"
    if bad == "wrong_width":
        np.save(x, np.zeros((5, 7), np.int8))
    elif bad == "one_d":
        np.save(x, np.zeros(300, np.int8))
    elif bad == "negative":
        np.save(x, -np.ones((5, 300), np.int8))
    elif bad == "truncated":
        np.save(x, np.zeros((5, 300), np.int8))
        x.write_bytes(x.read_bytes()[:100])
    out = tmp_path / "y.npy"
    r = CliRunner().invoke(main, ["simulate", str(t / "prog"), "--input", str(x), "-o",
                                  str(out), "--json", str(tmp_path / "s.json")])
    assert r.exit_code == 2, r.output
    assert r.output.startswith("error:") and len(r.output.strip().splitlines()) == 1
    assert not out.exists() and not (tmp_path / "s.json").exists()


def test_simulate_prompt_on_a_network_is_refused(net_files):
    t = net_files
    r = CliRunner().invoke(main, ["simulate", str(t / "prog"), "--prompt", "hi"])
    assert r.exit_code == 2 and "--input" in r.output


@pytest.mark.parametrize("field,value,name", [
    ("sync_table", "[[2, 100], [1, 50]]", "sync.sync_table"),
    ("sync_table", "[[1, -5]]", "sync.sync_table"),
    ("tile", "[3, 2]", "chip.tile"),
    ("link_buffer", "-1", "noc.link_buffer"),
    ("synapse_cycles", "0", "timing.synapse_cycles"),
])
def test_hardware_fields_of_the_stepped_model_are_checked(field, value, name, tmp_path):
    text = HardwareSpec.load("loihi1").to_toml()
    lines = [f"{field} = {value}" if ln.startswith(f"{field} =") else ln
             for ln in text.splitlines()]
    (tmp_path / "h.toml").write_text("\n".join(lines))
    with pytest.raises(HardwareSpecError, match=name.split(".")[0]):
        HardwareSpec.from_toml(tmp_path / "h.toml")
    r = CliRunner().invoke(main, ["hw", "show", str(tmp_path / "h.toml")])
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1


def test_hw_show_gives_sources_and_old_files_still_load(tmp_path):
    r = CliRunner().invoke(main, ["hw", "show", "loihi1", "--json"])
    assert r.exit_code == 0, r.output
    sources = {s["field"]: s["source"] for s in json.loads(r.stdout)["sources"]}
    assert "SANA-FE" in sources["timing.synapse_cycles"]
    assert "Davies" in sources["core.axons"]
    # a file without the time-stepped fields (the previous layout) loads with defaults
    old = HardwareSpec.load("default").to_toml()
    keep = [ln for ln in old.splitlines() if not ln.startswith(
        ("tile", "hop_latency_ew", "hop_latency_ns", "sync_table", "link_buffer"))]
    text = "\n".join(keep)
    text = text.split("[timing]")[0] + "[spikes]" + text.split("[spikes]")[1]
    assert "[timing]" not in text and "sync_table" not in text
    (tmp_path / "old.toml").write_text(text)
    assert HardwareSpec.from_toml(tmp_path / "old.toml") == HardwareSpec.load("default")
