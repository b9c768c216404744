"""Resumable training state: one folder, replaced atomically every `ckpt_every` steps.

Layout of `<ckpt_dir>/latest/` (written through `atomic_path(..., directory=True)`, so a crash
leaves the previous checkpoint intact):
  state.pt   {"model": state_dict, "optimizer": state_dict, "rng_cpu": ByteTensor,
              "step": int (optimiser steps done), "losses": float64 tensor (loss of every step)}
             read back with torch.load(weights_only=True) (no code is executed)
  meta.json  {"format", "stage", "step", "options", "model_config", "teacher_sha256"}

A run resumes only when its options (up to those in `RESUME_MAY_DIFFER`), model config and
teacher are those recorded; anything else raises `ConfigError` naming the field.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from snncompile.atomic import atomic_path
from snncompile.errors import CheckpointError, ConfigError

FORMAT = "snncompile-train/1"
LATEST = "latest"
# how a step is computed may change between runs (same global batch, same update up to float
# rounding): the checkpoint interval, evaluation, gradient accumulation and precision
RESUME_MAY_DIFFER = ("ckpt_every", "eval_seq_len", "eval_bytes", "grad_accum", "precision")


@dataclass
class TrainState:
    """What `load_state` returns: the step to continue from and the loss history so far."""

    step: int
    losses: list[float]
    meta: dict[str, Any]


def state_digest(model: torch.nn.Module) -> str:
    """sha256 over a model's state dict (names, dtypes, shapes, bytes), to identify a teacher."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def save_state(ckpt_dir: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
               step: int, losses: list[float], meta: dict[str, Any]) -> Path:
    """Write `<ckpt_dir>/latest` atomically; returns its path."""
    target = Path(ckpt_dir) / LATEST
    payload = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "rng_cpu": torch.get_rng_state(),
        "step": int(step),
        "losses": torch.tensor(losses, dtype=torch.float64),
    }
    with atomic_path(target, directory=True) as tmp:
        torch.save(payload, tmp / "state.pt")
        (tmp / "meta.json").write_text(
            json.dumps({"format": FORMAT, **meta, "step": int(step)}, indent=2, sort_keys=True))
    return target


def has_state(ckpt_dir: str | Path | None) -> bool:
    return ckpt_dir is not None and (Path(ckpt_dir) / LATEST / "state.pt").is_file()


def check_compatible(meta: dict[str, Any], expected: dict[str, Any], folder: Path) -> None:
    """Raise ConfigError naming the first field where a checkpoint differs from this run."""
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{folder}: format {meta.get('format')!r}, expected {FORMAT!r}")
    for key in ("stage", "model_config", "teacher_sha256"):
        if meta.get(key) != expected.get(key):
            raise ConfigError(
                f"{folder}: checkpoint {key} differs from this run; use a fresh checkpoint "
                "folder or --no-resume")
    old, new = meta.get("options", {}), expected.get("options", {})
    for key in sorted(set(old) | set(new)):
        if key not in RESUME_MAY_DIFFER and old.get(key) != new.get(key):
            raise ConfigError(
                f"{folder}: checkpoint option {key}={old.get(key)!r} differs from this run's "
                f"{new.get(key)!r}; use a fresh checkpoint folder or --no-resume")


def load_state(ckpt_dir: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
               expected_meta: dict[str, Any]) -> TrainState:
    """Restore model, optimiser and CPU RNG from `<ckpt_dir>/latest` (after checking meta)."""
    folder = Path(ckpt_dir) / LATEST
    try:
        meta = json.loads((folder / "meta.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{folder}/meta.json: unreadable ({exc})") from None
    check_compatible(meta, expected_meta, folder)
    try:
        payload = torch.load(folder / "state.pt", map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated or foreign file: torch raises several types
        raise CheckpointError(f"{folder}/state.pt: unreadable ({exc})") from None
    if not isinstance(payload, dict):
        raise CheckpointError(f"{folder}/state.pt: holds a {type(payload).__name__}, not a dict")
    for key in ("model", "optimizer", "rng_cpu", "step", "losses"):
        if key not in payload:
            raise CheckpointError(f"{folder}/state.pt: missing {key!r}")
    try:
        model.load_state_dict(payload["model"], strict=True)
        optimizer.load_state_dict(payload["optimizer"])
    except (RuntimeError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{folder}/state.pt: does not match the model ({exc})") from None
    try:
        torch.set_rng_state(payload["rng_cpu"])
        step, losses = int(payload["step"]), payload["losses"].tolist()
    except (RuntimeError, TypeError, ValueError, AttributeError) as exc:
        raise CheckpointError(f"{folder}/state.pt: bad rng_cpu, step or losses ({exc})") from None
    return TrainState(step=step, losses=losses, meta=meta)
