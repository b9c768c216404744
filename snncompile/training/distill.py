"""`distill`: train a dense Mamba2 teacher, distill a SpikingMamba student from it, or both,
and publish each as a mamba_ssm-format checkpoint folder.

Output layout (`out`):
  out/teacher/   config.json + model.safetensors (or pytorch_model.bin) + train_summary.json
  out/student/   the same (mamba_ssm's config.json and weights: `MambaLMHeadModel.from_pretrained`
                 loads the dense model underneath) plus the spiking sidecar, spiking.json +
                 spiking.safetensors (neuron configuration and thresholds;
                 snncompile.models.sidecar)
Resumable state lives in `ckpt_dir/<stage>/latest` (default `out/checkpoints/<stage>`); a
rerun of the same command resumes from it (`snncompile.training.state`).

`train_summary.json` (written after the checkpoint folder, atomically) records the options,
model config, validation figures (`evaluate.EvalResult.to_dict`), training wall time, tokens
per second, a thinned loss curve and, for a student, the teacher's bpb and the ratio.

Under torchrun every rank trains (data-parallel, `snncompile.training.runtime`); only rank 0
evaluates and writes the output folders and summaries (the others return an empty report).
"""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from snncompile.atomic import write_text_atomic
from snncompile.data.corpus import CORPUS_SHA256, CorpusSplit, load_split
from snncompile.errors import ConfigError
from snncompile.models.checkpoint import load_checkpoint, save_checkpoint
from snncompile.models.config import NeuronConfig, SpikingMambaConfig
from snncompile.models.lm import SpikingMambaLM
from snncompile.training.evaluate import EvalResult, evaluate
from snncompile.training.options import TrainOptions
from snncompile.training.trainer import StageResult, train_stage

SUMMARY_FILE = "train_summary.json"
RUN_STAGES = ("teacher", "student", "both")
_CURVE_POINTS = 200


@dataclass
class DistillReport:
    """What `distill` did: one summary dict per stage run, and where the models went."""

    summaries: dict[str, dict[str, Any]] = field(default_factory=dict)
    folders: dict[str, Path] = field(default_factory=dict)


def student_config(teacher: SpikingMambaConfig, neuron: NeuronConfig, sgc: bool = True,
                   sgc_mode: str = "gradient", sgc_weight: float = 0.1) -> SpikingMambaConfig:
    """The teacher's architecture with spike neurons on in_proj and out_proj."""
    return teacher.replace(spiking=True, neuron=neuron, sgc=sgc, sgc_mode=sgc_mode,
                           sgc_weight=sgc_weight)


def summarize(result: StageResult, config: SpikingMambaConfig,
              teacher_eval: EvalResult | None = None) -> dict[str, Any]:
    """The JSON-ready record of a finished stage."""
    stride = max(1, len(result.losses) // _CURVE_POINTS)
    summary: dict[str, Any] = {
        "stage": result.options.stage,
        "options": result.options.to_dict(),
        "model_config": config.to_mamba_ssm_dict(),
        "parameters": sum(p.numel() for p in result.model.parameters()),
        "steps": len(result.losses),
        "final_loss": result.final_loss,
        "loss_curve": [[i, result.losses[i]] for i in range(0, len(result.losses), stride)],
        "resumed_from": result.resumed_from,
        "train_wall_s": round(result.train_wall_s, 3),
        "tokens_per_s": round(result.tokens_per_s, 1),
        "device": result.device,
        "world_size": result.world_size,
        "kernels": result.kernels,
        "torch_threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
        "machine": platform.machine(),
        "corpus_sha256": CORPUS_SHA256,
    }
    if result.eval is not None:
        summary["val"] = result.eval.to_dict()
    if result.thetas:
        summary["initial_thetas"] = result.thetas
    if teacher_eval is not None and result.eval is not None:
        summary["teacher_val_bpb"] = teacher_eval.bpb
        summary["bpb_ratio"] = result.eval.bpb / teacher_eval.bpb
    return summary


def _publish(model: SpikingMambaLM, folder: Path, summary: dict[str, Any], fmt: str) -> None:
    save_checkpoint(model, folder, format=fmt)
    write_text_atomic(folder / SUMMARY_FILE, json.dumps(summary, indent=2) + "\n")


def distill(*, stage: str, out: str | Path, model_config: SpikingMambaConfig | None = None,
            teacher_options: TrainOptions | None = None,
            student_options: TrainOptions | None = None,
            neuron: NeuronConfig | None = None, sgc: bool = True, sgc_mode: str = "gradient",
            sgc_weight: float = 0.1, teacher_dir: str | Path | None = None,
            ckpt_dir: str | Path | None = None, resume: bool = True, progress: bool = False,
            data: CorpusSplit | None = None, fmt: str = "safetensors",
            device: str = "cpu") -> DistillReport:
    """Run the requested stage(s) (module docstring). `model_config` is the (dense) teacher
    architecture, needed when a teacher is trained; a student-only run reads it from
    `teacher_dir`. `device`: cpu | cuda | auto."""
    if stage not in RUN_STAGES:
        raise ConfigError(f"distill: stage must be one of {RUN_STAGES}, got {stage!r}")
    out = Path(out)
    ckpt_root = Path(ckpt_dir) if ckpt_dir is not None else out / "checkpoints"
    data = data if data is not None else load_split()
    report = DistillReport()
    teacher: SpikingMambaLM | None = None
    teacher_eval: EvalResult | None = None

    if stage in ("teacher", "both"):
        if model_config is None:
            raise ConfigError("distill: the teacher stage needs a model config")
        opts = (teacher_options or TrainOptions()).replace(stage="teacher")
        res = train_stage(opts, model_config, data=data, ckpt_dir=ckpt_root / "teacher",
                          resume=resume, progress=progress, device=device)
        folder = out / "teacher"
        if _is_main():
            summary = summarize(res, model_config)
            _publish(res.model, folder, summary, fmt)
            report.summaries["teacher"], report.folders["teacher"] = summary, folder
        teacher, teacher_eval = res.model, res.eval
        teacher_dir = folder

    if stage in ("student", "both"):
        if teacher is None:
            if teacher_dir is None:
                raise ConfigError("distill --stage student needs --teacher DIR")
            teacher = load_checkpoint(teacher_dir)
            if teacher.config.spiking:
                raise ConfigError(f"--teacher {teacher_dir}: a spiking checkpoint, expected a "
                                  "dense Mamba2 teacher")
        opts = (student_options or TrainOptions()).replace(stage="student")
        if teacher_eval is None and _is_main():
            teacher_eval = evaluate(teacher, data.val, opts.eval_seq_len, opts.batch,
                                    opts.eval_bytes)
        scfg = student_config(teacher.config, neuron or NeuronConfig(), sgc, sgc_mode,
                              sgc_weight)
        res = train_stage(opts, scfg, teacher=teacher, data=data,
                          ckpt_dir=ckpt_root / "student", resume=resume, progress=progress,
                          device=device)
        folder = out / "student"
        if _is_main():
            summary = summarize(res, scfg, teacher_eval)
            summary["teacher_dir"] = str(teacher_dir)
            _publish(res.model, folder, summary, fmt)
            report.summaries["student"], report.folders["student"] = summary, folder
    return report


def _is_main() -> bool:
    """Rank 0 of a torchrun run, or a single process."""
    import torch.distributed as dist
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def read_summary(folder: str | Path) -> dict[str, Any]:
    """`train_summary.json` of a checkpoint folder ({} when absent)."""
    path = Path(folder) / SUMMARY_FILE
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc})") from None

