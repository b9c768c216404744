"""`snncompile export`, `inspect` and `run` end to end through the click group."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from snncompile.cli import main
from snncompile.models.checkpoint import save_checkpoint
from snncompile.models.config import NeuronConfig, SpikingMambaConfig
from snncompile.models.lm import SpikingMambaLM


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A small spiking checkpoint exported through the CLI: (checkpoint, model.onnx)."""
    tmp = tmp_path_factory.mktemp("cli")
    torch.manual_seed(0)
    cfg = SpikingMambaConfig(d_model=32, n_layer=2, vocab_size=256, d_state=8, headdim=8,
                             spiking=True, neuron=NeuronConfig(theta=0.05))
    save_checkpoint(SpikingMambaLM(cfg), tmp / "ckpt")
    out = tmp / "model.onnx"
    res = CliRunner().invoke(main, ["export", str(tmp / "ckpt"), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "verified on 4 tokens" in res.stdout and "spike counts identical" in res.stdout
    return tmp / "ckpt", out


def test_export_json(exported, tmp_path):
    ckpt, _ = exported
    res = CliRunner().invoke(main, ["export", str(ckpt), "-o", str(tmp_path / "m.onnx"),
                                    "--json", "--tokens", "2", "--external-data"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["verified"] and report["token_ids"] == [84, 104] and report["external_data"]
    assert report["format"] == "snncompile-export/1" and report["tokens"] == 2
    assert (tmp_path / "m.onnx.data").is_file()
    assert report["max_abs_logit_diff"] <= 1e-4


def test_inspect_table_and_json(exported):
    _, model = exported
    res = CliRunner().invoke(main, ["inspect", str(model)])
    assert res.exit_code == 0, res.output
    for name in ("embedding", "layers.1.in_proj_spike", "layers.0.ssm", "lm_head", "total"):
        assert name in res.stdout
    res = CliRunner().invoke(main, ["inspect", str(model), "--json", "--fire-rate", "0.25"])
    data = json.loads(res.stdout)
    rows = {r["name"]: r for r in data["nodes"]}
    proj = rows["layers.0.in_proj"]
    d_in, d_out = 32, 2 * 64 + 2 * 8 + 8
    assert proj["kind"] == "spiked" and proj["D"] == 4
    assert proj["acs"] == pytest.approx(d_out * 0.25 * d_in * 4)
    assert proj["macs"] == 0 and proj["dense_macs"] == d_out * d_in
    assert proj["inputs"] == [[32]] and proj["outputs"] == [[d_out]]
    assert rows["layers.0.conv1d"]["kind"] == "dense" and rows["layers.0.conv1d"]["macs"] == 80 * 4
    assert rows["lm_head"]["params"] == 0  # tied: the embedding's weight, counted there
    assert data["total"]["params"] == rows["embedding"]["params"] + sum(
        r["params"] for n, r in rows.items() if n != "embedding")
    assert data["metadata"]["config"]["d_model"] == 32


def test_run_text_and_json(exported):
    _, model = exported
    args = ["run", str(model), "--prompt", "Hi", "--tokens", "3", "--device", "cpu"]
    a = CliRunner().invoke(main, args)
    assert a.exit_code == 0, a.output
    res = CliRunner().invoke(main, args + ["--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    from snncompile.data.tokenizer import decode
    assert len(data["token_ids"]) == 3 and data["continuation"] == decode(data["token_ids"])
    assert data["new_tokens"] == 3 and data["prompt"] == "Hi"
    assert a.stdout == data["continuation"] + "\n"
    assert data["tokens"] == 2 + 2
    layers = {r["name"]: r for r in data["nodes"]}
    enc = layers["layers.0.in_proj_spike"]
    assert enc["neuron_updates"] == 4 * 32 * 4
    assert enc["firing_rate"] == pytest.approx(enc["spikes"] / (4 * 32 * 4))
    assert layers["layers.0.in_proj"]["acs"] == 152 * enc["spikes"]
    sampled = CliRunner().invoke(main, args + ["--temperature", "1.0", "--seed", "5", "--json"])
    again = CliRunner().invoke(main, args + ["--temperature", "1.0", "--seed", "5", "--json"])
    assert json.loads(sampled.stdout)["token_ids"] == json.loads(again.stdout)["token_ids"]


@pytest.mark.parametrize("args, message", [
    (["export", "{tmp}/nope", "-o", "{tmp}/x.onnx"], "does not exist"),
    (["inspect", "{tmp}/nope.onnx"], "no such file"),
    (["inspect", "{tmp}/foreign.onnx"], "not an snncompile model"),
    (["run", "{model}", "--prompt", ""], "--prompt is empty"),
])
def test_bad_input_is_one_line_and_exit_2(exported, tmp_path, args, message):
    import onnx
    from onnx import helper
    x = helper.make_tensor_value_info("a", onnx.TensorProto.FLOAT, [3])
    onnx.save_model(helper.make_model(helper.make_graph(
        [helper.make_node("Relu", ["a"], ["b"])], "g", [x],
        [helper.make_tensor_value_info("b", onnx.TensorProto.FLOAT, [3])])),
        str(tmp_path / "foreign.onnx"))
    args = [a.format(tmp=tmp_path, model=exported[1]) for a in args]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2
    assert res.stderr.count("\n") == 1 and message in res.stderr
    assert not (tmp_path / "x.onnx").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA message")
def test_run_cuda_without_cuda(exported):
    res = CliRunner().invoke(main, ["run", str(exported[1]), "--prompt", "a", "--device", "cuda"])
    assert res.exit_code == 2 and "no CUDA device" in res.stderr
