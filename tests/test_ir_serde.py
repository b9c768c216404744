"""ONNX serialization: round trip of every op, external data, and every kind of bad file."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from snncompile.errors import IRError
from snncompile.ir import serde
from snncompile.ir.examples import EXAMPLES, example_graphs
from snncompile.ir.ops import OPS
from snncompile.ir.printer import format_graph


def _assert_same(a, b):
    assert format_graph(a) == format_graph(b)
    assert a.metadata == b.metadata
    assert set(a.params) == set(b.params)
    for k in a.params:
        assert a.params[k].dtype == b.params[k].dtype
        assert np.array_equal(a.params[k], b.params[k]), k


def test_examples_cover_every_op():
    used = {n.op_type for g in example_graphs().values() for n in g.nodes}
    assert used == set(OPS), f"no round-trip example for {set(OPS) - used}"


@pytest.mark.parametrize("name", sorted(EXAMPLES))
@pytest.mark.parametrize("external", [False, True])
def test_round_trip(tmp_path, name, external):
    g = EXAMPLES[name]()
    path = tmp_path / "m.onnx"
    serde.save(g, path, external_data=external)
    assert serde.data_path(path).exists() == external
    onnx.checker.check_model(str(path))  # path-based: also checks external data
    back = serde.load(path)
    _assert_same(g, back)
    # attributes are exact (floats stored as doubles), ops compare equal
    assert [n.op for n in back.nodes] == [n.op for n in g.nodes]


def test_float_attributes_round_trip_exactly(tmp_path):
    g = example_graphs()["spike_encode"]
    from snncompile.ir.graph import Node
    from snncompile.ir.ops import SpikeEncode
    theta = 0.1 + 1e-12
    g.nodes[1] = Node("spike", SpikeEncode(d=8, kind="silif", D=4, theta=theta), ("embedding",),
                      ("spike",))
    serde.save(g, tmp_path / "m.onnx")
    assert serde.load(tmp_path / "m.onnx").nodes[1].op.theta == theta


def test_external_data_is_memory_mapped_and_replaced(tmp_path):
    g = example_graphs()["linear"]
    path = tmp_path / "m.onnx"
    serde.save(g, path, external_data=True)
    back = serde.load(path)
    assert isinstance(back.params["lw"], np.memmap)
    assert not back.params["lw"].flags.writeable
    eager = serde.load(path, mmap=False)
    assert not isinstance(eager.params["lw"], np.memmap)
    _assert_same(g, eager)
    serde.save(g, path, external_data=False)  # switching to embedded removes the stale file
    assert not serde.data_path(path).exists()


def test_automatic_external_threshold(tmp_path, monkeypatch):
    g = example_graphs()["linear"]
    monkeypatch.setattr(serde, "EXTERNAL_THRESHOLD", 10)
    serde.save(g, tmp_path / "m.onnx")
    assert serde.data_path(tmp_path / "m.onnx").exists()


# -- bad inputs ---------------------------------------------------------------------------------
@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "m.onnx"
    serde.save(example_graphs()["spiked_linear_q8"], path)
    return path


def _edit(path, fn):
    m = onnx.load_model(str(path), load_external_data=False)
    fn(m)
    path.write_bytes(m.SerializeToString())
    return path


def test_missing_file(tmp_path):
    with pytest.raises(IRError, match="no such file"):
        serde.load(tmp_path / "nope.onnx")


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.9])
def test_truncated_file(saved, keep):
    data = saved.read_bytes()
    saved.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(IRError):
        serde.load(saved)


def test_corrupt_file(saved):
    saved.write_bytes(b"\xff\xfe garbage \x00" * 50)
    with pytest.raises(IRError, match="not a readable ONNX file|not an snncompile model"):
        serde.load(saved)


def test_foreign_onnx_model(tmp_path):
    x = helper.make_tensor_value_info("a", onnx.TensorProto.FLOAT, [3])
    y = helper.make_tensor_value_info("c", onnx.TensorProto.FLOAT, [3])
    model = helper.make_model(helper.make_graph([helper.make_node("Add", ["a", "a"], ["c"])],
                                                "g", [x], [y]))
    path = tmp_path / "add.onnx"
    onnx.save_model(model, str(path))
    with pytest.raises(IRError, match="not an snncompile model"):
        serde.load(path)
    # even with our metadata a standard op is refused, naming the node
    helper.set_model_props(model, {serde.FORMAT_KEY: "1"})
    model.opset_import.append(helper.make_opsetid(serde.DOMAIN, serde.OPSET_VERSION))
    model.graph.node[0].name = "plus"
    onnx.save_model(model, str(path))
    with pytest.raises(IRError, match="graph input 'a' must be INT64"):
        serde.load(path)
    model.graph.input[0].type.tensor_type.elem_type = onnx.TensorProto.INT64
    onnx.save_model(model, str(path))
    with pytest.raises(IRError, match="node 'plus'.*not an snncompile op"):
        serde.load(path)


def test_unknown_op(saved):
    _edit(saved, lambda m: setattr(m.graph.node[1], "op_type", "Izhikevich"))
    with pytest.raises(IRError, match="node 'spike': unknown op 'Izhikevich'"):
        serde.load(saved)


def _set_prop(m, key, value):
    for p in m.metadata_props:
        if p.key == key:
            p.value = value


@pytest.mark.parametrize("edit, message", [
    (lambda m: _set_prop(m, serde.FORMAT_KEY, "99"), "unsupported snncompile.format_version 99"),
    (lambda m: _set_prop(m, serde.FORMAT_KEY, "one"), "not an integer"),
    (lambda m: setattr(m.opset_import[0], "version", 7), "unsupported opset"),
    (lambda m: _set_prop(m, serde.METADATA_KEY, "{oops"), "not valid JSON"),
])
def test_unsupported_versions_and_metadata(saved, edit, message):
    _edit(saved, edit)
    with pytest.raises(IRError, match=message):
        serde.load(saved)


def _attr(node, name):
    return next(a for a in node.attribute if a.name == name)


def _drop_initializer(m, name):
    keep = [t for t in m.graph.initializer if t.name != name]
    del m.graph.initializer[:]
    m.graph.initializer.extend(keep)


def _initializer(m, name):
    return next(t for t in m.graph.initializer if t.name == name)


def _replace_initializer(m, name, arr):
    _drop_initializer(m, name)
    m.graph.initializer.append(numpy_helper.from_array(arr, name))


@pytest.mark.parametrize("edit, message", [
    # attribute says d_out=7 but the weight is (6, 8)
    (lambda m: setattr(_attr(m.graph.node[2], "d_out"), "i", 7), "'qw' has shape"),
    (lambda m: _replace_initializer(m, "qw", np.zeros((6, 9), np.int8)), "'qw' has shape"),
    (lambda m: _replace_initializer(m, "qw", np.zeros((6, 8), np.float32)), "dtype float32"),
    (lambda m: _replace_initializer(m, "qw", np.zeros((6, 8), np.int64)), "int64"),
    (lambda m: _drop_initializer(m, "qs"), "node 'proj': missing weight 'qs'"),
    (lambda m: m.graph.node[2].input.pop(), "node 'proj': has 2 inputs"),
    (lambda m: _attr(m.graph.node[1], "D").__setattr__("i", 0), "node 'spike'.*D"),
    (lambda m: m.graph.node[1].attribute.pop(), "node 'spike': missing attribute 'theta'"),
    (lambda m: m.graph.node[1].attribute.append(helper.make_attribute("tau", 2)),
     "unknown attribute 'tau'"),
    (lambda m: setattr(_attr(m.graph.node[1], "kind"), "type", onnx.AttributeProto.INT),
     "attribute 'kind' must be STRING"),
    (lambda m: m.graph.node[2].input.__setitem__(0, "embedding"), "op expects spike"),
    (lambda m: _attr(m.graph.node[1], "theta").t.CopyFrom(
        helper.make_tensor("t", onnx.TensorProto.STRING, [], [b"x"])),
     "attribute 'theta' must be a numeric scalar"),
    (lambda m: _initializer(m, "qw").dims.__setitem__(0, -6), "'qw': negative dimension"),
])
def test_invalid_content_names_node_or_field(saved, edit, message):
    _edit(saved, edit)
    with pytest.raises(IRError, match=message):
        serde.load(saved)


def test_external_data_missing_or_truncated(tmp_path):
    path = tmp_path / "m.onnx"
    serde.save(example_graphs()["linear"], path, external_data=True)
    data = serde.data_path(path)
    blob = data.read_bytes()
    data.write_bytes(blob[:-8])
    with pytest.raises(IRError, match="truncated"):
        serde.load(path)
    data.unlink()
    with pytest.raises(IRError, match="external data file .* is missing"):
        serde.load(path)


def test_external_offset_may_not_be_negative(tmp_path):
    path = tmp_path / "m.onnx"
    serde.save(example_graphs()["linear"], path, external_data=True)

    def negative(m):
        for e in _initializer(m, "lw").external_data:
            if e.key == "offset":
                e.value = "-64"
    _edit(path, negative)
    with pytest.raises(IRError, match="'lw': negative external data offset"):
        serde.load(path)


def test_external_location_may_not_escape(tmp_path):
    path = tmp_path / "m.onnx"
    serde.save(example_graphs()["linear"], path, external_data=True)

    def escape(m):
        for t in m.graph.initializer:
            for e in t.external_data:
                if e.key == "location":
                    e.value = "../../etc/passwd"
    _edit(path, escape)
    with pytest.raises(IRError, match="bad external data location"):
        serde.load(path)


def test_metadata_round_trips_config(tmp_path):
    from snncompile.frontend import build_graph
    from snncompile.models.config import SpikingMambaConfig
    cfg = SpikingMambaConfig(d_model=16, n_layer=1, vocab_size=32, d_state=4, headdim=8,
                             spiking=True)
    import torch
    g0 = build_graph(cfg)
    sd = {k: torch.randn(s) for k, (s, _) in g0.param_specs().items()}
    g = build_graph(cfg, sd)
    serde.save(g, tmp_path / "m.onnx")
    back = serde.load(tmp_path / "m.onnx")
    assert SpikingMambaConfig.from_mamba_ssm_dict(back.metadata["config"]) == cfg
    props = {p.key: p.value for p in onnx.load_model(str(tmp_path / "m.onnx")).metadata_props}
    assert json.loads(props[serde.METADATA_KEY])["config"]["d_model"] == 16
