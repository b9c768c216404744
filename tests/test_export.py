"""build_graph (shape-only and from weights), export with self-verification, checkpoints."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from snncompile import export as export_mod
from snncompile.backends.reference import ReferenceInterpreter
from snncompile.errors import CheckpointError, ConfigError, IRError
from snncompile.export import export_checkpoint, export_model
from snncompile.frontend import build_graph
from snncompile.ir import serde
from snncompile.models.checkpoint import save_checkpoint
from snncompile.models.config import PUBLIC_CONFIGS, NeuronConfig, SpikingMambaConfig
from snncompile.models.lm import SpikingMambaLM

BLOCK_NODES = ["norm", "in_proj_spike", "in_proj", "split_zxbcdt", "conv1d", "conv_act",
               "split_xbc", "dt_softplus", "ssm", "norm_gated", "out_proj_spike", "out_proj",
               "residual"]
# parameter counts of the public configs (spec section 6), in millions
PUBLIC_PARAMS_M = {"mamba2-130m": 129, "mamba2-370m": 368, "mamba2-780m": 780,
                   "mamba2-1.3b": 1344, "mamba2-2.7b": 2703}


def _small(**kw) -> SpikingMambaConfig:
    base = dict(d_model=32, n_layer=2, vocab_size=256, d_state=8, headdim=8, spiking=True,
                neuron=NeuronConfig(theta=0.05))
    base.update(kw)
    return SpikingMambaConfig(**base)


def _model(**kw) -> SpikingMambaLM:
    torch.manual_seed(0)
    return SpikingMambaLM(_small(**kw))


# -- shape-only graphs ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(PUBLIC_CONFIGS))
def test_shape_only_public_configs(name):
    cfg = PUBLIC_CONFIGS[name].replace(spiking=True)
    g = build_graph(cfg)
    assert not g.params
    g.verify(require_params=False)
    assert g.n_params() / 1e6 == pytest.approx(PUBLIC_PARAMS_M[name], rel=0.005)
    names = [n.name for n in g.nodes]
    expected = (["embedding"] + [f"layers.{i}.{b}" for i in range(cfg.n_layer) for b in BLOCK_NODES]
                + ["norm_f", "lm_head"])
    assert names == expected
    assert g.node("lm_head").params["weight"] == "backbone.embedding.weight"
    assert g.metadata["config"] == cfg.to_mamba_ssm_dict()
    assert g.value_shapes()["logits"] == (cfg.padded_vocab_size,)
    # the two projections are 86%..95% of a block's dense MACs (spec section 5)
    counts = {n.name: n.op.counts(0) for n in g.nodes}
    block = [c.dense_macs for k, c in counts.items() if k.startswith("layers.0.")]
    proj = counts["layers.0.in_proj"].dense_macs + counts["layers.0.out_proj"].dense_macs
    assert 0.86 <= proj / sum(block) <= 0.96


def test_dense_graph_has_no_spike_ops():
    g = build_graph(PUBLIC_CONFIGS["mamba2-130m"])
    types_ = {n.op_type for n in g.nodes}
    assert "SpikeEncode" not in types_ and "SpikedLinear" not in types_
    assert len(g.nodes) == 1 + 24 * 11 + 2


def test_options_shape_the_graph():
    cfg = _small(spiked_projections=("out_proj",), tie_embeddings=False, conv_bias=False,
                 layer_neurons=(NeuronConfig(kind="lif"), None))
    g = build_graph(cfg)
    assert g.node("layers.0.in_proj").op_type == "Linear"
    assert g.node("layers.0.out_proj_spike").op.kind == "lif"
    assert g.node("layers.1.out_proj_spike").op.kind == "silif"
    assert g.node("lm_head").params["weight"] == "lm_head.weight"
    assert "bias" not in g.node("layers.0.conv1d").params
    with pytest.raises(ConfigError, match="bias"):
        build_graph(_small(bias=True))
    with pytest.raises(ConfigError, match="norm_before_gate"):
        build_graph(_small(norm_before_gate=True))
    dense_bias = build_graph(_small(spiking=False, bias=True))
    assert dense_bias.node("layers.0.in_proj").params["bias"] == \
        "backbone.layers.0.mixer.in_proj.bias"


# -- graphs from weights ---------------------------------------------------------------------------
def test_weights_are_views_and_thetas_come_from_the_state_dict():
    m = _model()
    with torch.no_grad():
        m.backbone.layers[1].mixer.out_proj_neuron.theta.fill_(0.0625)
    sd = m.state_dict()
    g = build_graph(m.config, sd)
    w = g.params["backbone.layers.0.mixer.in_proj.weight"]
    assert np.shares_memory(w, sd["backbone.layers.0.mixer.in_proj.weight"].numpy())
    assert g.params["backbone.layers.0.mixer.conv1d.weight"].shape == (m.config.conv_dim, 4)
    assert g.node("layers.1.out_proj_spike").op.theta == 0.0625
    assert g.node("layers.1.out_proj").op.input_scale == 0.0625
    assert g.node("layers.0.in_proj_spike").op.theta == pytest.approx(0.05)
    assert "lm_head.weight" not in g.params


def test_state_dict_problems_name_the_key():
    m = _model()
    sd = dict(m.state_dict())
    sd.pop("backbone.layers.1.mixer.A_log")
    with pytest.raises(CheckpointError, match="missing 'backbone.layers.1.mixer.A_log'"):
        build_graph(m.config, sd)
    sd = dict(m.state_dict())
    sd["backbone.norm_f.weight"] = torch.zeros(31)
    with pytest.raises(CheckpointError, match="'backbone.norm_f.weight'.*\\(31,\\)"):
        build_graph(m.config, sd)
    sd = dict(m.state_dict())
    sd["backbone.layers.0.mixer.in_proj_neuron.theta"] = torch.ones(2)
    with pytest.raises(CheckpointError, match="scalar"):
        build_graph(m.config, sd)
    sd["backbone.layers.0.mixer.in_proj_neuron.theta"] = [1.0]
    with pytest.raises(CheckpointError, match="not a tensor"):
        build_graph(m.config, sd)


def test_bf16_weights_are_widened():
    m = _model().to(torch.bfloat16)
    g = build_graph(m.config, m.state_dict())
    assert {a.dtype.name for a in g.params.values()} == {"float32"}


def test_upstream_mamba_ssm_model(monkeypatch):
    """The graph built from mamba_ssm's own MambaLMHeadModel state dict has exactly its keys,
    and the interpreter, token by token, reproduces upstream's forward logits (Triton kernels
    swapped for mamba_ssm's pure-torch references, tests/mamba_ssm_stub.py)."""
    from mamba_ssm_stub import cpu_reference_patches, randomize_, tiny_mamba_config, upstream_lm
    cpu_reference_patches(monkeypatch)
    up_cfg = tiny_mamba_config()
    up = randomize_(upstream_lm(up_cfg, dtype=torch.float64))
    cfg = SpikingMambaConfig.from_mamba_ssm_dict({**up_cfg.__dict__, "tie_embeddings": True})
    sd = up.state_dict()
    g = build_graph(cfg, sd)
    assert set(g.params) == set(sd) - {"lm_head.weight"}
    ids = torch.tensor([[5, 30, 0, 36, 7, 7]])
    with torch.no_grad():
        want = up(ids).logits[0]
    interp = ReferenceInterpreter(g, device="cpu")
    got, _, _ = interp.run(ids[0].tolist())
    # the references upcast norms to float32 (rms_norm_ref(upcast=True)): agreement ~1e-6
    torch.testing.assert_close(torch.stack(got), want, rtol=1e-5, atol=1e-5)
    # our PyTorch model loaded from the same state dict agrees to float64 rounding
    ours = SpikingMambaLM(cfg, init=False).double()
    ours.load_state_dict(sd)
    with torch.no_grad():
        mine = ours.eval()(ids)[0]
    torch.testing.assert_close(torch.stack(got), mine, rtol=1e-10, atol=1e-10)


# -- export with self-verification ----------------------------------------------------------------
@pytest.mark.parametrize("kw", [{}, {"spiking": False}])
def test_export_model_writes_a_verified_file(tmp_path, kw):
    m = _model(**kw)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    path = tmp_path / "out" / "m.onnx"
    r = export_model(m, path)
    assert path.is_file() and not serde.data_path(path).exists()
    assert r.verified and r.max_abs_diff <= 1e-4 and r.tokens == [84, 104, 101, 32]
    assert (sum(r.spikes.values()) > 0) == m.config.spiking
    assert set(r.spikes) == ({f"layers.{i}.{p}_spike" for i in range(2)
                              for p in ("in_proj", "out_proj")} if m.config.spiking else set())
    assert r.nodes == len(serde.load(path).nodes)
    # the model is untouched
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())
    assert next(m.parameters()).dtype == torch.float32
    assert [p.name for p in tmp_path.joinpath("out").iterdir()] == ["m.onnx"]  # no temporaries
    assert r.as_dict()["path"] == str(path)


def test_large_model_path_converts_in_place_and_back(tmp_path, monkeypatch):
    monkeypatch.setattr(export_mod, "DEEPCOPY_LIMIT", 0)
    m = _model()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    m.train()
    r = export_model(m, tmp_path / "m.onnx", external_data=True)
    assert r.verified and r.external_data and serde.data_path(tmp_path / "m.onnx").exists()
    assert m.training and next(m.parameters()).dtype == torch.float32
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())
    assert m.lm_head.weight is m.backbone.embedding.weight


@pytest.mark.parametrize("what", ["logits", "spikes"])
def test_failed_check_writes_nothing(tmp_path, monkeypatch, what):
    real = export_mod._interpreter_run

    def perturbed(graph, tokens):
        logits, spikes = real(graph, tokens)
        if what == "logits":
            logits[1] = logits[1] + 1e-3
        else:
            spikes[2]["layers.1.in_proj_spike"] += 1
        return logits, spikes

    monkeypatch.setattr(export_mod, "_interpreter_run", perturbed)
    path = tmp_path / "m.onnx"
    path.write_bytes(b"previous")
    msg = "max \\|logit difference\\|" if what == "logits" else \
        "token 2: node 'layers.1.in_proj_spike' spikes"
    with pytest.raises(IRError, match=msg):
        export_model(_model(), path, external_data=True)
    assert path.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]


def test_export_token_range_is_checked(tmp_path):
    with pytest.raises(ConfigError, match="token 999"):
        export_model(_model(), tmp_path / "m.onnx", tokens=[1, 999])
    with pytest.raises(ConfigError, match="at least one token"):
        export_model(_model(), tmp_path / "m.onnx", tokens=[])
    r = export_model(_model(), tmp_path / "m.onnx", verify=False)
    assert not r.verified and r.max_abs_diff is None


def test_default_verify_tokens_have_the_requested_length():
    cfg = _small()
    assert export_mod.default_verify_tokens(cfg) == list(b"The ")
    long = export_mod.default_verify_tokens(cfg, 200)
    assert len(long) == 200 and long[:9] == list(b"The spike")
    assert max(export_mod.default_verify_tokens(_small(vocab_size=50), 64)) < 50


@pytest.mark.parametrize("fmt, kw", [("bin", {}), ("safetensors", {"spiking": False}),
                                     ("bin", {"sgc": True})])
def test_export_checkpoint(tmp_path, fmt, kw):
    m = _model(**kw)
    save_checkpoint(m, tmp_path / "ckpt", format=fmt)
    r = export_checkpoint(tmp_path / "ckpt", tmp_path / "m.onnx")
    assert r.verified
    g = serde.load(tmp_path / "m.onnx")
    assert SpikingMambaConfig.from_mamba_ssm_dict(g.metadata["config"]).to_mamba_ssm_dict() == m.config.to_mamba_ssm_dict()
    assert not any(re.search("sgc", n.name + n.op_type, re.I) for n in g.nodes)
    with pytest.raises(CheckpointError):
        export_checkpoint(tmp_path / "missing", tmp_path / "x.onnx")
