"""`snncompile lower` and `snncompile simulate` end to end through the click group."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from snncompile.backends.accum import Program
from snncompile.backends.reference import ReferenceInterpreter
from snncompile.cli import main
from snncompile.data.tokenizer import decode, encode
from snncompile.frontend import build_graph
from snncompile.frontend.synthetic import random_state_dict
from snncompile.ir import serde
from snncompile.models.config import NeuronConfig, SpikingMambaConfig
from snncompile.simulator import LAYER_KEYS, read_sim_doc

CFG = SpikingMambaConfig(d_model=32, n_layer=2, vocab_size=256, d_state=8, headdim=16,
                         spiking=True, neuron=NeuronConfig(theta=0.5))


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("m") / "model.onnx"
    serde.save(build_graph(CFG, random_state_dict(CFG, 0)), path)
    return path


def test_lower_then_simulate(model_file, tmp_path):
    prog_dir = tmp_path / "prog"
    r = CliRunner().invoke(main, ["lower", str(model_file), "--backend", "accum", "--hw",
                                  "default", "-o", str(prog_dir)])
    assert r.exit_code == 0, r.output
    assert "cores used" in r.output and "layers.1.out_proj" in r.output
    assert "messages/token" in r.output and "hops" in r.output
    prog = Program.load(prog_dir)
    sim_path = tmp_path / "sim.json"
    r = CliRunner().invoke(main, ["simulate", str(prog_dir), "--prompt", "hi there",
                                  "--tokens", "5", "--json", str(sim_path)])
    assert r.exit_code == 0, r.output
    doc = read_sim_doc(sim_path)
    assert doc["tokens"] == len("hi there") + 4
    assert doc["prompt"] == "hi there" and len(doc["token_ids"]) == 5
    assert "acs" in r.output and "cycles" in r.output and "simulated time" in r.output
    # the continuation is the reference interpreter's greedy continuation
    ref = ReferenceInterpreter(prog.graph, device="cpu").generate(encode("hi there"), 5)
    assert doc["continuation"] == decode(ref.tokens)
    assert doc["total"]["acs"] > 0 and doc["total"]["cycles"] > 0


def test_lower_json_and_graded(model_file, tmp_path):
    r = CliRunner().invoke(main, ["lower", str(model_file), "--hw", "large", "--encoding",
                                  "graded", "-o", str(tmp_path / "p"), "--json"])
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    assert rep["encoding"] == "graded" and rep["cores_used"] == 2  # one core per block
    assert Program.load(tmp_path / "p").hardware.spike_encoding == "graded"


def test_lower_does_not_fit_exits_2(model_file, tmp_path):
    out = tmp_path / "p"
    r = CliRunner().invoke(main, ["lower", str(model_file), "--hw", "small", "-o", str(out)])
    assert r.exit_code == 2
    assert "layers.1.in_proj" in r.output and "does not fit" in r.output
    assert "Traceback" not in r.output and not out.exists()


def test_cli_bad_inputs_exit_2(model_file, tmp_path):
    r = CliRunner().invoke(main, ["lower", str(model_file), "--backend", "nope",
                                  "-o", str(tmp_path / "p")])
    assert r.exit_code == 2 and "accum" in r.output
    r = CliRunner().invoke(main, ["simulate", str(tmp_path / "missing"), "--prompt", "x"])
    assert r.exit_code == 2 and "program folder" in r.output
    r = CliRunner().invoke(main, ["lower", str(tmp_path / "nope.onnx"), "-o",
                                  str(tmp_path / "p")])
    assert r.exit_code == 2


def test_simulate_values_match_api(model_file, tmp_path):
    """The CLI's counters are what the API produces for the same tokens."""
    from snncompile.simulator import Simulator
    prog_dir = tmp_path / "prog"
    assert CliRunner().invoke(main, ["lower", str(model_file), "-o", str(prog_dir)]).exit_code == 0
    r = CliRunner().invoke(main, ["simulate", str(prog_dir), "--prompt", "ab", "--tokens", "1",
                                  "--json", str(tmp_path / "s.json")])
    assert r.exit_code == 0, r.output
    sim = Simulator(Program.load(prog_dir))
    sim.generate(encode("ab"), 1)
    doc = read_sim_doc(tmp_path / "s.json")
    assert {k: doc["total"][k] for k in LAYER_KEYS} == {
        k: getattr(sim.counters.totals(), k) for k in LAYER_KEYS}
    assert np.isclose(doc["total"]["time_s"], sim.counters.total("cycles") / 1e9)
