"""Training options of one stage (dense teacher or distilled student), validated on construction.

Schedule: linear warm-up over `warmup` steps to `lr`, then cosine decay to `lr * min_lr_ratio`
at `steps` (`lr_at`). Optimiser: AdamW (betas 0.9/0.95, `weight_decay` on matrices only).

Student loss (spec section 4; the weights are our choice, see docs/architecture.md):
    L = kl_weight * tau^2 * KL(softmax(y/tau) || softmax(y'/tau))        (teacher y, student y')
      + hidden_weight * L_Hidden
      + ce_weight * CE(y', next byte)                                    (0 by default)
with L_Hidden = 1/(2T) sum_t ||softmax(h_t) - softmax(h'_t)||_2^2 per target tensor, averaged
over the targets: `hidden_target='mixer'` compares every block's mixer output (softmax over
the d_model channels), `'logits'` the output distributions.
Teacher loss: CE(y, next byte).

Execution: `batch` is the global batch of one optimiser step (sequences), whatever the number
of data-parallel ranks R and the gradient accumulation `grad_accum` A: each rank back-propagates
A micro-batches of batch/(R*A) sequences (`snncompile.training.runtime`). `precision` 'bf16'
runs the forward passes under bf16 autocast (parameters and optimiser state stay float32).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from snncompile.errors import ConfigError

STAGES = ("teacher", "student")
HIDDEN_TARGETS = ("mixer", "logits")
CALIBRATIONS = ("mse", "percentile", "lsq", "none")
PRECISIONS = ("fp32", "bf16")


@dataclass(frozen=True)
class TrainOptions:
    """Everything a training run depends on (besides the model config and the corpus)."""

    stage: str = "teacher"
    steps: int = 1000
    batch: int = 16
    seq_len: int = 256
    lr: float = 3e-3
    warmup: int = 50
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    seed: int = 0
    ckpt_every: int = 100
    grad_accum: int = 1              # micro-batches per optimiser step (per rank)
    precision: str = "fp32"          # 'fp32' | 'bf16' (autocast)
    # student loss
    kl_weight: float = 1.0
    hidden_weight: float = 1.0
    hidden_target: str = "mixer"
    temperature: float = 1.0
    ce_weight: float = 0.0
    calibration: str = "mse"
    calib_batches: int = 4
    sgc_anneal: bool = True          # 'branch' SGC: lambda decays linearly to 0 at `steps`
    # evaluation at the end of a stage
    eval_seq_len: int = 256
    eval_bytes: int | None = None    # None: the whole validation split

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ConfigError(f"train.stage must be one of {STAGES}, got {self.stage!r}")
        for name in ("steps", "batch", "seq_len", "ckpt_every", "eval_seq_len", "calib_batches",
                     "grad_accum"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"train.{name} must be a positive integer, got {v!r}")
        if not isinstance(self.warmup, int) or self.warmup < 0:
            raise ConfigError(f"train.warmup must be an integer >= 0, got {self.warmup!r}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"train.seed must be an integer >= 0, got {self.seed!r}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"train.lr must be positive, got {self.lr!r}")
        if not 0 <= self.min_lr_ratio <= 1:
            raise ConfigError(f"train.min_lr_ratio must be in [0, 1], got {self.min_lr_ratio!r}")
        for name in ("weight_decay", "grad_clip", "kl_weight", "hidden_weight", "ce_weight"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise ConfigError(f"train.{name} must be finite and >= 0, got {v!r}")
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise ConfigError(f"train.temperature must be positive, got {self.temperature!r}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"train.precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.batch % self.grad_accum:
            raise ConfigError(f"train.batch={self.batch} is not a multiple of "
                              f"grad_accum={self.grad_accum}")
        if self.hidden_target not in HIDDEN_TARGETS:
            raise ConfigError(
                f"train.hidden_target must be one of {HIDDEN_TARGETS}, got {self.hidden_target!r}")
        if self.calibration not in CALIBRATIONS:
            raise ConfigError(
                f"train.calibration must be one of {CALIBRATIONS}, got {self.calibration!r}")
        if self.stage == "student" and self.kl_weight + self.hidden_weight + self.ce_weight == 0:
            raise ConfigError("train: kl_weight, hidden_weight and ce_weight are all 0")
        if self.eval_bytes is not None and (not isinstance(self.eval_bytes, int)
                                            or self.eval_bytes <= self.eval_seq_len):
            raise ConfigError(
                f"train.eval_bytes must be None or an integer > eval_seq_len, got {self.eval_bytes!r}")

    def lr_at(self, step: int) -> float:
        """Learning rate of optimiser step `step` (0-based): warm-up, then cosine decay."""
        if step < self.warmup:
            return self.lr * (step + 1) / self.warmup
        span = max(self.steps - self.warmup, 1)
        progress = min((step - self.warmup) / span, 1.0)
        floor = self.lr * self.min_lr_ratio
        return floor + 0.5 * (self.lr - floor) * (1.0 + math.cos(math.pi * progress))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainOptions":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ConfigError(f"train options: unknown fields {sorted(unknown)}")
        return cls(**d)

    def replace(self, **changes: Any) -> "TrainOptions":
        return dataclasses.replace(self, **changes)
