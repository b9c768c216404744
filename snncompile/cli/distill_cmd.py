"""`snncompile distill`: train a dense Mamba2 teacher and/or distill a SpikingMamba student.

    snncompile distill --stage teacher -o OUT [--d-model 128 --n-layer 3 ...]
    snncompile distill --stage student --teacher OUT/teacher -o OUT [--neuron silif --D 4]
    snncompile distill --stage both -o OUT

Writes OUT/teacher and/or OUT/student (mamba_ssm checkpoint folders + train_summary.json).
Checkpoints every --ckpt-every steps to --ckpt-dir (default OUT/checkpoints); rerunning an
interrupted command resumes from the last one (snncompile.training.distill).

    snncompile distill ... --device cuda --precision bf16 --grad-accum 4
    torchrun --nproc_per_node 2 -m snncompile.cli distill ...   # data-parallel (DDP)

--batch is the global batch of one optimiser step whatever the number of ranks R and
--grad-accum A (each rank runs A micro-batches of batch/(R*A) sequences; batch must be a
multiple of R*A; snncompile.training.runtime). Under torchrun only rank 0 writes checkpoints,
the output folders and the printed report.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from snncompile.cli.params import FiniteFloatRange, tokenizer_option
import torch
from rich.console import Console
from rich.table import Table

from snncompile.atomic import check_outputs
from snncompile.cli.jsonout import emit_json, json_option
from snncompile.data.token_corpus import training_data, write_tokenizer
from snncompile.errors import ConfigError
from snncompile.models.config import NEURON_KINDS, SGC_MODES, NeuronConfig, SpikingMambaConfig
from snncompile.training.distill import distill as run_distill
from snncompile.training.options import CALIBRATIONS, HIDDEN_TARGETS, TrainOptions


@click.command("distill")
@click.option("--stage", type=click.Choice(["teacher", "student", "both"]), default="both",
              show_default=True, help="What to train.")
@click.option("-o", "--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Output folder: OUT/teacher, OUT/student.")
@click.option("--teacher", "teacher_dir", type=click.Path(path_type=Path), default=None,
              help="Teacher checkpoint folder (for --stage student).")
@click.option("--d-model", type=click.IntRange(1, 1 << 16), default=128, show_default=True)
@click.option("--n-layer", type=click.IntRange(1, 1024), default=3, show_default=True)
@click.option("--d-state", type=click.IntRange(1, 1 << 14), default=32, show_default=True)
@click.option("--headdim", type=click.IntRange(1, 1 << 14), default=32, show_default=True)
@click.option("--expand", type=click.IntRange(1, 64), default=2, show_default=True)
@click.option("--chunk-size", type=click.IntRange(1, 1 << 16), default=32, show_default=True)
@click.option("--neuron", type=click.Choice(NEURON_KINDS), default="silif", show_default=True)
@click.option("--D", "D", type=click.IntRange(1, 1 << 16), default=4, show_default=True,
              help="Spike levels / micro-steps per token (LIF forces 1).")
@click.option("--sgc/--no-sgc", default=True, show_default=True,
              help="Smoothed Gradient Compensation during student training.")
@click.option("--sgc-mode", type=click.Choice(SGC_MODES), default="gradient", show_default=True)
@click.option("--sgc-weight", type=FiniteFloatRange(), default=0.1, show_default=True)
@click.option("--steps", type=click.IntRange(1, 10**9), default=1000, show_default=True,
              help="Teacher steps.")
@click.option("--student-steps", type=click.IntRange(1, 10**9), default=None,
              help="Student steps [default: --steps].")
@click.option("--batch", type=click.IntRange(1, 1 << 16), default=16, show_default=True)
@click.option("--seq-len", type=click.IntRange(1, 1 << 20), default=256, show_default=True)
@click.option("--lr", type=FiniteFloatRange(), default=3e-3, show_default=True,
              help="Teacher peak lr.")
@click.option("--student-lr", type=FiniteFloatRange(), default=1e-3, show_default=True)
@click.option("--warmup", type=click.IntRange(0, 10**9), default=50, show_default=True)
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True)
@click.option("--ckpt-every", type=click.IntRange(1, 10**9), default=100, show_default=True,
              help="Write a resumable checkpoint every N steps.")
@click.option("--ckpt-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Resumable checkpoints [default: OUT/checkpoints].")
@click.option("--resume/--no-resume", default=True, show_default=True,
              help="Continue from the last checkpoint in --ckpt-dir if there is one.")
@click.option("--kl-weight", type=FiniteFloatRange(), default=1.0, show_default=True)
@click.option("--hidden-weight", type=FiniteFloatRange(), default=TrainOptions.hidden_weight,
              show_default=True, help="Weight of L_Hidden.")
@click.option("--hidden-target", type=click.Choice(HIDDEN_TARGETS), default="mixer",
              show_default=True)
@click.option("--ce-weight", type=FiniteFloatRange(), default=0.0, show_default=True)
@click.option("--temperature", type=FiniteFloatRange(), default=1.0, show_default=True,
              help="KL temperature.")
@click.option("--calibration", type=click.Choice(CALIBRATIONS), default="mse",
              show_default=True, help="Initial thresholds from the teacher's activations.")
@click.option("--eval-bytes", type=click.IntRange(1, 1 << 40), default=None,
              help="Validate on the first N bytes of the validation split [default: all].")
@click.option("--corpus", type=click.Path(path_type=Path), default=None,
              help="A .txt or .gz text file instead of the bundled corpus, or a corpus folder "
                   "from `snncompile data tokenize`.")
@tokenizer_option("Tokenizer: a tokenizer.json, a folder holding one, or 'bytes' [default: the "
                  "corpus folder's, else the teacher's, else bytes]. The models' vocabulary "
                  "is its size; it is written into OUT/teacher and OUT/student.")
@click.option("--format", "fmt", type=click.Choice(["safetensors", "bin"]),
              default="bin", show_default=True,
              help="Weights file: bin (pytorch_model.bin, what mamba_ssm's from_pretrained "
                   "reads) or safetensors.")
@click.option("--threads", type=click.IntRange(1, 4096), default=None,
              help="torch.set_num_threads.")
@click.option("--device", type=click.Choice(["cpu", "cuda", "auto"]), default="cpu",
              show_default=True, help="Where to train (auto: cuda when available).")
@click.option("--precision", type=click.Choice(["fp32", "bf16"]), default="fp32",
              show_default=True, help="bf16: forward passes under torch.autocast (CPU too).")
@click.option("--grad-accum", type=click.IntRange(1, 1 << 16), default=1, show_default=True,
              help="Micro-batches per optimiser step; --batch stays the global batch.")
@click.option("--progress/--no-progress", default=True, show_default=True)
@json_option("Write the summaries as JSON (snncompile-distill/1)")
def distill(stage, out, teacher_dir, d_model, n_layer, d_state, headdim, expand, chunk_size,
            neuron, D, sgc, sgc_mode, sgc_weight, steps, student_steps, batch, seq_len, lr,
            student_lr, warmup, seed, ckpt_every, ckpt_dir, resume, kl_weight, hidden_weight,
            hidden_target, ce_weight, temperature, calibration, eval_bytes, corpus, fmt,
            threads, progress, json_out, device, precision, grad_accum, tokenizer=None):
    """Train a Mamba2 teacher and distill a SpikingMamba student from it."""
    if threads is not None:
        if threads < 1:
            raise ConfigError(f"--threads must be >= 1, got {threads}")
        torch.set_num_threads(threads)
    if stage == "student" and teacher_dir is None:
        raise ConfigError("--stage student needs --teacher DIR (a dense teacher checkpoint)")
    if stage != "student" and teacher_dir is not None:
        raise ConfigError("--teacher is only used with --stage student")
    written = ["teacher", "student"] if stage == "both" else [stage]
    ckpt_root = ckpt_dir if ckpt_dir is not None else out / "checkpoints"
    check_outputs([out / s for s in written] + [ckpt_root / s for s in written],
                  [teacher_dir, corpus])
    data, tok = training_data(corpus, tokenizer, teacher_dir)
    model_cfg = SpikingMambaConfig(d_model=d_model, n_layer=n_layer, vocab_size=tok.vocab_size,
                                   d_state=d_state, headdim=headdim, expand=expand,
                                   chunk_size=chunk_size)
    common = dict(batch=batch, seq_len=seq_len, warmup=warmup, seed=seed,
                  ckpt_every=ckpt_every, eval_seq_len=seq_len, eval_bytes=eval_bytes,
                  grad_accum=grad_accum, precision=precision)
    t_opts = TrainOptions(stage="teacher", steps=steps, lr=lr, **common)
    s_opts = TrainOptions(stage="student", steps=student_steps or steps, lr=student_lr,
                          kl_weight=kl_weight, hidden_weight=hidden_weight,
                          hidden_target=hidden_target, ce_weight=ce_weight,
                          temperature=temperature, calibration=calibration, **common)
    neuron_cfg = NeuronConfig(kind=neuron, D=D)
    try:
        report = run_distill(stage=stage, out=out, model_config=model_cfg,
                             teacher_options=t_opts, student_options=s_opts, neuron=neuron_cfg,
                             sgc=sgc, sgc_mode=sgc_mode, sgc_weight=sgc_weight,
                             teacher_dir=teacher_dir, ckpt_dir=ckpt_dir, resume=resume,
                             progress=progress and json_out is None, data=data, fmt=fmt,
                             device=device)
    except KeyboardInterrupt:
        where = ckpt_dir if ckpt_dir is not None else out / "checkpoints"
        click.echo(f"interrupted; checkpoints are in {where}: rerun the same command to resume",
                   err=True)
        sys.exit(130)
    if not report.summaries:   # a rank other than 0 of a torchrun run: rank 0 reports
        return
    for folder in report.folders.values():  # later commands find the tokenizer there
        write_tokenizer(folder, tok)
    if json_out is not None:
        slim = {k: {kk: vv for kk, vv in v.items() if kk != "loss_curve"}
                for k, v in report.summaries.items()}
        for k, folder in report.folders.items():
            slim[k]["folder"] = str(folder)
            slim[k]["tokenizer"] = tok.describe()
        emit_json({"format": "snncompile-distill/1", **slim}, json_out)
        return
    _print_table(report)


def _print_table(report) -> None:
    console = Console()
    table = Table(title="distill")
    for col in ("stage", "steps", "loss", "val bpb", "vs teacher", "mean fr", "train s",
                "tok/s"):
        table.add_column(col)
    for stage, s in report.summaries.items():
        val = s.get("val", {})
        fr = val.get("mean_firing_rate")
        ratio = s.get("bpb_ratio")
        table.add_row(stage, str(s["steps"]), f"{s['final_loss']:.4f}",
                      f"{val.get('bpb', float('nan')):.4f}",
                      "" if ratio is None else f"{ratio:.3f}x",
                      "" if fr is None else f"{fr:.3f}", f"{s['train_wall_s']:.0f}",
                      f"{s['tokens_per_s']:.0f}")
    console.print(table)
    for stage, s in report.summaries.items():
        console.print(f"{stage}: {report.folders[stage]}", highlight=False)
        layers = s.get("val", {}).get("layer_firing_rates") or {}
        if layers:
            rates = ", ".join(f"layer {k}: {v:.3f}" for k, v in layers.items())
            console.print(f"{stage} firing rates per layer: {rates}", highlight=False)
