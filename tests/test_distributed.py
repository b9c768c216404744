"""Data-parallel training (snncompile.training.runtime): 2 ranks on CPU (gloo), started by
torchrun (`python -m torch.distributed.run`) running tests/ddp_worker.py.

- every rank holds the same parameters after N steps (bit for bit);
- the loss curve equals a single-process run with the same global batch: within float
  tolerance for the dense teacher stage against a plain full-batch run; for the student stage
  (whose spikes are rounded, so a last-bit difference can flip one) against the single-process
  run that splits the global batch the same way (grad_accum 2), and at step 0 against the plain
  full-batch run;
- a rank SIGKILLed in the middle of training, then the same command again, ends with the same
  weights and loss curve as the uninterrupted run (bit for bit).
The student stage also checks that the loss unwraps DDP (hooks on the model inside).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ddp_worker import options
from snncompile.data.corpus import load_split
from snncompile.models.checkpoint import load_checkpoint, save_checkpoint
from snncompile.models.config import NeuronConfig, SpikingMambaConfig
from snncompile.models.lm import SpikingMambaLM
from snncompile.training.distill import student_config
from snncompile.training.trainer import train_stage

TESTS = Path(__file__).resolve().parent
TINY = SpikingMambaConfig(d_model=32, n_layer=2, vocab_size=256, d_state=8, headdim=16,
                          chunk_size=16)
STEPS, CKPT_EVERY, KILL_AT, TEACHER_STEPS = 6, 2, 2, 4


def torchrun(*args: str, timeout: int = 180) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(TESTS.parent), str(TESTS),
                                           os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           "--nproc-per-node", "2", "--monitor-interval", "0.1",
                           str(TESTS / "ddp_worker.py"), *args],
                          env=env, capture_output=True, text=True, timeout=timeout)


def _state(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)


def _equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory):
    torch.manual_seed(0)
    return save_checkpoint(SpikingMambaLM(TINY), tmp_path_factory.mktemp("t") / "teacher")


@pytest.fixture(scope="module")
def uninterrupted(teacher_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp") / "run"
    res = torchrun("--teacher", str(teacher_dir), "--out", str(out), "--steps", str(STEPS),
                   "--ckpt-every", str(CKPT_EVERY), "--teacher-steps", str(TEACHER_STEPS))
    assert res.returncode == 0, res.stderr[-3000:]
    return out


def test_parameters_identical_across_ranks(uninterrupted):
    for prefix in ("", "teacher_"):
        a = _state(uninterrupted / f"{prefix}rank0.pt")
        b = _state(uninterrupted / f"{prefix}rank1.pt")
        assert _equal(a, b), prefix
    info = json.loads((uninterrupted / "losses.json").read_text())
    assert info["world_size"] == 2 and len(info["losses"]) == STEPS
    # only rank 0 wrote checkpoints: one folder, the final step
    meta = json.loads((uninterrupted / "ckpt" / "latest" / "meta.json").read_text())
    assert meta["step"] == STEPS


def test_loss_curve_equals_single_process_with_the_same_global_batch(uninterrupted,
                                                                     teacher_dir):
    torch.set_num_threads(1)
    data = load_split()
    # dense teacher stage: the plain single-process run (batch 4 in one piece)
    single = train_stage(options(TEACHER_STEPS, TEACHER_STEPS, stage="teacher"), TINY,
                         data=data, evaluate_at_end=False)
    ddp = json.loads((uninterrupted / "teacher_losses.json").read_text())["losses"]
    torch.testing.assert_close(torch.tensor(ddp), torch.tensor(single.losses),
                               rtol=1e-5, atol=0)
    ddp_w = _state(uninterrupted / "teacher_rank0.pt")
    for k, v in single.model.state_dict().items():
        torch.testing.assert_close(ddp_w[k], v, rtol=1e-4, atol=1e-5)
    # student stage (DDP forwards through the wrapper, hooks on the model inside)
    teacher = load_checkpoint(teacher_dir)
    scfg = student_config(TINY, NeuronConfig(kind="silif", D=4))
    split = train_stage(options(STEPS, CKPT_EVERY, grad_accum=2), scfg, teacher=teacher,
                        data=data, evaluate_at_end=False)
    ddp = json.loads((uninterrupted / "losses.json").read_text())["losses"]
    torch.testing.assert_close(torch.tensor(ddp), torch.tensor(split.losses), rtol=1e-6, atol=0)
    ddp_w = _state(uninterrupted / "rank0.pt")
    for k, v in split.model.state_dict().items():
        torch.testing.assert_close(ddp_w[k], v, rtol=1e-5, atol=1e-7)
    whole = train_stage(options(1, 1), scfg, teacher=teacher, data=data,
                        evaluate_at_end=False)
    assert ddp[0] == pytest.approx(whole.losses[0], rel=1e-6)


def test_sigkill_then_resume_equals_uninterrupted(uninterrupted, teacher_dir, tmp_path):
    out = tmp_path / "run"
    args = ("--teacher", str(teacher_dir), "--out", str(out), "--steps", str(STEPS),
            "--ckpt-every", str(CKPT_EVERY))
    killed = torchrun(*args, "--kill-at", str(KILL_AT))
    assert killed.returncode != 0
    assert "SIGKILL" in killed.stderr or "Signal 9" in killed.stderr, killed.stderr[-3000:]
    assert not (out / "rank0.pt").exists()
    meta = json.loads((out / "ckpt" / "latest" / "meta.json").read_text())
    assert meta["step"] == KILL_AT + 1 - (KILL_AT + 1) % CKPT_EVERY   # the last one written
    resumed = torchrun(*args)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    info = json.loads((out / "losses.json").read_text())
    assert info["resumed_from"] == meta["step"]
    want = json.loads((uninterrupted / "losses.json").read_text())["losses"]
    assert info["losses"] == want
    for r in (0, 1):
        assert _equal(_state(out / f"rank{r}.pt"), _state(uninterrupted / "rank0.pt"))


def test_distill_cli_under_torchrun(teacher_dir, tmp_path):
    """`torchrun -m snncompile.cli distill`: rank 0 alone writes the student folder and prints the
    report; the student's summary says 2 ranks."""
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(TESTS.parent), os.environ.get("PYTHONPATH", "")]))
    out = tmp_path / "out"
    res = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         "--monitor-interval", "0.1", "-m", "snncompile.cli", "distill", "--stage", "student",
         "--teacher", str(teacher_dir), "-o", str(out), "--steps", "2", "--batch", "4",
         "--seq-len", "32", "--warmup", "1", "--eval-bytes", "2048", "--threads", "1",
         "--no-progress", "--json"],
        env=env, capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stderr[-3000:]
    report = json.loads(res.stdout)          # one document: rank 1 prints nothing
    assert report["student"]["world_size"] == 2 and report["student"]["steps"] == 2
    assert sorted(p.name for p in (out / "student").iterdir()) == [
        "config.json", "pytorch_model.bin", "spiking.json", "spiking.safetensors",
        "train_summary.json"]
    assert load_checkpoint(out / "student").config.spiking
