"""The backend contract: every backend's `lower` returns a Program that saves, loads (through
`load_program`, dispatching on program.json) and runs; the CLI dispatches through the registry.

The Lava tests need .venv-lava (`make test` creates it); as in test_loihi_backend.py they FAIL
when it is missing (MissingDependencyError says to run `make install-lava`), never skip.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from click.testing import CliRunner

from snncompile.backends import BACKENDS, get_backend, load_program
from snncompile.backends.accum import AccumBackend, HardwareSpec, Program
from snncompile.backends.base import MANIFEST, Backend, read_manifest
from snncompile.backends.loihi import LoihiBackend, LoihiProgram, LoihiSpec, run_in_lava
from snncompile.backends.reference import ReferenceInterpreter
from snncompile.backends.reference.program import ReferenceProgram
from snncompile.backends.tiling import (CoreLimits, balanced_ranges, balanced_splits,
                                        fewest_input_blocks, min_traffic_grid)
from snncompile.cli import main
from snncompile.data.tokenizer import encode
from snncompile.errors import ConfigError, HardwareSpecError, IRError, SimulationError
from snncompile.frontend import build_graph
from snncompile.frontend.synthetic import random_state_dict
from snncompile.ir import serde
from snncompile.models.config import NeuronConfig, SpikingMambaConfig
from snncompile.passes import Step, run_steps

CFG = SpikingMambaConfig(d_model=32, n_layer=2, vocab_size=256, d_state=8, headdim=16,
                         spiking=True, neuron=NeuronConfig(theta=0.5))
PROMPT = [105, 109, 112]   # "imp"


@pytest.fixture(scope="module")
def graph():
    return build_graph(CFG, random_state_dict(CFG, 0))


@pytest.fixture(scope="module")
def model_file(graph, tmp_path_factory):
    path = tmp_path_factory.mktemp("m") / "model.onnx"
    serde.save(graph, path)
    return path


def _params_equal(a, b):
    assert sorted(a.params) == sorted(b.params)
    for k, v in a.params.items():
        assert b.params[k].dtype == v.dtype
        np.testing.assert_array_equal(b.params[k], v)


# -- the contract -------------------------------------------------------------------------------
def test_every_backend_lowers_to_a_program_that_round_trips(graph, tmp_path):
    steps = {"reference": (), "accum": ("quantize", "tile", "pack", "place", "layout"),
             "loihi": ("quantize", "tile", "place")}
    for name in BACKENDS:
        backend = get_backend(name)
        assert isinstance(backend, Backend) and backend.program_class.backend == name
        program = backend.lower(graph, backend.resolve_hardware(None), source="tiny")
        assert isinstance(program, backend.program_class) and program.backend == name
        assert program.source == "tiny" and all(isinstance(s, str) for s in program.lowering)
        if name in steps:
            assert program.lowering == steps[name]
        folder = program.save(tmp_path / name)
        meta = read_manifest(folder)
        assert (meta["backend"], meta["source"], meta["lowering"]) == (name, "tiny",
                                                                        list(program.lowering))
        back = load_program(folder)
        assert type(back) is type(program) and back.lowering == program.lowering
        _params_equal(program.graph, back.graph)
        json.dumps(back.report())
        # run / generate: the reference semantics of the lowered graph
        want = ReferenceInterpreter(program.graph, device="cpu").generate(PROMPT, 3).tokens
        if name != "loihi":                  # loihi's generate runs Lava (tested below)
            assert back.generate(PROMPT, 3) == want
        logits = back.run(PROMPT[:2])
        assert len(logits) == 2 and logits[0].dtype == np.float64


def test_reference_program_is_the_graph(graph, tmp_path):
    prog = get_backend("reference").lower(graph)
    assert isinstance(prog, ReferenceProgram) and prog.graph is graph and prog.name == "reference"
    out = prog.save(tmp_path / "ref")
    assert sorted(p.name for p in out.iterdir()) == ["graph.onnx", MANIFEST]
    with pytest.raises(ConfigError, match="no hardware"):
        get_backend("reference").resolve_hardware("default")
    with pytest.raises(ConfigError, match="no hardware"):
        get_backend("reference").lower(graph, LoihiSpec())
    (out / "graph.onnx").unlink()
    with pytest.raises(SimulationError, match="graph.onnx"):
        ReferenceProgram.load(out)


def test_load_program_dispatch_and_manifest_errors(graph, tmp_path):
    with pytest.raises(SimulationError, match="no such directory"):
        load_program(tmp_path / "nope")
    prog = get_backend("reference").lower(graph, source="x")
    out = prog.save(tmp_path / "p")
    meta = json.loads((out / MANIFEST).read_text())
    (out / MANIFEST).write_text(json.dumps({**meta, "backend": "tpu"}))
    with pytest.raises(SimulationError, match="unknown backend 'tpu'.*" + ", ".join(sorted(BACKENDS))):
        load_program(out)
    (out / MANIFEST).write_text(json.dumps({**meta, "lowering": "quantize"}))
    with pytest.raises(SimulationError, match="lowering"):
        load_program(out)
    (out / MANIFEST).write_text(json.dumps({**meta, "backend": "accum"}))
    with pytest.raises(SimulationError, match="missing mapping.json"):
        load_program(out)                    # dispatched to the accum loader
    (out / MANIFEST).write_text(json.dumps({**meta, "backend": "loihi"}))
    with pytest.raises(SimulationError, match="missing loihi.json"):
        load_program(out)
    with pytest.raises(SimulationError, match="'reference' is not 'accum'"):
        Program.load(prog.save(tmp_path / "q"))


def test_backend_options_are_the_backends_own():
    assert get_backend("reference").option_names() == ()
    assert set(get_backend("accum").option_names()) == {"rate", "slack", "encoding", "split"}
    assert get_backend("loihi").option_names() == ("encoding",)
    get_backend("accum").check_options({"rate": 0.1, "encoding": "graded"})
    with pytest.raises(ConfigError, match="loihi backend takes no option 'rate'"):
        get_backend("loihi").check_options({"rate": 0.1})
    with pytest.raises(ConfigError, match="reference backend takes no option 'encoding'"):
        get_backend("reference").check_options({"encoding": "graded"})
    with pytest.raises(ConfigError, match=re.escape(
            f"unknown backend 'nope' (choose from {', '.join(sorted(BACKENDS))})")):
        get_backend("nope")
    assert get_backend("loihi").resolve_hardware("loihi2") == LoihiSpec()
    with pytest.raises(HardwareSpecError, match="'large'"):
        get_backend("loihi").resolve_hardware("large")
    assert get_backend("accum").resolve_hardware("large") == HardwareSpec.load("large")


def test_accum_encoding_option(graph):
    prog = AccumBackend().lower(graph, "default", encoding="graded")
    assert prog.hardware.spike_encoding == "graded"
    with pytest.raises(ConfigError, match="encoding"):
        AccumBackend().lower(graph, "default", encoding="analog")


# -- the loihi program folder ---------------------------------------------------------------------
@pytest.mark.parametrize("encoding", ["graded", "binary"])
def test_loihi_program_round_trip(graph, tmp_path, encoding):
    spec = LoihiSpec(fan_in_per_core=20, weight_bytes_per_core=20 * 12)   # several blocks
    prog = LoihiBackend().lower(graph, spec, encoding=encoding, source="tiny")
    assert any(lp.n_blocks > 1 for lp in prog.layers)
    out = prog.save(tmp_path / "prog")
    assert sorted(p.name for p in out.iterdir()) == ["graph.onnx", "loihi.json", MANIFEST]
    back = LoihiProgram.load(out)
    assert (back.spec, back.encoding, back.layers, back.placement, back.source, back.lowering) \
        == (prog.spec, prog.encoding, prog.layers, prog.placement, "tiny", prog.lowering)
    _params_equal(prog.graph, back.graph)
    assert back.report() == prog.report()
    for lp in back.layers:
        assert back.weight(lp.name).dtype == np.int8
    # a failing save leaving the old folder intact: tests/conformance (every backend)


def _corrupt(folder, edit):
    doc = json.loads((folder / "loihi.json").read_text())
    edit(doc)
    (folder / "loihi.json").write_text(json.dumps(doc))


@pytest.mark.parametrize("edit, match", [
    (lambda d: d.update(format="x"), "field 'format'"),
    (lambda d: d.update(extra=1), "field 'extra' is unknown"),
    (lambda d: d.pop("placement"), "field 'placement' is missing"),
    (lambda d: d["spec"].update(fan_in_per_core=0), "field 'spec'.*fan_in_per_core"),
    (lambda d: d["spec"].update(cores=3), "field 'spec'.*loihi.cores"),
    (lambda d: d.update(encoding="analog"), "field 'encoding'"),
    (lambda d: d["layers"][1].update(d_in="32"), r"field 'layers\[1\].d_in'"),
    (lambda d: d["layers"][0].update(rows=[[0, 5], [7, 10]]), r"field 'layers\[0\].rows'|rows"),
    (lambda d: d["layers"][0].update(rows=[[0, 1]]), "'layers.0.in_proj': rows"),
    (lambda d: d["layers"][2].update(d_out=3), "'layers.1.in_proj': d_out is 3"),
    (lambda d: d["layers"][0].update(D=1), "D is 1, the graph has 4"),
    (lambda d: d["layers"][0].update(rails=2), "rails is 2, graded spikes need 1"),
    (lambda d: d["layers"].pop(), "do not match the graph's SpikedLinear nodes"),
    (lambda d: d["layers"][0].pop("cols"), r"field 'layers\[0\].cols' is missing"),
    (lambda d: d["placement"].update({"embedding": "neurocores"}), "node 'embedding'"),
    (lambda d: d["placement"].update({"embedding": "gpu"}), "placement.embedding"),
    (lambda d: d["spec"].update(outputs_per_core=1), "does not fit a virtual core"),
])
def test_corrupted_loihi_json_is_a_typed_error(graph, tmp_path, edit, match):
    out = LoihiBackend().lower(graph).save(tmp_path / "prog")
    _corrupt(out, edit)
    with pytest.raises(SimulationError, match=match) as info:
        load_program(out)
    assert "loihi.json" in str(info.value)


def test_loihi_folder_files_checked(graph, tmp_path):
    out = LoihiBackend().lower(graph).save(tmp_path / "prog")
    (out / "loihi.json").write_text("{")
    with pytest.raises(SimulationError, match="loihi.json: invalid JSON"):
        LoihiProgram.load(out)
    (out / "loihi.json").unlink()
    with pytest.raises(SimulationError, match="missing loihi.json"):
        LoihiProgram.load(out)
    out = LoihiBackend().lower(graph).save(tmp_path / "prog")
    (out / "graph.onnx").write_bytes(b"not onnx")
    with pytest.raises(IRError):
        LoihiProgram.load(out)


# -- lowering steps and the shared tiling ----------------------------------------------------
def test_run_steps_is_a_straight_named_list():
    res = run_steps(1, [Step("double", lambda x: 2 * x), Step("inc", lambda x: x + 1)])
    assert (res.state, res.log) == (3, ("double", "inc"))
    with pytest.raises(IRError, match="repeat"):
        run_steps(1, [Step("a", lambda x: x), Step("a", lambda x: x)])


def test_backends_share_the_tiling_arithmetic():
    from snncompile.backends.accum import tiling as accum_tiling
    from snncompile.backends.loihi import tiling as loihi_tiling
    assert accum_tiling.balanced_splits is balanced_splits
    assert loihi_tiling.balanced(10, 3) == balanced_ranges(10, 3) == ((0, 4), (4, 7), (7, 10))
    lim = CoreLimits(max_inputs=20, max_outputs=8192, weight_bytes=240, weight_bits=8)
    g = fewest_input_blocks(40, 24, lim)
    assert (g.R, g.C) == (2, 2)
    assert loihi_tiling.split_layer("x", 40, 24, 4, LoihiSpec(fan_in_per_core=20,
                                                            weight_bytes_per_core=240)) \
        == (g.output_ranges, g.input_ranges)
    for d_in, d_out in [(64, 32), (37, 101), (200, 3)]:
        g = min_traffic_grid(d_in, d_out, lim, 1.0)
        assert all(lim.fits(r, c) for _, _, r, c in g.tiles())


# -- the command line -----------------------------------------------------------------------------
def test_cli_unknown_backend_lists_the_choices(model_file, tmp_path):
    r = CliRunner().invoke(main, ["lower", str(model_file), "--backend", "tpu", "-o",
                                  str(tmp_path / "p")])
    assert r.exit_code == 2 and not (tmp_path / "p").exists()
    assert r.output.strip() == (f"error: unknown backend 'tpu' (choose from "
                                f"{', '.join(sorted(BACKENDS))})")


@pytest.mark.parametrize("args, match", [
    (["--backend", "loihi", "--rate", "0.1"], "--rate is not an option of the loihi backend "
                                              "(it takes --encoding)"),
    (["--backend", "reference", "--encoding", "graded"], "--encoding is not an option of the "
                                                         "reference backend"),
    (["--backend", "reference", "--hw", "default"], "reference backend takes no hardware"),
    (["--backend", "loihi", "--hw", "large"], "loihi backend knows the hardware 'loihi2'"),
])
def test_cli_options_the_backend_does_not_take(model_file, tmp_path, args, match):
    r = CliRunner().invoke(main, ["lower", str(model_file), "-o", str(tmp_path / "p"), *args])
    assert r.exit_code == 2 and match in r.output and len(r.output.strip().splitlines()) == 1
    assert not (tmp_path / "p").exists()


def test_cli_lower_reference_and_run(model_file, graph, tmp_path):
    out = tmp_path / "ref"
    r = CliRunner().invoke(main, ["lower", str(model_file), "--backend", "reference", "-o",
                                  str(out), "--json"])
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    assert rep["backend"] == "reference" and rep["nodes"] == len(graph.nodes)
    assert isinstance(load_program(out), ReferenceProgram)
    r = CliRunner().invoke(main, ["run", str(out), "--prompt", "im", "--tokens", "3",
                                  "--device", "cpu", "--json"])
    assert r.exit_code == 0, r.output
    want = ReferenceInterpreter(graph, device="cpu").generate(encode("im"), 3).tokens
    assert json.loads(r.stdout)["token_ids"][-3:] == want


def test_cli_simulate_refuses_a_loihi_folder(model_file, tmp_path):
    out = tmp_path / "lp"
    r = CliRunner().invoke(main, ["lower", str(model_file), "--backend", "loihi", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "Dense processes" in r.output and "wrote" in r.output
    r = CliRunner().invoke(main, ["simulate", str(out), "--prompt", "x"])
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1
    assert "simulator runs accum programs" in r.output and "snncompile lava" in r.output
    # `run` takes any backend's folder
    r = CliRunner().invoke(main, ["run", str(out), "--prompt", "im", "--tokens", "2",
                                  "--device", "cpu"])
    assert r.exit_code == 0, r.output


def test_cli_lava_refuses_other_folders(model_file, tmp_path):
    out = tmp_path / "acc"
    r = CliRunner().invoke(main, ["lower", str(model_file), "--backend", "accum", "-o", str(out)])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["lava", str(out), "--prompt", "im"])
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1
    assert "is a accum program" in r.output and "--backend loihi" in r.output


def test_cli_lower_loihi_then_lava(model_file, tmp_path):
    """`snncompile lower --backend loihi` writes a folder that `snncompile lava` runs (in real
    lava-nc), with the same results as lowering the model on the fly."""
    out = tmp_path / "prog"
    r = CliRunner().invoke(main, ["lower", str(model_file), "--backend", "loihi", "--encoding",
                                  "binary", "-o", str(out), "--json"])
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    assert rep["backend"] == "loihi" and rep["encoding"] == "binary"
    assert rep["lowering"] == ["quantize", "tile", "place"]
    prog = load_program(out)
    assert isinstance(prog, LoihiProgram) and prog.encoding == "binary"
    r = CliRunner().invoke(main, ["lava", str(out), "--prompt", "im", "--tokens", "2", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["matches_reference"] is True and doc["encoding"] == "binary"
    assert doc["tokens"] == 3 and doc["new_tokens"] == len(doc["token_ids"]) == 2
    assert doc["lowering"]["virtual_cores"] == 8 and doc["prompt"] == "im"
    fly = CliRunner().invoke(main, ["lava", str(model_file), "--prompt", "im", "--tokens", "2",
                                    "--encoding", "binary", "--json"])
    assert fly.exit_code == 0, fly.output
    assert json.loads(fly.stdout)["token_ids"] == doc["token_ids"]
    r = CliRunner().invoke(main, ["lava", str(out), "--prompt", "im", "--encoding", "graded"])
    assert r.exit_code == 2 and "lowered for binary spikes" in r.output


def test_loihi_generate_runs_lava(graph):
    prog = LoihiBackend().lower(graph)
    want = ReferenceInterpreter(prog.graph, device="cpu").generate(PROMPT, 3).tokens
    assert prog.generate(PROMPT, 3) == want
    assert run_in_lava(prog, PROMPT, generate=3).generated == want
