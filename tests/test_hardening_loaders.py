"""Issue 13, defect classes 1-3 (IR / program half): hostile or careless files are refused
with a typed error at load, never a wrong result, another exception or a NaN later.

- program folders: a sha256 of every file in program.json, checked on load; mapping.json
  checked against the graph (D of each layer = the D of the neuron feeding it) and its ranges;
- serde.load: binary protobuf whatever the file name, UTF-8 strings, a metadata schema,
  graphs with real outputs;
- finite values: NaN / Inf weights refused by Graph.verify (so by load and by export), and
  `evaluate` refuses what export refuses (theta 0, -1, NaN; NaN weights) and never prints a
  NaN bpb.
"""

from __future__ import annotations

import json
import math

import numpy as np
import onnx
import pytest
import torch
from click.testing import CliRunner
from onnx import numpy_helper

from snncompile.backends import get_backend, load_program
from snncompile.backends.accum import AccumBackend, Program
from snncompile.backends.base import MANIFEST, folder_hashes
from snncompile.cli import main
from snncompile.errors import CheckpointError, IRError, SimulationError
from snncompile.frontend import build_graph
from snncompile.frontend.synthetic import random_state_dict
from snncompile.ir import serde
from snncompile.ir.graph import Graph, first_nonfinite, verify_metadata
from snncompile.ir.examples import example_graphs
from snncompile.models.checkpoint import load_checkpoint, save_checkpoint
from snncompile.models.config import NeuronConfig, SpikingMambaConfig
from snncompile.training.evaluate import check_model_values, evaluate

CFG = SpikingMambaConfig(d_model=32, n_layer=2, vocab_size=256, d_state=8, headdim=16,
                         spiking=True, neuron=NeuronConfig(theta=0.5, D=4))


def _cli(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


def _assert_cli_error(res, *needles: str) -> None:
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.output
    for n in needles:
        assert n in lines[0], res.output


@pytest.fixture(scope="module")
def graph():
    return build_graph(CFG, random_state_dict(CFG, 0))


@pytest.fixture(scope="module")
def model_file(graph, tmp_path_factory):
    path = tmp_path_factory.mktemp("m") / "model.onnx"
    serde.save(graph, path)
    return path


def _rewrite(src, dst, edit) -> None:
    """Parse `src` (binary), apply `edit(ModelProto)`, write the bytes to `dst`."""
    model = onnx.ModelProto()
    model.ParseFromString(src.read_bytes())
    edit(model)
    dst.write_bytes(model.SerializeToString())


def _set_metadata(model, text: str) -> None:
    for p in model.metadata_props:
        if p.key == serde.METADATA_KEY:
            p.value = text


def _edit_config(model, **kw) -> None:
    meta = json.loads({p.key: p.value for p in model.metadata_props}[serde.METADATA_KEY])
    for k, v in kw.items():
        if v is _DROP:
            del meta["config"][k]
        else:
            meta["config"][k] = v
    _set_metadata(model, json.dumps(meta))


_DROP = object()


def _rehash(folder) -> None:
    """What a careful attacker does after editing a program file: update the manifest."""
    meta = json.loads((folder / MANIFEST).read_text())
    meta["sha256"] = folder_hashes(folder)
    (folder / MANIFEST).write_text(json.dumps(meta))


# -- 1. program folders: hashes and the mapping checked against the graph -----------------------
@pytest.fixture(scope="module")
def accum_prog(graph):
    return AccumBackend().lower(graph, "default")


def test_manifest_holds_the_hash_of_every_file(accum_prog, tmp_path):
    out = accum_prog.save(tmp_path / "p")
    meta = json.loads((out / MANIFEST).read_text())
    assert set(meta["sha256"]) == {"graph.onnx", "mapping.json", "hardware.toml"}
    assert meta["sha256"] == folder_hashes(out)
    assert Program.load(out).mapping == accum_prog.mapping


@pytest.mark.parametrize("name", ["mapping.json", "hardware.toml", "graph.onnx"])
def test_a_changed_file_is_refused_naming_it(accum_prog, graph, tmp_path, name):
    out = accum_prog.save(tmp_path / "p")
    if name == "mapping.json":  # a well-formed edit that every content check accepts
        m = json.loads((out / name).read_text())
        m["rate"] = 0.5
        (out / name).write_text(json.dumps(m))
    elif name == "hardware.toml":
        (out / name).write_text((out / name).read_text() + "\n# edited\n")
    else:  # another valid lowered graph: the same quantized graph, weights negated
        g = accum_prog.graph
        params = {k: (-v if v.dtype == np.int8 else v) for k, v in g.params.items()}
        serde.save(Graph(g.nodes, params, g.inputs, g.outputs, dict(g.metadata)),
                   out / name)
    with pytest.raises(SimulationError, match=f"{name}' changed since the program was saved"):
        load_program(out)
    _assert_cli_error(_cli("simulate", out, "--prompt", "hi", "--tokens", "1"), name, "changed")


def test_external_data_is_hashed_and_extra_or_missing_files_refused(graph, tmp_path, monkeypatch):
    monkeypatch.setattr(serde, "EXTERNAL_THRESHOLD", 10)
    out = get_backend("reference").lower(graph).save(tmp_path / "p")
    meta = json.loads((out / MANIFEST).read_text())
    assert set(meta["sha256"]) == {"graph.onnx", "graph.onnx.data"}
    data = out / "graph.onnx.data"
    raw = bytearray(data.read_bytes())
    raw[-1] ^= 1  # one bit of one float weight
    data.write_bytes(bytes(raw))
    with pytest.raises(SimulationError, match="graph.onnx.data' changed"):
        load_program(out)
    out = get_backend("reference").lower(graph).save(tmp_path / "q")
    (out / ".DS_Store").write_text("x")  # hidden files are nobody's input
    load_program(out)
    (out / "notes.txt").write_text("x")
    with pytest.raises(SimulationError, match="notes.txt' was not written by save"):
        load_program(out)
    (out / "notes.txt").unlink()
    (out / "graph.onnx.data").unlink()
    with pytest.raises(IRError, match="graph.onnx.data' is missing"):  # the content check
        load_program(out)


def test_a_folder_without_hashes_is_refused(accum_prog, tmp_path):
    out = accum_prog.save(tmp_path / "p")
    meta = json.loads((out / MANIFEST).read_text())
    del meta["sha256"]
    (out / MANIFEST).write_text(json.dumps(meta))
    with pytest.raises(SimulationError, match="field 'sha256'"):
        load_program(out)


def test_mapping_D_differing_from_the_graph_is_refused(accum_prog, tmp_path):
    """The reproducer: D in mapping.json != the SpikeEncode's D made simulate exit 0 with
    logits differing from run (even with the manifest's hashes updated)."""
    out = accum_prog.save(tmp_path / "p")
    m = json.loads((out / "mapping.json").read_text())
    assert m["layers"][0]["D"] == 4
    m["layers"][0]["D"] = 2
    (out / "mapping.json").write_text(json.dumps(m))
    _rehash(out)
    with pytest.raises(SimulationError, match=r"mapping.json: layer 'layers.0.in_proj': "
                                              r"field 'D' is 2, the graph has 4"):
        Program.load(out)
    _assert_cli_error(_cli("simulate", out, "--prompt", "hi", "--tokens", "1"), "'D'")


@pytest.mark.parametrize("field, value, match", [
    ("D", -3, "field 'D' must be a positive integer"),
    ("D", 0, "field 'D' must be a positive integer"),
    ("d_in", 0, "field 'd_in' must be a positive integer"),
    ("block", -1, "field 'block'"),
    ("block", 1, "field 'block' is 1, the graph has 0"),
    ("tile_cores", [-1], "field 'tile_cores'"),
    ("D", 1e400, "mapping.json: bad layer entry"),          # JSON Infinity -> OverflowError
    ("rate", float("nan"), "field 'rate'"),
    ("rate", 0, "field 'rate'"),
    ("slack", -1, "field 'slack'"),
    ("slack", float("inf"), "field 'slack'"),
    ("estimate", {"optimized": {"hops": "many"}}, "field 'estimate.optimized.hops'"),
    ("estimate", {"cores_used": float("nan")}, "field 'estimate.cores_used'"),
])
def test_out_of_range_mapping_numbers_are_refused_naming_the_field(accum_prog, tmp_path,
                                                                   field, value, match):
    out = accum_prog.save(tmp_path / "p")
    m = json.loads((out / "mapping.json").read_text())
    if field in ("rate", "slack", "estimate"):
        m[field] = value
    else:
        m["layers"][0][field] = value
    (out / "mapping.json").write_text(json.dumps(m))
    _rehash(out)
    with pytest.raises(SimulationError, match=match):
        Program.load(out)
    res = _cli("simulate", out, "--prompt", "hi", "--tokens", "1")
    _assert_cli_error(res, "mapping.json")


# -- 2. serde.load: binary always, UTF-8, metadata schema, real outputs ---------------------------
@pytest.mark.parametrize("suffix", [".json", ".textproto", ".txt", ""])
def test_any_file_name_is_parsed_as_binary(model_file, tmp_path, suffix):
    path = tmp_path / f"model{suffix}"
    path.write_bytes(model_file.read_bytes())
    assert serde.load(path).metadata == serde.load(model_file).metadata


@pytest.mark.parametrize("text", ['{"a": 1}', "ir_version: 8\n", "", "\x00\x01garbage"])
def test_a_non_onnx_json_is_an_irerror(tmp_path, text):
    path = tmp_path / "model.json"
    path.write_text(text)
    with pytest.raises(IRError, match="model.json"):
        serde.load(path)
    _assert_cli_error(_cli("inspect", path), "model.json")


def test_metadata_that_is_not_utf8_is_an_irerror(model_file, tmp_path):
    raw = model_file.read_bytes()
    assert raw.count(b'"vocab_size": 256') == 1
    bad = tmp_path / "m.onnx"
    bad.write_bytes(raw.replace(b'"vocab_size": 256', b'"vocab\xffsize": 256'))
    with pytest.raises(IRError, match="metadata_props.*not UTF-8"):
        serde.load(bad)
    _assert_cli_error(_cli("inspect", bad), "not UTF-8")


def test_a_node_name_that_is_not_utf8_is_an_irerror(model_file, tmp_path):
    raw = model_file.read_bytes()
    bad = tmp_path / "m.onnx"
    bad.write_bytes(raw.replace(b"norm_f", b"norm\xfe\xff", 1))
    with pytest.raises(IRError, match="not UTF-8"):
        serde.load(bad)


@pytest.mark.parametrize("edit, match", [
    (dict(vocab_size="abc"), "config.vocab_size must be a positive integer"),
    (dict(vocab_size=-1), "config.vocab_size must be a positive integer"),
    (dict(vocab_size=0), "config.vocab_size must be a positive integer"),
    (dict(vocab_size=2.5), "config.vocab_size must be a positive integer"),
    (dict(vocab_size=True), "config.vocab_size must be a positive integer"),
    (dict(vocab_size=[256]), "config.vocab_size must be a positive integer"),
    (dict(vocab_size=None), "config.vocab_size must be a positive integer"),
    (dict(vocab_size=10**12), "config.vocab_size must be a positive integer"),
    (dict(vocab_size=100000), "exceeds the graph's vocabulary of 256"),
    (dict(vocab_size=_DROP), "config.vocab_size is missing"),
    (dict(d_model="32"), "config.d_model"),
    (dict(n_layer=-2), "config.n_layer"),
    (dict(ssm_cfg=[]), "config.ssm_cfg must be an object"),
    (dict(ssm_cfg={"d_state": "8"}), "config.ssm_cfg.d_state"),
    (dict(spiking=[1]), "config.spiking"),
    (dict(tie_embeddings="yes"), "config.tie_embeddings"),
])
def test_bad_config_in_metadata_fails_at_load(model_file, tmp_path, edit, match):
    bad = tmp_path / "m.onnx"
    _rewrite(model_file, bad, lambda m: _edit_config(m, **edit))
    with pytest.raises(IRError, match=match):
        serde.load(bad)
    _assert_cli_error(_cli("run", bad, "--prompt", "Hi", "--tokens", "1", "--device", "cpu"),
                      "config.")


@pytest.mark.parametrize("text, match", [
    ('{"config": 5}', "config must be an object"),
    ('{"config": null}', "config must be an object"),
    ("[1]", "must be a JSON object"),
    ('{"x": NaN}', "not JSON-serializable"),
])
def test_bad_metadata_shape_fails_at_load(model_file, tmp_path, text, match):
    bad = tmp_path / "m.onnx"
    _rewrite(model_file, bad, lambda m: _set_metadata(m, text))
    with pytest.raises(IRError, match=match):
        serde.load(bad)


def test_metadata_without_config_is_accepted():
    verify_metadata({})
    verify_metadata({"note": "hand-built graph"})
    with pytest.raises(IRError, match="metadata must be an object"):
        verify_metadata([])


@pytest.mark.parametrize("edit, match", [
    (lambda m: m.graph.ClearField("output"), "graph has no outputs"),
    (lambda m: m.graph.output[0].__setattr__("name", "token"), "graph output 'token' is a "
                                                                 "graph input"),
])
def test_graph_without_real_outputs_fails_at_load(model_file, tmp_path, edit, match):
    bad = tmp_path / "m.onnx"
    _rewrite(model_file, bad, edit)
    with pytest.raises(IRError, match=match):
        serde.load(bad)
    _assert_cli_error(_cli("run", bad, "--prompt", "Hi", "--tokens", "1", "--device", "cpu"),
                      "output")


def test_graph_verify_refuses_no_outputs_and_input_as_output():
    g = example_graphs()["linear"]
    with pytest.raises(IRError, match="no outputs"):
        Graph(g.nodes, g.params, g.inputs, (), g.metadata).verify()
    with pytest.raises(IRError, match="is a graph input"):
        Graph(g.nodes, g.params, g.inputs, g.inputs, g.metadata).verify()


# -- 3. non-finite values ----------------------------------------------------------------------
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_weights_are_refused_by_verify_and_load(graph, model_file, tmp_path, value):
    name = "backbone.norm_f.weight"
    params = dict(graph.params)
    params[name] = params[name].copy()
    params[name][3] = value
    g = Graph(graph.nodes, params, graph.inputs, graph.outputs, dict(graph.metadata))
    with pytest.raises(IRError, match=rf"param '{name}' holds a non-finite value "
                                      rf"\({value} at index \(3,\)\)"):
        g.verify()

    def poison(m):
        for i, t in enumerate(m.graph.initializer):
            if t.name == name:
                m.graph.initializer[i].CopyFrom(numpy_helper.from_array(params[name], name))
    bad = tmp_path / "m.onnx"
    _rewrite(model_file, bad, poison)
    with pytest.raises(IRError, match=f"param '{name}' holds a non-finite value"):
        serde.load(bad)
    for args in (["inspect", bad], ["run", bad, "--prompt", "Hi", "--tokens", "1", "--device",
                                    "cpu"]):
        _assert_cli_error(_cli(*args), name, "non-finite")


def test_non_finite_external_weights_are_refused(graph, tmp_path, monkeypatch):
    monkeypatch.setattr(serde, "EXTERNAL_THRESHOLD", 10)
    path = tmp_path / "m.onnx"
    serde.save(graph, path)
    arr = serde.load(path, mmap=False).params["backbone.embedding.weight"]
    data = serde.data_path(path)
    raw = bytearray(data.read_bytes())
    i = raw.find(arr.tobytes()[:64])
    raw[i:i + 4] = np.array([np.nan], np.float32).tobytes()
    data.write_bytes(bytes(raw))
    with pytest.raises(IRError, match="'backbone.embedding.weight' holds a non-finite"):
        serde.load(path)


def test_first_nonfinite_checks_blocks_and_skips_integers(monkeypatch):
    import snncompile.ir.graph as graph_mod
    monkeypatch.setattr(graph_mod, "_FINITE_BLOCK", 7)
    a = np.zeros((5, 9), np.float16)
    assert first_nonfinite(a) is None
    a[4, 8] = np.inf
    assert first_nonfinite(a) == "inf at index (4, 8)"
    assert first_nonfinite(np.zeros(0, np.float32)) is None
    assert first_nonfinite(np.full(3, 127, np.int8)) is None
    b = np.zeros((4, 6), np.float64)[:, ::2]  # not contiguous
    b[1, 2] = np.nan
    assert first_nonfinite(b) == "nan at index (1, 2)"
    c = np.zeros((3, 5), np.float32).T  # Fortran order: checked as a view
    c[4, 1] = -np.inf
    assert first_nonfinite(c) == "-inf at index (4, 1)"


# -- evaluate refuses what export refuses --------------------------------------------------------
THETA = "backbone.layers.0.mixer.in_proj_neuron.theta"


@pytest.fixture(scope="module")
def student(calibrated_student):
    return calibrated_student(0)


def _bad_checkpoint(student, folder, key, value):
    model = load_checkpoint(save_checkpoint(student, folder / "ok"))
    with torch.no_grad():
        t = model.state_dict()[key]
        t.view(-1)[0] = value
    return save_checkpoint(model, folder / "bad")


@pytest.mark.parametrize("theta", [0.0, -1.0, math.nan, math.inf])
def test_evaluate_refuses_a_theta_export_refuses(student, tmp_path, theta):
    ck = _bad_checkpoint(student, tmp_path, THETA, theta)
    model = load_checkpoint(ck)
    with pytest.raises((IRError, CheckpointError)) as export_err:  # export's own refusal
        build_graph(model.config, model.state_dict())
    with pytest.raises(CheckpointError, match=THETA):
        evaluate(model, np.arange(64, dtype=np.uint8), seq_len=8)
    assert ("theta" in str(export_err.value)) or ("non-finite" in str(export_err.value))
    res = _cli("evaluate", ck, "--json", "--eval-bytes", "256", "--seq-len", "16",
               "--tokens", "2")
    _assert_cli_error(res, THETA)
    assert "NaN" not in res.output


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_evaluate_refuses_non_finite_weights(student, tmp_path, value):
    key = "backbone.layers.1.mixer.out_proj.weight"
    ck = _bad_checkpoint(student, tmp_path, key, value)
    with pytest.raises(CheckpointError, match=f"'{key}' holds a non-finite value"):
        check_model_values(load_checkpoint(ck))
    res = _cli("evaluate", ck, "--json", "--eval-bytes", "256", "--seq-len", "16",
               "--tokens", "2")
    _assert_cli_error(res, key, "non-finite")
    assert "NaN" not in res.output


def test_evaluate_never_reports_a_nan_bpb(student, tmp_path):
    """Finite weights that overflow the logits: a typed error, not "bpb": NaN with exit 0."""
    ck = _bad_checkpoint(student, tmp_path, "backbone.norm_f.weight", 3e38)
    model = load_checkpoint(ck)
    with torch.no_grad():
        model.backbone.norm_f.weight.fill_(3e38)
    with pytest.raises(CheckpointError, match="bits per byte is nan"):
        evaluate(model, np.arange(64, dtype=np.uint8), seq_len=8)
    save_checkpoint(model, tmp_path / "big")
    res = _cli("evaluate", tmp_path / "big", "--json", "--eval-bytes", "256", "--seq-len", "16",
               "--tokens", "2")
    _assert_cli_error(res, "bits per byte")
    assert "NaN" not in res.output


def test_a_reformatted_loihi_json_is_refused(graph, tmp_path):
    out = get_backend("loihi").lower(graph).save(tmp_path / "lp")
    doc = json.loads((out / "loihi.json").read_text())
    (out / "loihi.json").write_text(json.dumps(doc, indent=3))  # same content, other bytes
    with pytest.raises(SimulationError, match="loihi.json' changed since the program was saved"):
        load_program(out)


def test_an_overlong_path_is_a_typed_error(tmp_path):
    """pathlib's is_file()/is_dir() raise OSError for ENAMETOOLONG (it swallows only ENOENT and
    ENOTDIR); the loaders turn it into their typed error."""
    from snncompile.backends.base import read_manifest
    long = tmp_path / ("a" * 300)
    with pytest.raises(IRError, match="cannot be read"):
        serde.load(long)
    with pytest.raises(SimulationError, match="cannot be read"):
        read_manifest(long)
