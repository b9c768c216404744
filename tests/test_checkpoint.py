"""Checkpoints: round trips (bin and safetensors, dense and spiking) and every documented error."""

from __future__ import annotations

import json
import pickle

import pytest
import torch

from snncompile.errors import CheckpointError, ConfigError
from snncompile.models.checkpoint import (load_checkpoint, load_config, load_state_dict,
                                          save_checkpoint)
from snncompile.models.config import NeuronConfig
from snncompile.models.lm import SpikingMambaLM


@pytest.fixture()
def dense(tmp_path, tiny_config):
    torch.manual_seed(0)
    model = SpikingMambaLM(tiny_config()).eval()
    return model, save_checkpoint(model, tmp_path / "dense")


IDS = torch.tensor([[1, 5, 9, 36, 0, 2]])


@pytest.mark.parametrize("sidecar", [True, False])
@pytest.mark.parametrize("fmt,file", [("bin", "pytorch_model.bin"),
                                      ("safetensors", "model.safetensors")])
def test_round_trip_spiking_student(tmp_path, fmt, file, sidecar, tiny_config):
    """Both layouts: the sidecar (spiking.json + spiking.safetensors) and the older one."""
    torch.manual_seed(0)
    cfg = tiny_config(spiking=True, sgc=True, sgc_mode="branch", sgc_weight=0.2, dt_max=0.2,
                      neuron=NeuronConfig(kind="ilif", D=3, theta=0.7),
                      layer_neurons=(None, NeuronConfig(kind="lif", theta=0.4)))
    model = SpikingMambaLM(cfg).eval()
    with torch.no_grad():
        model.backbone.layers[1].mixer.out_proj_neuron.theta.fill_(0.123)
    folder = save_checkpoint(model, tmp_path / "student", format=fmt, sidecar=sidecar)
    extra = ["spiking.json", "spiking.safetensors"] if sidecar else []
    assert sorted(p.name for p in folder.iterdir()) == sorted(["config.json", file] + extra)
    assert ("spiking" in json.loads((folder / "config.json").read_text())) is not sidecar
    assert load_config(folder) == cfg
    loaded = load_checkpoint(folder).eval()
    assert loaded.backbone.layers[1].mixer.out_proj_neuron.theta.item() == pytest.approx(0.123)
    assert loaded.lm_head.weight is loaded.backbone.embedding.weight
    with torch.no_grad():
        assert torch.equal(loaded(IDS), model(IDS))
    keys = set(load_state_dict(folder))
    assert "backbone.layers.0.mixer.in_proj_neuron.theta" in keys and "lm_head.weight" in keys


def test_dense_config_json_is_mamba_ssm_shaped(dense):
    _, folder = dense
    data = json.loads((folder / "config.json").read_text())
    assert data["ssm_cfg"]["layer"] == "Mamba2" and "spiking" not in data
    assert set(data) == {"d_model", "d_intermediate", "n_layer", "vocab_size", "ssm_cfg",
                         "attn_layer_idx", "attn_cfg", "rms_norm", "residual_in_fp32",
                         "fused_add_norm", "pad_vocab_size_multiple", "tie_embeddings"}


def test_save_replaces_existing_folder_and_leaves_nothing_on_failure(tmp_path, monkeypatch, dense):
    model, folder = dense
    (folder / "stale.txt").write_text("old")
    save_checkpoint(model, folder, format="safetensors")
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]

    def boom(*a, **k):
        raise OSError("disk full")
    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(OSError):
        save_checkpoint(model, tmp_path / "new")
    assert not (tmp_path / "new").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".new")] == []
    with pytest.raises(ConfigError, match="format"):
        save_checkpoint(model, tmp_path / "x", format="onnx")


def test_tied_checkpoint_without_lm_head_key(dense):
    model, folder = dense
    state = torch.load(folder / "pytorch_model.bin", weights_only=True)
    del state["lm_head.weight"]
    torch.save(state, folder / "pytorch_model.bin")
    with torch.no_grad():
        assert torch.equal(load_checkpoint(folder)(IDS), model(IDS))


def test_dtype_argument(dense):
    _, folder = dense
    assert load_checkpoint(folder, dtype=torch.float64).lm_head.weight.dtype == torch.float64


# ---------------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------------
def test_missing_folder_and_files(tmp_path, dense):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope")
    (tmp_path / "afile").write_text("x")
    with pytest.raises(CheckpointError, match="not a folder"):
        load_checkpoint(tmp_path / "afile")
    _, folder = dense
    (folder / "pytorch_model.bin").unlink()
    with pytest.raises(CheckpointError, match="no weights"):
        load_checkpoint(folder)
    (folder / "config.json").unlink()
    with pytest.raises(CheckpointError, match="no config.json"):
        load_checkpoint(folder)


@pytest.mark.parametrize("text,err,match", [
    ("{not json", CheckpointError, "not valid JSON"),
    ("[1, 2]", ConfigError, "top level is list"),
    ('{"architectures": ["Mamba2ForCausalLM"], "hidden_size": 768}', ConfigError,
     "not a mamba_ssm config, missing"),
    ('{"d_model": 16, "n_layer": 2, "vocab_size": 37, "ssm_cfg": {}}', ConfigError,
     "only 'Mamba2'"),
    ('{"d_model": 16, "n_layer": 2, "vocab_size": 37, "ssm_cfg": {"layer": "Mamba1"}}',
     ConfigError, "ssm_cfg.layer is 'Mamba1'"),
    ('{"d_model": 16, "n_layer": 2, "vocab_size": 37, "ssm_cfg": {"layer": "Mamba2", '
     '"headdim": 7}}', ConfigError, "headdim"),
    ('{"d_model": 16, "n_layer": 2, "vocab_size": 37, "ssm_cfg": 3}', ConfigError, "ssm_cfg"),
])
def test_bad_config_json(dense, text, err, match):
    _, folder = dense
    (folder / "config.json").write_text(text)
    with pytest.raises(err, match=match):
        load_checkpoint(folder)


def test_truncated_bin(dense):
    _, folder = dense
    data = (folder / "pytorch_model.bin").read_bytes()
    for cut in (len(data) // 2, 100, 0):
        (folder / "pytorch_model.bin").write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match="truncated or corrupt"):
            load_checkpoint(folder)


def test_truncated_safetensors(tmp_path, dense):
    model, _ = dense
    folder = save_checkpoint(model, tmp_path / "st", format="safetensors")
    data = (folder / "model.safetensors").read_bytes()
    for cut in (len(data) - 10, 30, 3):
        (folder / "model.safetensors").write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match="truncated or corrupt safetensors"):
            load_checkpoint(folder)


class Payload:
    """A foreign object: weights_only loading must refuse to build it."""


def test_foreign_pickles_are_refused(dense):
    _, folder = dense
    torch.save({"backbone.embedding.weight": Payload()}, folder / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="not a plain tensor state dict.*Payload"):
        load_checkpoint(folder)
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps({"x": {1, 2}}))
    with pytest.raises(CheckpointError, match="not a plain tensor state dict|truncated"):
        load_checkpoint(folder)
    torch.save([torch.zeros(2)], folder / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="holds a list, not a state dict"):
        load_checkpoint(folder)
    torch.save({"a": 3}, folder / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="entry 'a'"):
        load_checkpoint(folder)


def _edit_state(folder, fn):
    state = torch.load(folder / "pytorch_model.bin", weights_only=True)
    fn(state)
    torch.save(state, folder / "pytorch_model.bin")


def test_missing_key(dense):
    _, folder = dense
    _edit_state(folder, lambda s: s.pop("backbone.layers.1.mixer.A_log"))
    with pytest.raises(CheckpointError, match="missing key 'backbone.layers.1.mixer.A_log'"):
        load_checkpoint(folder)


def test_unexpected_key(dense):
    _, folder = dense
    _edit_state(folder, lambda s: s.__setitem__("backbone.layers.0.mixer.extra", torch.zeros(1)))
    with pytest.raises(CheckpointError, match="unexpected key 'backbone.layers.0.mixer.extra'"):
        load_checkpoint(folder)


def test_dense_weights_with_spiking_config_miss_thresholds(dense, tiny_config):
    _, folder = dense
    cfg = tiny_config(spiking=True).to_mamba_ssm_dict()
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="missing key .*_neuron.theta"):
        load_checkpoint(folder)


def test_wrong_shape(dense):
    _, folder = dense
    _edit_state(folder, lambda s: s.__setitem__("backbone.layers.0.mixer.D", torch.ones(3)))
    with pytest.raises(CheckpointError, match=r"'backbone.layers.0.mixer.D' has shape \(3,\), "
                                              r"config.json implies \(4,\)"):
        load_checkpoint(folder)


def test_integer_tensor_rejected(dense):
    _, folder = dense
    _edit_state(folder, lambda s: s.__setitem__("backbone.norm_f.weight",
                                                torch.ones(16, dtype=torch.int64)))
    with pytest.raises(CheckpointError, match="norm_f.weight' has dtype torch.int64"):
        load_checkpoint(folder)
    _edit_state(folder, lambda s: s.__setitem__("backbone.norm_f.weight",
                                                torch.ones(16, dtype=torch.complex64)))
    with pytest.raises(CheckpointError, match="norm_f.weight' has dtype torch.complex64"):
        load_checkpoint(folder)


def test_tied_head_that_differs(dense):
    _, folder = dense
    _edit_state(folder, lambda s: s.__setitem__("lm_head.weight", s["lm_head.weight"] + 1))
    with pytest.raises(CheckpointError, match="tie_embeddings is true but lm_head.weight differs"):
        load_checkpoint(folder)


def test_safetensors_preferred_when_both_exist(tmp_path, dense, tiny_config):
    model, folder = dense
    other = save_checkpoint(SpikingMambaLM(tiny_config()), tmp_path / "other", format="safetensors")
    (other / "model.safetensors").rename(folder / "model.safetensors")
    with torch.no_grad():
        assert not torch.equal(load_checkpoint(folder)(IDS), model(IDS))
