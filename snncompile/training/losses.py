"""Loss terms of teacher training and distillation (spec section 4).

Shapes: logits (B, L, V) over the real vocabulary (padded rows already sliced off), targets
(B, L) int64, hidden tensors (B, L, d). Every term is a mean over the B*L positions, so its
size does not depend on batch or sequence length.

  lm_loss(y, t)           = mean_t -log softmax(y_t)[t_t]                       (nats per byte)
  kl_loss(y, y', tau)     = tau^2 * mean_t sum_v p_v (log p_v - log q_v),
                            p = softmax(y_t/tau) (teacher), q = softmax(y'_t/tau) (student)
  hidden_loss(h, h')      = 1/(2T) sum_t ||softmax(h_t) - softmax(h'_t)||_2^2   (T = B*L positions)
                            (the paper's L_Hidden; softmax over the last axis)
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from snncompile.errors import ConfigError


def lm_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Next-token cross-entropy in nats, mean over positions."""
    if logits.shape[:-1] != targets.shape:
        raise ConfigError(f"lm_loss: logits {tuple(logits.shape)} vs targets {tuple(targets.shape)}")
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1))


def kl_loss(teacher_logits: torch.Tensor, student_logits: torch.Tensor,
            temperature: float = 1.0) -> torch.Tensor:
    """tau^2 * KL(teacher || student) at temperature tau, mean over positions (nats)."""
    if teacher_logits.shape != student_logits.shape:
        raise ConfigError(f"kl_loss: teacher {tuple(teacher_logits.shape)} vs student "
                          f"{tuple(student_logits.shape)}")
    tau = float(temperature)
    log_p = F.log_softmax(teacher_logits.float() / tau, dim=-1)
    log_q = F.log_softmax(student_logits.float() / tau, dim=-1)
    kl = (log_p.exp() * (log_p - log_q)).sum(-1)
    return kl.mean() * tau * tau


def hidden_loss(teacher: torch.Tensor, student: torch.Tensor) -> torch.Tensor:
    """L_Hidden = 1/(2T) sum_t ||softmax(h_t) - softmax(h'_t)||^2 over the T positions."""
    if teacher.shape != student.shape:
        raise ConfigError(f"hidden_loss: teacher {tuple(teacher.shape)} vs student "
                          f"{tuple(student.shape)}")
    d = F.softmax(teacher.float(), dim=-1) - F.softmax(student.float(), dim=-1)
    return 0.5 * d.pow(2).sum(-1).mean()


def mean_hidden_loss(teacher: Sequence[torch.Tensor], student: Sequence[torch.Tensor]) -> torch.Tensor:
    """`hidden_loss` averaged over matching pairs (e.g. one per block)."""
    if len(teacher) != len(student) or not teacher:
        raise ConfigError(f"hidden targets: teacher has {len(teacher)}, student {len(student)}")
    return torch.stack([hidden_loss(a, b) for a, b in zip(teacher, student)]).mean()
