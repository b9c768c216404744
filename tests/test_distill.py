"""The trainer: losses, the loss falls, resume equals an uninterrupted run, determinism."""

from __future__ import annotations

import json
import math

import pytest
import torch

from snncompile.data.corpus import load_split
from snncompile.errors import CheckpointError, ConfigError
from snncompile.models.checkpoint import load_checkpoint
from snncompile.models.config import NeuronConfig, SpikingMambaConfig
from snncompile.models.lm import SpikingMambaLM
from snncompile.models.sgc import SGC
from snncompile.training import losses, state
from snncompile.training.distill import distill, read_summary, student_config
from snncompile.training.options import TrainOptions
from snncompile.training.trainer import capture_mixer_outputs, train_stage

TINY = SpikingMambaConfig(d_model=32, n_layer=2, vocab_size=256, d_state=8, headdim=16,
                          chunk_size=16)
FAST = dict(batch=4, seq_len=32, warmup=3, eval_seq_len=32, eval_bytes=2048)


@pytest.fixture(autouse=True, scope="module")
def one_thread(restore_torch_threads):
    """Single-threaded: the bitwise claims are made for one thread, and tiny models run
    fastest on one core of a shared machine."""
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def teacher(one_thread):
    opts = TrainOptions(stage="teacher", steps=25, lr=1e-2, **FAST)
    return train_stage(opts, TINY).model


def _student_cfg(**kw):
    return student_config(TINY, NeuronConfig(kind=kw.pop("kind", "silif"), D=kw.pop("D", 4)),
                          **kw)


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# --- losses ----------------------------------------------------------------------------------
def test_kl_loss_is_zero_for_equal_logits_and_matches_definition():
    g = torch.Generator().manual_seed(0)
    t = torch.randn(2, 3, 7, generator=g)
    s = torch.randn(2, 3, 7, generator=g)
    assert float(losses.kl_loss(t, t)) == pytest.approx(0.0, abs=1e-7)
    p, q = torch.softmax(t / 2, -1), torch.softmax(s / 2, -1)
    want = 4 * (p * (p.log() - q.log())).sum(-1).mean()
    assert float(losses.kl_loss(t, s, temperature=2.0)) == pytest.approx(float(want), rel=1e-5)
    with pytest.raises(ConfigError, match="kl_loss"):
        losses.kl_loss(t, s[:, :2])


def test_hidden_loss_is_the_papers_l_hidden():
    g = torch.Generator().manual_seed(1)
    h, h2 = torch.randn(2, 5, 6, generator=g), torch.randn(2, 5, 6, generator=g)
    T = 2 * 5
    d = torch.softmax(h, -1) - torch.softmax(h2, -1)
    want = (d.pow(2).sum(-1)).sum() / (2 * T)
    assert float(losses.hidden_loss(h, h2)) == pytest.approx(float(want), rel=1e-6)
    assert float(losses.hidden_loss(h, h)) == 0.0
    both = losses.mean_hidden_loss([h, h], [h2, h])
    assert float(both) == pytest.approx(float(want) / 2, rel=1e-6)
    with pytest.raises(ConfigError, match="hidden targets"):
        losses.mean_hidden_loss([h], [])


def test_lm_loss_matches_uniform_entropy():
    logits = torch.zeros(1, 4, 256)
    assert float(losses.lm_loss(logits, torch.zeros(1, 4, dtype=torch.long))) == pytest.approx(
        math.log(256))


# --- options ---------------------------------------------------------------------------------
@pytest.mark.parametrize("field,value", [("steps", 0), ("lr", -1.0), ("stage", "x"),
                                         ("hidden_target", "x"), ("calibration", "x"),
                                         ("batch", 1.5), ("eval_bytes", 3)])
def test_bad_options_name_the_field(field, value):
    with pytest.raises(ConfigError, match=field):
        TrainOptions(**{field: value})


def test_lr_schedule_warms_up_then_decays_to_the_floor():
    o = TrainOptions(steps=100, lr=1.0, warmup=10, min_lr_ratio=0.1)
    assert o.lr_at(0) == pytest.approx(0.1) and o.lr_at(9) == pytest.approx(1.0)
    assert o.lr_at(10) == pytest.approx(1.0)
    assert o.lr_at(100) == pytest.approx(0.1)
    assert all(o.lr_at(i) >= o.lr_at(i + 1) for i in range(10, 100))


# --- training --------------------------------------------------------------------------------
def test_teacher_loss_falls(teacher):
    opts = TrainOptions(stage="teacher", steps=30, lr=1e-2, **FAST)
    res = train_stage(opts, TINY)
    first, last = sum(res.losses[:5]) / 5, sum(res.losses[-5:]) / 5
    assert first > math.log(256) - 0.5   # starts near uniform
    assert last < first - 1.0
    assert res.eval is not None and res.eval.bpb < first / math.log(2)
    assert not any(p.requires_grad is False for p in res.model.parameters())


def test_student_loss_falls_with_frozen_embedding(teacher):
    cfg = _student_cfg(sgc=True)
    opts = TrainOptions(stage="student", steps=25, lr=3e-3, hidden_weight=1.0, **FAST)
    res = train_stage(opts, cfg, teacher=teacher)
    s = res.model
    assert sum(res.losses[-5:]) < sum(res.losses[:5])
    assert torch.equal(s.backbone.embedding.weight, teacher.backbone.embedding.weight)
    assert s.lm_head.weight is s.backbone.embedding.weight
    # the mixers did change, the neurons exist and were calibrated away from theta=1
    assert not torch.equal(s.backbone.layers[0].mixer.in_proj.weight,
                           teacher.backbone.layers[0].mixer.in_proj.weight)
    assert set(res.thetas) == {f"backbone.layers.{i}.mixer.{p}_neuron"
                               for i in range(2) for p in ("in_proj", "out_proj")}
    assert all(t != 1.0 for t in res.thetas.values())
    assert isinstance(s.backbone.layers[0].mixer.in_proj_neuron.sgc, SGC)
    ev = res.eval
    assert ev is not None and set(ev.layer_rates) == {0, 1}
    assert all(0.0 < r < 1.0 for r in ev.layer_rates.values())


def test_student_requires_spiking_config_and_teacher(teacher):
    opts = TrainOptions(stage="student", steps=2, **FAST)
    with pytest.raises(ConfigError, match="spiking=True"):
        train_stage(opts, TINY, teacher=teacher)
    with pytest.raises(ConfigError, match="needs a teacher"):
        train_stage(opts, _student_cfg())
    with pytest.raises(ConfigError, match="dense"):
        train_stage(TrainOptions(stage="teacher", steps=2, **FAST), _student_cfg())


def test_capture_mixer_outputs_sees_every_block(teacher):
    x = torch.zeros(1, 5, dtype=torch.long)
    with capture_mixer_outputs(teacher) as outs:
        teacher(x)
    assert len(outs) == TINY.n_layer and outs[0].shape == (1, 5, TINY.d_model)
    teacher(x)
    assert len(outs) == TINY.n_layer  # hooks removed on exit


def test_hidden_target_logits_and_branch_sgc_anneal(teacher):
    cfg = _student_cfg(sgc=True, sgc_mode="branch", sgc_weight=0.5)
    opts = TrainOptions(stage="student", steps=4, hidden_target="logits", ce_weight=0.5,
                        **FAST)
    res = train_stage(opts, cfg, teacher=teacher, evaluate_at_end=False)
    sgcs = [m for m in res.model.modules() if isinstance(m, SGC)]
    # lambda at the last step (3 of 4) of the linear anneal 0.5 * (1 - step / steps)
    assert sgcs and all(m.weight == pytest.approx(0.5 * (1 - 3 / 4)) for m in sgcs)
    assert all(math.isfinite(v) for v in res.losses)


@pytest.mark.parametrize("stage", ["teacher", "student"])
def test_resume_after_interrupt_equals_uninterrupted_run(tmp_path, teacher, stage):
    cfg = TINY if stage == "teacher" else _student_cfg(sgc=True)
    opts = TrainOptions(stage=stage, steps=7, ckpt_every=2, lr=5e-3, **FAST)
    kw = dict(teacher=teacher if stage == "student" else None, evaluate_at_end=False)
    full = train_stage(opts, cfg, ckpt_dir=tmp_path / "a", **kw)

    class Crash(Exception):
        pass

    def crash_at_5(step, loss):
        if step == 4:  # 5 steps done, last checkpoint after step 4 (done=4)
            raise Crash

    with pytest.raises(Crash):
        train_stage(opts, cfg, ckpt_dir=tmp_path / "b", on_step=crash_at_5, **kw)
    meta = json.loads((tmp_path / "b" / "latest" / "meta.json").read_text())
    assert meta["step"] == 4
    torch.manual_seed(12345)  # the resumed run must not depend on the global RNG state
    resumed = train_stage(opts, cfg, ckpt_dir=tmp_path / "b", **kw)
    assert resumed.resumed_from == 4
    assert _same_weights(full.model, resumed.model)
    assert resumed.losses == full.losses  # bitwise, history restored from the checkpoint
    assert len(resumed.losses) == 7


def test_same_seed_same_result_other_seed_differs():
    opts = TrainOptions(stage="teacher", steps=4, **FAST)
    a = train_stage(opts, TINY, evaluate_at_end=False)
    torch.manual_seed(999)
    b = train_stage(opts, TINY, evaluate_at_end=False)
    c = train_stage(opts.replace(seed=1), TINY, evaluate_at_end=False)
    assert _same_weights(a.model, b.model) and a.losses == b.losses
    assert not _same_weights(a.model, c.model)


def test_resume_refuses_a_changed_run(tmp_path, teacher):
    opts = TrainOptions(stage="teacher", steps=2, ckpt_every=1, **FAST)
    train_stage(opts, TINY, ckpt_dir=tmp_path, evaluate_at_end=False)
    with pytest.raises(ConfigError, match="lr"):
        train_stage(opts.replace(lr=1e-4, steps=3), TINY, ckpt_dir=tmp_path)
    with pytest.raises(ConfigError, match="model_config"):
        train_stage(opts, TINY.replace(d_state=16), ckpt_dir=tmp_path)
    # a changed checkpoint interval is fine, and --no-resume starts over
    done = train_stage(opts.replace(ckpt_every=2), TINY, ckpt_dir=tmp_path, evaluate_at_end=False)
    assert done.resumed_from == 2 and len(done.losses) == 2
    fresh = train_stage(opts, TINY, ckpt_dir=tmp_path, resume=False, evaluate_at_end=False)
    assert fresh.resumed_from is None


def test_checkpoint_is_atomic_and_loaded_without_code(tmp_path, teacher):
    opts = TrainOptions(stage="teacher", steps=2, ckpt_every=1, **FAST)
    train_stage(opts, TINY, ckpt_dir=tmp_path, evaluate_at_end=False)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["latest"]  # no temporary leftovers
    payload = torch.load(tmp_path / "latest" / "state.pt", weights_only=True)
    assert payload["step"] == 2 and payload["losses"].shape == (2,)
    (tmp_path / "latest" / "state.pt").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="state.pt"):
        train_stage(opts, TINY, ckpt_dir=tmp_path)


def test_distill_both_stages_writes_checkpoints_and_summaries(tmp_path):
    t_opts = TrainOptions(stage="teacher", steps=6, lr=1e-2, **FAST)
    s_opts = TrainOptions(stage="student", steps=4, **FAST)
    rep = distill(stage="both", out=tmp_path, model_config=TINY, teacher_options=t_opts,
                  student_options=s_opts, neuron=NeuronConfig(kind="ilif", D=2), sgc=False,
                  data=load_split())
    teacher = load_checkpoint(tmp_path / "teacher")
    student = load_checkpoint(tmp_path / "student")
    assert not teacher.config.spiking and student.config.spiking
    assert student.config.neuron.kind == "ilif" and student.config.neuron.D == 2
    assert not student.config.sgc
    assert (tmp_path / "student" / "model.safetensors").is_file()
    s = read_summary(tmp_path / "student")
    assert s["teacher_val_bpb"] == rep.summaries["teacher"]["val"]["bpb"]
    assert s["bpb_ratio"] == pytest.approx(s["val"]["bpb"] / s["teacher_val_bpb"])
    assert set(s["val"]["layer_firing_rates"]) == {"0", "1"}
    # the saved student reproduces the bpb it reports
    from snncompile.training.evaluate import evaluate
    ev = evaluate(student, load_split().val, 32, 4, 2048)
    assert ev.bpb == pytest.approx(s["val"]["bpb"], rel=1e-9)
    assert (tmp_path / "checkpoints" / "student" / "latest" / "state.pt").is_file()


def test_state_digest_changes_with_weights(teacher):
    d1 = state.state_digest(teacher)
    other = SpikingMambaLM(TINY)
    assert d1 == state.state_digest(teacher) and d1 != state.state_digest(other)


def test_evaluate_refuses_a_vocabulary_smaller_than_the_data():
    import numpy as np

    from snncompile.training.evaluate import evaluate
    model = SpikingMambaLM(TINY.replace(vocab_size=250))  # padded to 256: ids pass, targets not
    data = np.arange(600, dtype=np.int64).astype(np.uint8)
    with pytest.raises(ConfigError, match="vocabulary has 250"):
        evaluate(model, data, seq_len=32, batch=4)
