"""Neuron comparison: LIF, I-LIF and SI-LIF students, each with SGC on and off (6 runs).

Every student is distilled from the bundled teacher (examples/models/teacher) with the same
recipe as the bundled student (calibrated thresholds, KL + L_Hidden, frozen embedding, same
batch, lr and seed) but a shorter budget: 150 steps of 16 x 256 bytes (BUDGET) instead of 250.
LIF uses D = 1 (binary spikes); I-LIF and SI-LIF use D = 4.

    .venv/bin/python examples/neuron_comparison.py            # writes examples/results/neuron_comparison.{csv,png,md}
    .venv/bin/python examples/neuron_comparison.py --steps 20 --out /tmp/nc   # a quick look
    (--batch, --seq-len, --eval-bytes, --threads, --teacher change the rest of the budget)

Outputs (written atomically):
  neuron_comparison.csv  one row per run; columns in CSV_COLUMNS (append new columns, e.g.
                         energy, at the end: readers select columns by name)
  neuron_comparison.png  bpb gap to the teacher, and per-layer firing rates
  neuron_comparison.md   the table, the budget and the command
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import time
from pathlib import Path

import torch

from snncompile.atomic import atomic_path, write_text_atomic
from snncompile.data.corpus import load_split
from snncompile.models.checkpoint import load_checkpoint
from snncompile.models.config import NeuronConfig
from snncompile.training.distill import student_config
from snncompile.training.evaluate import evaluate
from snncompile.training.options import TrainOptions
from snncompile.training.trainer import train_stage

ROOT = Path(__file__).resolve().parents[1]
RUNS = [("lif", 1), ("ilif", 4), ("silif", 4)]
BUDGET = dict(steps=150, batch=16, seq_len=256, lr=1e-3, warmup=50, seed=0,
              kl_weight=1.0, hidden_weight=1.0, hidden_target="mixer", calibration="mse",
              eval_seq_len=256, eval_bytes=32768)
CSV_COLUMNS = ["neuron", "D", "sgc", "steps", "batch", "seq_len", "teacher_bpb", "student_bpb",
               "bpb_gap", "bpb_ratio", "mean_firing_rate", "in_proj_firing_rate",
               "out_proj_firing_rate", "layer_firing_rates", "train_wall_s"]


def run_one(teacher, data, kind: str, D: int, sgc: bool, options: TrainOptions,
            teacher_bpb: float) -> dict:
    cfg = student_config(teacher.config, NeuronConfig(kind=kind, D=D), sgc=sgc)
    res = train_stage(options, cfg, teacher=teacher, data=data)  # evaluates at the end
    ev = res.eval
    by_proj = {}
    for proj in ("in_proj", "out_proj"):
        rates = [r for n, r in ev.neuron_rates.items() if n.endswith(f"{proj}_neuron")]
        by_proj[proj] = sum(rates) / len(rates)
    return {
        "neuron": kind, "D": cfg.neuron.D, "sgc": int(sgc), "steps": options.steps,
        "batch": options.batch, "seq_len": options.seq_len,
        "teacher_bpb": round(teacher_bpb, 5), "student_bpb": round(ev.bpb, 5),
        "bpb_gap": round(ev.bpb - teacher_bpb, 5), "bpb_ratio": round(ev.bpb / teacher_bpb, 5),
        "mean_firing_rate": round(ev.mean_rate or 0.0, 5),
        "in_proj_firing_rate": round(by_proj["in_proj"], 5),
        "out_proj_firing_rate": round(by_proj["out_proj"], 5),
        "layer_firing_rates": " ".join(f"{ev.layer_rates[k]:.4f}" for k in sorted(ev.layer_rates)),
        "train_wall_s": round(res.train_wall_s, 1),
    }


def write_csv(rows: list[dict], path: Path) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    write_text_atomic(path, buf.getvalue())


def write_png(rows: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    kinds = [k for k, _ in RUNS]
    for j, sgc in enumerate((1, 0)):
        gaps = [next(r["bpb_gap"] for r in rows if r["neuron"] == k and r["sgc"] == sgc)
                for k in kinds]
        ax1.bar([i + 0.38 * j for i in range(len(kinds))], gaps, width=0.38,
                label=f"SGC {'on' if sgc else 'off'}")
    ax1.set_xticks([i + 0.19 for i in range(len(kinds))], ["LIF (D=1)", "I-LIF (D=4)", "SI-LIF (D=4)"])
    ax1.set_ylabel("student bpb - teacher bpb")
    ax1.set_title("Validation bpb gap to the teacher")
    ax1.legend()
    for r in rows:
        rates = [float(v) for v in r["layer_firing_rates"].split()]
        ax2.plot(range(len(rates)), rates, marker="o", linestyle="-" if r["sgc"] else "--",
                 label=f"{r['neuron']} SGC {'on' if r['sgc'] else 'off'}")
    n_layers = len(rows[0]["layer_firing_rates"].split())
    ax2.set_xticks(range(n_layers))
    ax2.set_xlabel("layer")
    ax2.set_ylabel("firing rate  sum|s| / (n * D)")
    ax2.set_title("Per-layer firing rate")
    ax2.legend(fontsize=7, ncol=2, loc="lower right")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def write_md(rows: list[dict], path: Path, options: TrainOptions, teacher_dir: Path,
             command: str, wall: float) -> None:
    lines = [
        "# Neuron comparison: LIF vs I-LIF vs SI-LIF, SGC on and off",
        "",
        f"Regenerate: `{command}` (total wall time of this run: {wall / 60:.1f} min, "
        f"{torch.get_num_threads()} torch threads, shared machine).",
        "",
        f"Teacher: `{teacher_dir.relative_to(ROOT) if teacher_dir.is_relative_to(ROOT) else teacher_dir}`. "
        f"Each student: {options.steps} steps of {options.batch} x {options.seq_len} bytes "
        f"(lr {options.lr:g}, warm-up {options.warmup}, seed {options.seed}), KL + "
        f"{options.hidden_weight:g} x L_Hidden on the mixer outputs, thresholds calibrated "
        f"(mse) on the teacher's activations, embedding frozen. The bundled student trains "
        "longer (250 steps of 16 x 256 bytes).",
        "",
        f"bpb: validation bits per byte on the first {options.eval_bytes:,} bytes of the "
        f"validation split, windows of {options.eval_seq_len}. Firing rate: sum|s| / (n * D) per "
        "micro-step slot, pooled over the layer's two neurons (in_proj and out_proj inputs).",
        "",
        "| neuron | D | SGC | student bpb | teacher bpb | gap | ratio | mean fr | in_proj fr | out_proj fr | fr per layer |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['neuron']} | {r['D']} | {'on' if r['sgc'] else 'off'} | "
                     f"{r['student_bpb']:.4f} | {r['teacher_bpb']:.4f} | {r['bpb_gap']:+.4f} | "
                     f"{r['bpb_ratio']:.3f} | {r['mean_firing_rate']:.4f} | "
                     f"{r['in_proj_firing_rate']:.4f} | {r['out_proj_firing_rate']:.4f} | "
                     f"{r['layer_firing_rates']} |")
    lines += ["", "Reading (computed from the rows above; one seed per run and seed-to-seed "
              "spread not measured, so treat differences of a few hundredths of a bit with "
              "caution):", ""]
    gap = {(r["neuron"], r["sgc"]): r["bpb_gap"] for r in rows}
    order = sorted({r["neuron"] for r in rows}, key=lambda k: gap[(k, 1)])
    lines.append("- gap to the teacher, SGC on, smallest first: " + ", ".join(
        f"{k} {gap[(k, 1)]:+.3f}" for k in order))
    lines.append("- SGC effect on the gap (on minus off; negative means SGC helped): " + ", ".join(
        f"{k} {gap[(k, 1)] - gap[(k, 0)]:+.3f}" for k, _ in RUNS))
    lines += ["", "![neuron comparison](neuron_comparison.png)", ""]
    write_text_atomic(path, "\n".join(lines))


def _sibling(name: str):
    """Import examples/<name>.py (examples/ is not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--teacher", type=Path, default=ROOT / "examples" / "models" / "teacher")
    ap.add_argument("--out", type=Path, default=ROOT / "examples" / "results")
    ap.add_argument("--steps", type=int, default=BUDGET["steps"])
    ap.add_argument("--batch", type=int, default=BUDGET["batch"])
    ap.add_argument("--seq-len", type=int, default=BUDGET["seq_len"])
    ap.add_argument("--eval-bytes", type=int, default=BUDGET["eval_bytes"])
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    options = TrainOptions(stage="student", **{
        **BUDGET, "steps": args.steps, "batch": args.batch, "seq_len": args.seq_len,
        "eval_seq_len": args.seq_len, "eval_bytes": args.eval_bytes})
    data = load_split()
    teacher = load_checkpoint(args.teacher)
    teacher_bpb = evaluate(teacher, data.val, options.eval_seq_len, options.batch,
                           options.eval_bytes).bpb
    t0 = time.perf_counter()
    rows = []
    for kind, D in RUNS:
        for sgc in (True, False):
            row = run_one(teacher, data, kind, D, sgc, options, teacher_bpb)
            print(f"{kind:6s} D={row['D']} SGC {'on ' if sgc else 'off'}  bpb {row['student_bpb']:.4f}"
                  f"  gap {row['bpb_gap']:+.4f}  fr {row['mean_firing_rate']:.4f}  "
                  f"({row['train_wall_s']:.0f} s)", flush=True)
            rows.append(row)
    wall = time.perf_counter() - t0
    args.out.mkdir(parents=True, exist_ok=True)
    command = ".venv/bin/python examples/neuron_comparison.py" + "".join(
        f" --{name.replace('_', '-')} {getattr(args, name)}"
        for name in ("steps", "batch", "seq_len", "eval_bytes")
        if getattr(args, name) != BUDGET[name])
    write_csv(rows, args.out / "neuron_comparison.csv")
    write_png(rows, args.out / "neuron_comparison.png")
    write_md(rows, args.out / "neuron_comparison.md", options, args.teacher, command, wall)
    energy = _sibling("neuron_comparison_energy")  # the energy column
    energy.add_energy(args.out, args.teacher)
    print(f"wrote {args.out}/neuron_comparison.{{csv,png,md}}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
