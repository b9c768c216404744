"""SpikingMambaLM: shapes, tying, forward == step, from_teacher, SGC absent in eval."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from snncompile.errors import ConfigError
from snncompile.models.config import NeuronConfig
from snncompile.models.lm import SpikingMambaLM
from snncompile.models.neurons import record_spikes, spike_neurons


pytestmark = pytest.mark.usefixtures("torch_seed")


@pytest.fixture(scope="module")
def teacher(tiny_config):
    torch.manual_seed(0)
    return SpikingMambaLM(tiny_config()).eval()


def test_structure_and_names(teacher):
    cfg = teacher.config
    assert teacher.lm_head.weight is teacher.backbone.embedding.weight
    assert teacher.backbone.embedding.weight.shape == (48, 16)       # 37 padded to 48
    keys = set(teacher.state_dict())
    assert {"backbone.embedding.weight", "backbone.layers.0.norm.weight",
            "backbone.layers.1.mixer.in_proj.weight", "backbone.layers.1.mixer.A_log",
            "backbone.norm_f.weight", "lm_head.weight"} <= keys
    assert not any("neuron" in k for k in keys)
    assert len(teacher.backbone.layers) == cfg.n_layer
    out_w = teacher.backbone.layers[0].mixer.out_proj.weight
    assert out_w.abs().max() <= 1 / (cfg.d_inner ** 0.5) / (cfg.n_layer ** 0.5) + 1e-6


def test_untied_head(tiny_config):
    m = SpikingMambaLM(tiny_config(tie_embeddings=False))
    assert m.lm_head.weight is not m.backbone.embedding.weight


def test_forward_shape_and_step_agree_dense(teacher):
    ids = torch.randint(0, 37, (2, 9))
    with torch.no_grad():
        logits = teacher(ids)
        assert logits.shape == (2, 9, 48)
        state = teacher.allocate_state(2)
        steps = torch.stack([teacher.step(ids[:, t], state) for t in range(9)], 1)
    torch.testing.assert_close(steps, logits, atol=1e-5, rtol=1e-5)


def test_forward_and_step_agree_spiking_float64(tiny_config):
    m = SpikingMambaLM(tiny_config(spiking=True, neuron=NeuronConfig(theta=0.3))).double().eval()
    ids = torch.randint(0, 37, (2, 9))
    with torch.no_grad():
        logits = m(ids)
        state = m.allocate_state(2)
        steps = torch.stack([m.step(ids[:, t], state) for t in range(9)], 1)
        # prefill + continue
        state2 = m.allocate_state(2)
        parts = torch.cat([m(ids[:, :4], state=state2), m(ids[:, 4:], state=state2)], 1)
    torch.testing.assert_close(steps, logits, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(parts, logits, atol=1e-10, rtol=1e-10)


def test_block_order_is_add_then_norm(teacher):
    """residual_i = x_{i-1} + residual_{i-1}; x_i = mixer_i(norm_i(residual_i)); final norm_f."""
    ids = torch.randint(0, 37, (1, 5))
    bb = teacher.backbone
    with torch.no_grad():
        x = bb.embedding(ids)
        residual = x
        x = bb.layers[0].mixer(bb.layers[0].norm(residual))
        residual = x + residual
        x = bb.layers[1].mixer(bb.layers[1].norm(residual))
        h = bb.norm_f(x + residual)
        torch.testing.assert_close(teacher(ids), h @ bb.embedding.weight.T)


def test_bad_ids(teacher, tiny_config):
    with pytest.raises(ConfigError, match="out of range"):
        teacher(torch.tensor([[0, 48]]))
    with pytest.raises(ConfigError, match="rank 2"):
        teacher(torch.tensor([1, 2]))
    with pytest.raises(ConfigError, match="integer"):
        teacher(torch.zeros(1, 2))
    with pytest.raises(ConfigError, match="layers"):
        teacher.step(torch.tensor([1]), SpikingMambaLM(tiny_config(n_layer=1)).allocate_state(1))
    with pytest.raises(ConfigError, match="layers"):
        teacher(torch.tensor([[1]]), state=SpikingMambaLM(tiny_config(n_layer=1)).allocate_state(1))
    with pytest.raises(ConfigError, match="SpikingMambaConfig"):
        SpikingMambaLM({"d_model": 16})  # type: ignore[arg-type]


def test_from_teacher_copies_weights_and_adds_neurons(teacher):
    student = SpikingMambaLM.from_teacher(teacher)
    assert student.config.spiking
    t_state = teacher.state_dict()
    for k, v in student.state_dict().items():
        if "_neuron." in k:
            assert v.item() == student.config.neuron.theta
        else:
            assert torch.equal(v, t_state[k]), k
    names = [n for n, _ in spike_neurons(student)]
    assert names == [f"backbone.layers.{i}.mixer.{p}_neuron" for i in range(2)
                     for p in ("in_proj", "out_proj")]
    assert student.lm_head.weight is student.backbone.embedding.weight


def test_from_teacher_with_calibration_tracks_teacher_better(teacher, tiny_config):
    ids = torch.randint(0, 37, (4, 16))
    cfg = tiny_config(spiking=True, neuron=NeuronConfig(kind="silif", D=4, theta=1.0))
    plain = SpikingMambaLM.from_teacher(teacher, cfg).eval()
    calibrated = SpikingMambaLM.from_teacher(teacher, cfg, calibration=[ids]).eval()
    thetas = [n.theta.item() for _, n in spike_neurons(calibrated)]
    assert all(t != 1.0 for t in thetas)
    with torch.no_grad():
        ref = F.log_softmax(teacher(ids), -1)
        kl = lambda m: F.kl_div(F.log_softmax(m(ids), -1), ref, log_target=True,  # noqa: E731
                                reduction="batchmean").item()
        assert kl(calibrated) < kl(plain)


def test_from_teacher_rejects_other_shapes(teacher, tiny_config):
    with pytest.raises(ConfigError, match="d_state"):
        SpikingMambaLM.from_teacher(teacher, tiny_config(spiking=True, d_state=4))


def test_more_levels_track_the_teacher_more_closely(teacher, tiny_config):
    """Calibrated students with D = 1, 3, 15 levels: error to the teacher falls as D grows."""
    ids = torch.randint(0, 37, (2, 12))
    with torch.no_grad():
        ref = teacher(ids)
        errs = []
        for D in (1, 3, 15):
            cfg = tiny_config(spiking=True, neuron=NeuronConfig(kind="silif", D=D))
            student = SpikingMambaLM.from_teacher(teacher, cfg, calibration=[ids]).eval()
            out = student(ids)
            assert not torch.equal(out, ref)
            errs.append((out - ref).pow(2).mean().item())
    assert errs[0] > errs[1] > errs[2]
    assert errs[2] < 0.05 * ref.pow(2).mean().item()


def test_record_spikes_on_the_lm(teacher):
    student = SpikingMambaLM.from_teacher(teacher).eval()
    ids = torch.randint(0, 37, (2, 6))
    with record_spikes(student) as stats, torch.no_grad():
        student(ids)
    assert set(stats) == {n for n, _ in spike_neurons(student)}
    rec = stats["backbone.layers.0.mixer.in_proj_neuron"]
    assert rec.numel == 2 * 6 * 16 and rec.D == 4 and 0 < rec.firing_rate <= 1
    assert stats["backbone.layers.1.mixer.out_proj_neuron"].numel == 2 * 6 * 32


@pytest.mark.parametrize("mode", ["gradient", "branch"])
def test_sgc_is_absent_in_eval_mode(teacher, mode, tiny_config):
    on = SpikingMambaLM.from_teacher(teacher, tiny_config(spiking=True, sgc=True, sgc_mode=mode,
                                                          sgc_weight=0.3))
    off = SpikingMambaLM.from_teacher(teacher, tiny_config(spiking=True))
    ids = torch.randint(0, 37, (2, 7))
    with torch.no_grad():
        assert torch.equal(on.eval()(ids), off.eval()(ids))
        train_on, train_off = on.train()(ids), off.train()(ids)
    if mode == "gradient":                      # forward unchanged even in training
        assert torch.equal(train_on, train_off)
    else:                                       # the smooth branch is mixed in while training
        assert not torch.equal(train_on, train_off)


def test_sgc_gradient_mode_changes_gradients(teacher, tiny_config):
    on = SpikingMambaLM.from_teacher(teacher, tiny_config(spiking=True, sgc=True, sgc_weight=0.3))
    off = SpikingMambaLM.from_teacher(teacher, tiny_config(spiking=True))
    ids = torch.randint(0, 37, (2, 7))
    grads = []
    for m in (on, off):
        m.train()(ids).logsumexp(-1).mean().backward()
        grads.append(m.backbone.layers[0].mixer.in_proj.weight.grad.clone())
    assert not torch.allclose(grads[0], grads[1])


def test_bfloat16_model_runs_close_to_float32(teacher, tiny_config):
    """Half-precision weights: the SSM and norms run in float32 inside, so bf16 stays close."""
    ids = torch.randint(0, 37, (2, 10))
    half = SpikingMambaLM(tiny_config()).eval()
    half.load_state_dict(teacher.state_dict())
    half = half.to(torch.bfloat16)
    with torch.no_grad():
        ref = teacher(ids)
        out = half(ids)
        state = half.allocate_state(2)
        assert state.layers[0].ssm.dtype == torch.float32
        steps = torch.stack([half.step(ids[:, t], state) for t in range(10)], 1)
    assert out.dtype == torch.bfloat16
    scale = ref.abs().max()
    assert (out.float() - ref).abs().max() < 0.05 * scale
    assert (steps.float() - ref).abs().max() < 0.05 * scale
