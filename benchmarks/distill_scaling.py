"""Distillation throughput on CPU: bf16 vs fp32, and 2-process DDP vs 1 process with the same
global batch, measured side by side in one run.

The workload is one student-stage training step of `snncompile.training.trainer.train_stage`
(teacher forward, student forward + backward, AdamW): a random-weight dense teacher of the
`--shape` (default `130m`: d_model 768, 24 layers, vocab 50277, d_state 128, headdim 64, the
shape of state-spaces/mamba2-130m; `--shape small`: d_model 256, 4 layers, byte vocabulary) and
its SILIF student (D=4, thresholds at their initial value: calibration is not timed), trained on
the bundled corpus with `--batch` sequences of `--seq-len` bytes per optimiser step.

Runs (each in its own process group, one after the other, so they do not share the cores):
  1proc-fp32   one process, torch threads = --cores
  1proc-bf16   the same under bf16 autocast
  ddp-fp32     torchrun, --ranks processes (gloo), torch threads = cores // ranks each, the same
               global batch (each rank back-propagates batch / ranks sequences)
  ddp-bf16     the same under bf16 autocast (with --all)
  1proc-fp32-1t  one process, one thread (the per-rank work of ddp-fp32 without the split;
               on a loaded machine a multi-threaded process loses most to contention)
Each run trains --warmup + --steps steps; the tokens per second are over the last --steps
(global tokens: batch * seq_len per step). Every configuration runs --repeats times,
interleaved, and the fastest is reported (all figures are in the JSON).

    .venv/bin/python benchmarks/distill_scaling.py [--shape 130m|small] [--batch 4]
        [--seq-len 128] [--steps 3] [--warmup 1] [--ranks 2] [--cores N] [--all]
        [--repeats 2] [--json]

Ratios > 1 mean faster. They cannot exceed what the free cores allow: on a shared machine the
figures are lower bounds, and a 2-core machine gives DDP no more arithmetic than one process
with 2 threads (DDP pays for the gradient all-reduce; it scales with machines or GPUs, which
this script does not have).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHAPES = {
    "130m": dict(d_model=768, n_layer=24, vocab_size=50277, d_state=128, headdim=64,
                 chunk_size=256),
    "small": dict(d_model=256, n_layer=4, vocab_size=256, d_state=32, headdim=32,
                  chunk_size=64),
}


def worker(args: argparse.Namespace) -> None:
    """One rank (or the single process) of a run: train, time the steps, rank 0 writes JSON."""
    import torch

    from snncompile.data.corpus import load_split
    from snncompile.models.config import NeuronConfig, SpikingMambaConfig
    from snncompile.models.lm import SpikingMambaLM
    from snncompile.training.distill import student_config
    from snncompile.training.options import TrainOptions
    from snncompile.training.trainer import train_stage

    torch.set_num_threads(args.threads)
    cfg = SpikingMambaConfig(**SHAPES[args.shape])
    torch.manual_seed(0)
    teacher = SpikingMambaLM(cfg)
    scfg = student_config(cfg, NeuronConfig(kind="silif", D=4, theta=0.05))
    opts = TrainOptions(stage="student", steps=args.warmup + args.steps, batch=args.batch,
                        seq_len=args.seq_len, warmup=1, lr=1e-4, calibration="none",
                        precision=args.precision, ckpt_every=10**9)
    stamps: list[float] = []
    res = train_stage(opts, scfg, teacher=teacher, data=load_split(), evaluate_at_end=False,
                      on_step=lambda step, loss: stamps.append(time.perf_counter()))
    if int(os.environ.get("RANK", "0")) == 0:
        timed = stamps[args.warmup - 1:]     # from the end of the last untimed step
        wall = timed[-1] - timed[0]
        steps = len(timed) - 1
        Path(args.result).write_text(json.dumps({
            "tokens_per_s": steps * args.batch * args.seq_len / wall,
            "s_per_step": wall / steps, "losses": res.losses,
            "world_size": res.world_size, "threads": args.threads,
            "params": sum(p.numel() for p in res.model.parameters())}))


def run(name: str, args: argparse.Namespace, precision: str, ranks: int, tmp: Path,
        threads: int | None = None) -> dict:
    result = tmp / f"{name}.json"
    threads = threads or max(1, args.cores // ranks)
    inner = [str(Path(__file__).resolve()), "--worker", "--result", str(result),
             "--precision", precision, "--threads", str(threads), "--shape", args.shape,
             "--batch", str(args.batch), "--seq-len", str(args.seq_len),
             "--steps", str(args.steps), "--warmup", str(args.warmup)]
    if ranks == 1:
        cmd = [sys.executable, *inner]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc-per-node", str(ranks), *inner]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads),
               PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                                           os.environ.get("PYTHONPATH", "")]))
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed:\n{proc.stderr[-4000:]}")
    out = json.loads(result.read_text())
    out.update(name=name, precision=precision, ranks=ranks,
               process_wall_s=round(time.perf_counter() - t0, 1))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shape", choices=sorted(SHAPES), default="130m")
    ap.add_argument("--batch", type=int, default=4, help="global batch (sequences per step)")
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--steps", type=int, default=3, help="timed steps")
    ap.add_argument("--warmup", type=int, default=1, help="untimed first steps (>= 1)")
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--all", action="store_true", help="also ddp-bf16")
    ap.add_argument("--repeats", type=int, default=2,
                    help="runs of each configuration, interleaved; the fastest is reported")
    ap.add_argument("--json", action="store_true")
    # worker mode (internal)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    ap.add_argument("--precision", default="fp32", help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return
    if args.warmup < 1 or args.steps < 1:
        raise SystemExit("--warmup and --steps must be >= 1")
    if args.batch % args.ranks:
        raise SystemExit(f"--batch {args.batch} must be a multiple of --ranks {args.ranks}")
    plan = [("1proc-fp32", "fp32", 1, None), ("1proc-bf16", "bf16", 1, None),
            ("ddp-fp32", "fp32", args.ranks, None)]
    if args.all:
        plan.append(("ddp-bf16", "bf16", args.ranks, None))
    if args.cores > 1:
        plan.append(("1proc-fp32-1t", "fp32", 1, 1))
    runs: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.repeats):          # interleaved: contention hits all runs alike
            for name, prec, ranks, threads in plan:
                r = run(name, args, prec, ranks, Path(tmp), threads)
                seen = runs.get(name, {}).get("all_tokens_per_s", []) + [r["tokens_per_s"]]
                if name not in runs or r["tokens_per_s"] > runs[name]["tokens_per_s"]:
                    runs[name] = r
                runs[name]["all_tokens_per_s"] = seen
    base = runs["1proc-fp32"]["tokens_per_s"]
    report = {
        "shape": args.shape, "config": SHAPES[args.shape], "batch": args.batch,
        "seq_len": args.seq_len, "steps": args.steps, "cores": args.cores,
        "runs": runs,
        "ratios": {
            "bf16_vs_fp32_1proc": runs["1proc-bf16"]["tokens_per_s"] / base,
            f"ddp{args.ranks}_vs_1proc_fp32": runs["ddp-fp32"]["tokens_per_s"] / base,
            **({f"ddp{args.ranks}_vs_1proc_fp32_1thread": runs["ddp-fp32"]["tokens_per_s"]
                / runs["1proc-fp32-1t"]["tokens_per_s"]} if "1proc-fp32-1t" in runs else {}),
            **({f"ddp{args.ranks}_bf16_vs_1proc_bf16": runs["ddp-bf16"]["tokens_per_s"]
                / runs["1proc-bf16"]["tokens_per_s"]} if args.all else {}),
        },
        # same global batch: the first step's loss agrees across 1 process and DDP
        "first_loss": {k: v["losses"][0] for k, v in runs.items()},
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"distillation throughput, shape {args.shape} ({runs['1proc-fp32']['params']:,} "
          f"student parameters), global batch {args.batch} x {args.seq_len} bytes, "
          f"{args.cores} cores")
    for name, r in runs.items():
        every = ", ".join(f"{v:.1f}" for v in r["all_tokens_per_s"])
        print(f"  {name:11s} {r['tokens_per_s']:9.1f} tok/s  {r['s_per_step']:7.2f} s/step  "
              f"(ranks {r['ranks']}, threads/rank {r['threads']}, first loss "
              f"{r['losses'][0]:.6f}; every repeat: {every})")
    for k, v in report["ratios"].items():
        print(f"  {k}: {v:.2f}x")


if __name__ == "__main__":
    main()
