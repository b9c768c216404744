"""One rank of the data-parallel tests (tests/test_distributed.py), started by torchrun.

    python -m torch.distributed.run --standalone --nproc-per-node 2 tests/ddp_worker.py \
        --teacher DIR --out DIR --steps N --ckpt-every K [--kill-at STEP] [--teacher-steps M]

With --teacher-steps M, first trains a dense teacher for M steps from scratch (the teacher
stage; its final state dict to OUT/teacher_rank{r}.pt, on rank 0 its loss curve to
OUT/teacher_losses.json). Then distils a student from the teacher checkpoint DIR with
`train_stage` (checkpoints in OUT/ckpt), writes this rank's final state dict to OUT/rank{r}.pt
and, on rank 0, the loss curve to OUT/losses.json. With --kill-at S, rank 0 sends itself SIGKILL right after step S (after that
step's checkpoint, if one was due): a crash in the middle of training.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
from pathlib import Path

import torch

from snncompile.data.corpus import load_split
from snncompile.models.checkpoint import load_checkpoint
from snncompile.models.config import NeuronConfig
from snncompile.training.distill import student_config
from snncompile.training.options import TrainOptions
from snncompile.training.trainer import train_stage


def options(steps: int, ckpt_every: int, grad_accum: int = 1, precision: str = "fp32",
            stage: str = "student") -> TrainOptions:
    """The options every test run shares (also used in-process by the single-process runs)."""
    return TrainOptions(stage=stage, steps=steps, batch=4, seq_len=32, warmup=2, lr=3e-3,
                        ckpt_every=ckpt_every, calib_batches=1, eval_seq_len=32,
                        grad_accum=grad_accum, precision=precision)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--teacher", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, required=True)
    ap.add_argument("--ckpt-every", type=int, required=True)
    ap.add_argument("--kill-at", type=int, default=None)
    ap.add_argument("--teacher-steps", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rank = int(os.environ["RANK"])
    teacher = load_checkpoint(args.teacher)
    if args.teacher_steps:
        res = train_stage(options(args.teacher_steps, args.teacher_steps, stage="teacher"),
                          teacher.config, data=load_split(), evaluate_at_end=False)
        torch.save(res.model.state_dict(), out / f"teacher_rank{rank}.pt")
        if rank == 0:
            (out / "teacher_losses.json").write_text(json.dumps({"losses": res.losses}))
    scfg = student_config(teacher.config, NeuronConfig(kind="silif", D=4))

    def on_step(step: int, loss: float) -> None:
        if args.kill_at is not None and step == args.kill_at and rank == 0:
            os.kill(os.getpid(), signal.SIGKILL)

    res = train_stage(options(args.steps, args.ckpt_every), scfg,
                      teacher=teacher, data=load_split(), ckpt_dir=out / "ckpt",
                      evaluate_at_end=False, on_step=on_step)
    torch.save(res.model.state_dict(), out / f"rank{rank}.pt")
    if rank == 0:
        (out / "losses.json").write_text(json.dumps({"losses": res.losses,
                                                     "resumed_from": res.resumed_from,
                                                     "world_size": res.world_size}))


if __name__ == "__main__":
    main()
