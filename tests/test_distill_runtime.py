"""Where distillation runs: --precision bf16 (autocast, on CPU too), --grad-accum (the same
global batch), --device cpu|cuda|auto, in the trainer and through `snncompile distill`; a
distilled student folder loads in mamba_ssm's `from_pretrained`. (Data-parallel runs:
tests/test_distributed.py.)"""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from mamba_ssm_stub import cpu_reference_patches, import_mamba_ssm
from snncompile.cli import main
from snncompile.data.corpus import load_split
from snncompile.errors import ConfigError
from snncompile.models.checkpoint import load_checkpoint
from snncompile.models.config import SpikingMambaConfig
from snncompile.training import runtime
from snncompile.training.options import TrainOptions
from snncompile.training.trainer import train_stage

TINY = SpikingMambaConfig(d_model=32, n_layer=2, vocab_size=256, d_state=8, headdim=16,
                          chunk_size=16)
FAST = dict(batch=4, seq_len=32, warmup=2, eval_seq_len=32, eval_bytes=2048)
TINY_ARGS = ["--d-model", "32", "--n-layer", "1", "--d-state", "8", "--headdim", "16",
             "--chunk-size", "16", "--batch", "4", "--seq-len", "32", "--warmup", "2",
             "--eval-bytes", "2048", "--threads", "1", "--no-progress"]

pytestmark = pytest.mark.usefixtures("restore_torch_threads")


@pytest.fixture(scope="module")
def data():
    torch.set_num_threads(1)
    return load_split()


def test_options_validate_precision_and_accumulation():
    with pytest.raises(ConfigError, match="precision"):
        TrainOptions(precision="fp16")
    with pytest.raises(ConfigError, match="not a multiple of grad_accum=3"):
        TrainOptions(batch=4, grad_accum=3)
    with pytest.raises(ConfigError, match="grad_accum"):
        TrainOptions(grad_accum=0)
    with pytest.raises(ConfigError, match="device"):
        runtime.resolve_device("tpu")
    assert runtime.resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_grad_accum_keeps_the_global_batch(data):
    """Dense stage: 2 micro-batches of 2 give the step of one batch of 4 (up to rounding)."""
    one = train_stage(TrainOptions(stage="teacher", steps=4, **FAST), TINY, data=data,
                      evaluate_at_end=False)
    two = train_stage(TrainOptions(stage="teacher", steps=4, grad_accum=2, **FAST), TINY,
                      data=data, evaluate_at_end=False)
    four = train_stage(TrainOptions(stage="teacher", steps=4, grad_accum=4, **FAST), TINY,
                       data=data, evaluate_at_end=False)
    for other in (two, four):
        torch.testing.assert_close(torch.tensor(other.losses), torch.tensor(one.losses),
                                   rtol=1e-5, atol=0)
        sa, sb = one.model.state_dict(), other.model.state_dict()
        for k in sa:
            torch.testing.assert_close(sb[k], sa[k], rtol=1e-4, atol=1e-5)


def test_bf16_runs_the_forward_under_autocast(data, monkeypatch):
    fp32 = train_stage(TrainOptions(stage="teacher", steps=3, **FAST), TINY, data=data,
                       evaluate_at_end=False)
    from snncompile.models import lm
    seen: list[torch.dtype] = []
    orig = lm.SpikingMambaLM.forward

    def forward(self, ids, *a, **k):
        out = orig(self, ids, *a, **k)
        seen.append(out.dtype)
        return out
    monkeypatch.setattr(lm.SpikingMambaLM, "forward", forward)
    bf16 = train_stage(TrainOptions(stage="teacher", steps=3, precision="bf16", **FAST), TINY,
                       data=data, evaluate_at_end=False)
    assert seen and set(seen) == {torch.bfloat16}          # logits of the autocast forward
    assert all(p.dtype == torch.float32 for p in bf16.model.parameters())   # master weights
    assert bf16.losses != fp32.losses                       # the precision is really lower
    torch.testing.assert_close(torch.tensor(bf16.losses), torch.tensor(fp32.losses),
                               rtol=2e-2, atol=0)


def test_resume_may_change_accumulation_and_precision(tmp_path, data):
    opts = TrainOptions(stage="teacher", steps=4, ckpt_every=2, **FAST)

    def stop(step, loss):
        if step == 1:
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        train_stage(opts, TINY, data=data, ckpt_dir=tmp_path, on_step=stop,
                    evaluate_at_end=False)
    res = train_stage(opts.replace(grad_accum=2, precision="bf16"), TINY, data=data,
                      ckpt_dir=tmp_path, evaluate_at_end=False)
    assert res.resumed_from == 2 and len(res.losses) == 4


def test_distill_cli_bf16_accumulation_and_a_student_mamba_ssm_reads(tmp_path, monkeypatch):
    out = tmp_path / "run"
    res = CliRunner().invoke(main, ["distill", "--stage", "both", "-o", str(out), "--steps",
                                    "3", "--student-steps", "2", "--precision", "bf16",
                                    "--grad-accum", "2", "--device", "auto", "--json",
                                    *TINY_ARGS])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    for stage in ("teacher", "student"):
        s = summary[stage]
        assert s["options"]["precision"] == "bf16" and s["options"]["grad_accum"] == 2
        assert s["world_size"] == 1
        assert s["device"] == ("cuda:0" if torch.cuda.is_available() else "cpu")
    # the default --format bin: mamba_ssm's from_pretrained loads the student's dense model
    folder = out / "student"
    assert sorted(p.name for p in folder.iterdir()) == [
        "config.json", "pytorch_model.bin", "spiking.json", "spiking.safetensors",
        "train_summary.json"]
    import_mamba_ssm()
    cpu_reference_patches(monkeypatch)
    from mamba_ssm.models.mixer_seq_simple import MambaLMHeadModel
    up = MambaLMHeadModel.from_pretrained(str(folder), device="cpu", dtype=torch.float32)
    ours = load_checkpoint(folder).state_dict()
    assert all(torch.equal(v, ours[k]) for k, v in up.state_dict().items())
    assert load_checkpoint(folder).config.spiking


def test_distill_cli_errors_are_one_line(tmp_path):
    res = CliRunner().invoke(main, ["distill", "--stage", "teacher", "-o", str(tmp_path / "a"),
                                    "--steps", "1", "--grad-accum", "3", *TINY_ARGS])
    assert res.exit_code == 2 and "grad_accum=3" in res.output
    if not torch.cuda.is_available():
        res = CliRunner().invoke(main, ["distill", "--stage", "teacher", "-o",
                                        str(tmp_path / "b"), "--steps", "1", "--device",
                                        "cuda", *TINY_ARGS])
        assert res.exit_code == 2 and "torch sees no CUDA device" in res.output
        assert len(res.output.strip().splitlines()) == 1
