"""Student checkpoints that mamba_ssm reads: config.json and the weights file are mamba_ssm's
own, the neurons live in the sidecar (spiking.json + spiking.safetensors;
snncompile/models/sidecar.py). `MambaLMHeadModel.from_pretrained(folder)` loads the dense Mamba2
underneath the student; snncompile reads both parts; the older layout still loads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from mamba_ssm_stub import cpu_reference_patches, import_mamba_ssm, randomize_
from snncompile.errors import CheckpointError
from snncompile.models.checkpoint import load_checkpoint, load_config, save_checkpoint
from snncompile.models.config import NeuronConfig, SpikingMambaConfig, resolve_config
from snncompile.models.lm import SpikingMambaLM

CFG = SpikingMambaConfig(d_model=16, n_layer=2, vocab_size=37, d_state=8, headdim=8,
                         ngroups=2, chunk_size=4)
SCFG = CFG.replace(spiking=True, sgc=True, neuron=NeuronConfig(kind="silif", D=3, theta=0.5),
                   layer_neurons=(None, NeuronConfig(kind="ilif", D=2, theta=0.25)))
IDS = torch.tensor([[1, 5, 9, 36, 0, 2, 7, 11, 3]])


@pytest.fixture()
def student():
    torch.manual_seed(0)
    model = randomize_(SpikingMambaLM(SCFG)).eval()
    with torch.no_grad():
        for i, blk in enumerate(model.backbone.layers):
            blk.mixer.in_proj_neuron.theta.fill_(0.3 + 0.1 * i)
            blk.mixer.out_proj_neuron.theta.fill_(0.05 + 0.01 * i)
    return model


def _dense_of(model: SpikingMambaLM) -> SpikingMambaLM:
    dense = SpikingMambaLM(model.config.replace(spiking=False), init=False)
    dense.load_state_dict({k: v for k, v in model.state_dict().items() if "_neuron." not in k})
    return dense.eval()


def test_mamba_ssm_from_pretrained_loads_the_dense_model(tmp_path, monkeypatch, student):
    import_mamba_ssm()
    cpu_reference_patches(monkeypatch)
    from mamba_ssm.models.mixer_seq_simple import MambaLMHeadModel
    folder = save_checkpoint(student, tmp_path / "student", format="bin")
    assert "spiking" not in json.loads((folder / "config.json").read_text())
    up = MambaLMHeadModel.from_pretrained(str(folder), device="cpu", dtype=torch.float32)
    for layer in up.backbone.layers:
        layer.mixer.use_mem_eff_path = False
    ours = student.state_dict()
    theirs = up.state_dict()
    assert set(theirs) == {k for k in ours if "_neuron." not in k}
    for k, v in theirs.items():
        assert torch.equal(v, ours[k]), k
    with torch.no_grad():
        ref = up.eval()(IDS).logits
        assert ref.abs().max() > 0.5
        torch.testing.assert_close(_dense_of(student)(IDS), ref, atol=1e-5, rtol=1e-5)


def test_snncompile_reads_config_and_thresholds_from_the_sidecar(tmp_path, student):
    folder = save_checkpoint(student, tmp_path / "student", format="safetensors")
    side = json.loads((folder / "spiking.json").read_text())
    assert side["format"] == "snncompile-spiking/1"
    assert side["spiking"]["layer_neurons"][1] == {"kind": "ilif", "D": 2, "theta": 0.25,
                                                   "alpha": 1.0, "learn_theta": True}
    assert load_config(folder) == SCFG
    assert resolve_config(str(folder)) == SCFG             # the sweep / energy path
    assert resolve_config(str(folder / "config.json")) == SCFG
    loaded = load_checkpoint(folder).eval()
    assert loaded.backbone.layers[1].mixer.out_proj_neuron.theta.item() == pytest.approx(0.06)
    with torch.no_grad():
        assert torch.equal(loaded(IDS), student(IDS))
        # the thresholds matter: without them the logits would differ
        assert not torch.equal(_dense_of(student)(IDS), student(IDS))


def test_old_layout_still_loads_identically(tmp_path, student):
    new = save_checkpoint(student, tmp_path / "new", format="bin")
    old = save_checkpoint(student, tmp_path / "old", format="bin", sidecar=False)
    assert "spiking" in json.loads((old / "config.json").read_text())
    assert not (old / "spiking.json").exists()
    assert load_config(old) == load_config(new)
    a, b = load_checkpoint(old), load_checkpoint(new)
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_bundled_student_is_the_old_layout_and_loads():
    folder = Path(__file__).resolve().parents[1] / "examples" / "models" / "student"
    assert "spiking" in json.loads((folder / "config.json").read_text())
    model = load_checkpoint(folder)
    assert model.config.spiking and model.backbone.layers[0].mixer.in_proj_neuron is not None


def test_sidecar_errors(tmp_path, student):
    folder = save_checkpoint(student, tmp_path / "s", format="bin")
    side = (folder / "spiking.safetensors").read_bytes()
    (folder / "spiking.safetensors").unlink()
    with pytest.raises(CheckpointError, match="has spiking.json but no spiking.safetensors"):
        load_checkpoint(folder)
    (folder / "spiking.safetensors").write_bytes(side[:40])
    with pytest.raises(CheckpointError, match="truncated or corrupt safetensors"):
        load_checkpoint(folder)
    (folder / "spiking.safetensors").write_bytes(side)
    cfg = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(dict(cfg, spiking=SCFG.spiking_section())))
    with pytest.raises(CheckpointError, match="both config.json and spiking.json"):
        load_checkpoint(folder)
    (folder / "config.json").write_text(json.dumps(cfg))
    (folder / "spiking.json").write_text('{"format": "other/9", "spiking": {}}')
    with pytest.raises(CheckpointError, match="format 'other/9'"):
        load_checkpoint(folder)
    (folder / "spiking.json").write_text("{oops")
    with pytest.raises(CheckpointError, match="spiking.json: not valid JSON"):
        load_checkpoint(folder)
    # a dense weights key smuggled into the sidecar
    from safetensors.torch import save_file
    save_checkpoint(student, folder, format="bin")
    save_file({"backbone.norm_f.weight": torch.ones(16)}, str(folder / "spiking.safetensors"))
    with pytest.raises(CheckpointError, match="not a neuron parameter"):
        load_checkpoint(folder)


def test_dense_model_has_no_sidecar(tmp_path):
    folder = save_checkpoint(SpikingMambaLM(CFG), tmp_path / "d", format="bin")
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "pytorch_model.bin"]
