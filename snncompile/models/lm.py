"""SpikingMambaLM: a Mamba2 language model whose projections may be driven by spikes.

Module tree and parameter names are mamba_ssm's `MambaLMHeadModel` (mixer_seq_simple.py):

  backbone.embedding        (V_pad, d)   token embedding (vocab padded: config.padded_vocab_size)
  backbone.layers[i].norm   RMSNorm(d)   pre-norm of block i
  backbone.layers[i].mixer  Mamba2       (snncompile.models.mamba2; neurons inside)
  backbone.norm_f           RMSNorm(d)   final norm
  lm_head                   (V_pad, d)   tied to backbone.embedding.weight (tie_embeddings)

Forward, upstream's Block / add-norm order (residual starts as None):
  for each block:  residual = x + residual ;  x = mixer(norm(residual))
  then:            residual = x + residual ;  logits = lm_head(norm_f(residual))
The residual stream is kept in float32 when `residual_in_fp32` (as upstream).

`config.spiking = False` is the dense Mamba2 teacher (no neurons); `from_teacher` builds a
student from it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Iterable

import torch
from torch import nn

from snncompile.errors import ConfigError
from snncompile.models.config import SpikingMambaConfig
from snncompile.models.mamba2 import Mamba2, Mamba2State, RMSNorm
from snncompile.models.neurons import calibrate_theta


class Block(nn.Module):
    """One residual block: residual = x + residual; x = mixer(norm(residual))."""

    def __init__(self, config: SpikingMambaConfig, layer_idx: int) -> None:
        super().__init__()
        self.residual_in_fp32 = config.residual_in_fp32
        self.norm = RMSNorm(config.d_model, eps=config.rms_norm_eps)
        self.mixer = Mamba2(config, layer_idx)

    def _add(self, x: torch.Tensor, residual: torch.Tensor | None) -> torch.Tensor:
        residual = x if residual is None else x + residual
        return residual.float() if self.residual_in_fp32 and residual.dtype in (
            torch.float16, torch.bfloat16) else residual

    def forward(self, x: torch.Tensor, residual: torch.Tensor | None,
                state: Mamba2State | None = None, scan: str = "chunked"
                ) -> tuple[torch.Tensor, torch.Tensor]:
        residual = self._add(x, residual)
        h = self.norm(residual.to(self.norm.weight.dtype))
        return self.mixer(h, state=state, scan=scan), residual

    def step(self, x: torch.Tensor, residual: torch.Tensor | None, state: Mamba2State
             ) -> tuple[torch.Tensor, torch.Tensor]:
        residual = self._add(x, residual)
        h = self.norm(residual.to(self.norm.weight.dtype))
        return self.mixer.step(h, state), residual


class Backbone(nn.Module):
    """embedding -> blocks -> norm_f (upstream `MixerModel`)."""

    def __init__(self, config: SpikingMambaConfig) -> None:
        super().__init__()
        self.embedding = nn.Embedding(config.padded_vocab_size, config.d_model)
        self.layers = nn.ModuleList(Block(config, i) for i in range(config.n_layer))
        self.norm_f = RMSNorm(config.d_model, eps=config.rms_norm_eps)

    def _final(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        residual = x + residual
        return self.norm_f(residual.to(self.norm_f.weight.dtype))


@dataclass
class LMState:
    """Decoding state of the whole model: one `Mamba2State` per block."""

    layers: list[Mamba2State] = field(default_factory=list)


class SpikingMambaLM(nn.Module):
    """The language model (module docstring). forward(ids (B,L)) -> logits (B, L, V_pad)."""

    def __init__(self, config: SpikingMambaConfig, init: bool = True) -> None:
        super().__init__()
        if not isinstance(config, SpikingMambaConfig):
            raise ConfigError(
                f"SpikingMambaLM needs a SpikingMambaConfig, got {type(config).__name__}")
        from snncompile.limits import check_memory
        check_memory(4 * config.n_params(), f"the model ({config.n_params():,} float32 "
                     f"parameters)")
        self.config = config
        self.backbone = Backbone(config)
        self.lm_head = nn.Linear(config.d_model, config.padded_vocab_size, bias=False)
        if init:
            self.reset_parameters()
        self.tie_weights()

    def tie_weights(self) -> None:
        if self.config.tie_embeddings:
            self.lm_head.weight = self.backbone.embedding.weight

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Upstream `_init_weights`: embedding ~ N(0, 0.02); Linear biases zero; out_proj
        kaiming-uniform(a=sqrt(5)) scaled by 1/sqrt(n_layer) (one residual per block); the SSM
        parameters by `Mamba2.reset_ssm_parameters` (done at construction)."""
        nn.init.normal_(self.backbone.embedding.weight, std=0.02)
        for mod in self.modules():
            if isinstance(mod, nn.Linear) and mod.bias is not None:
                nn.init.zeros_(mod.bias)
        for block in self.backbone.layers:
            w = block.mixer.out_proj.weight
            nn.init.kaiming_uniform_(w, a=math.sqrt(5))
            w /= math.sqrt(self.config.n_layer)
        if not self.config.tie_embeddings:
            nn.init.normal_(self.lm_head.weight, std=0.02)

    # -- sequence -------------------------------------------------------------------------------
    def hidden_states(self, ids: torch.Tensor, state: LMState | None = None,
                      scan: str = "chunked") -> torch.Tensor:
        """ids (B, L) -> final normed hidden states (B, L, d)."""
        self._check_ids(ids, 2)
        if state is not None:
            self._check_state(state)
        x = self.backbone.embedding(ids)
        residual = None
        for i, block in enumerate(self.backbone.layers):
            x, residual = block(x, residual, None if state is None else state.layers[i], scan)
        return self.backbone._final(x, residual)

    def forward(self, ids: torch.Tensor, state: LMState | None = None,
                scan: str = "chunked") -> torch.Tensor:
        """ids (B, L) int -> logits (B, L, V_pad). With `state`, continue from it and update it."""
        return self.lm_head(self.hidden_states(ids, state, scan))

    # -- decoding -------------------------------------------------------------------------------
    def allocate_state(self, batch: int, dtype: torch.dtype | None = None,
                       device: torch.device | str | None = None) -> LMState:
        """Zero decoding state for `batch` sequences."""
        return LMState([blk.mixer.allocate_state(batch, dtype, device)
                        for blk in self.backbone.layers])

    def step(self, ids: torch.Tensor, state: LMState) -> torch.Tensor:
        """One token per sequence: ids (B,) -> logits (B, V_pad); `state` advances."""
        self._check_ids(ids, 1)
        self._check_state(state)
        x = self.backbone.embedding(ids)
        residual = None
        for block, st in zip(self.backbone.layers, state.layers):
            x, residual = block.step(x, residual, st)
        return self.lm_head(self.backbone._final(x, residual))

    def _check_state(self, state: LMState) -> None:
        if len(state.layers) != len(self.backbone.layers):
            raise ConfigError(f"decoding state has {len(state.layers)} layers, model "
                              f"{len(self.backbone.layers)}")

    def _check_ids(self, ids: torch.Tensor, ndim: int) -> None:
        if ids.dim() != ndim or ids.dtype not in (torch.int64, torch.int32):
            raise ConfigError(f"token ids must be an integer tensor of rank {ndim}, "
                              f"got {tuple(ids.shape)} {ids.dtype}")
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= self.config.padded_vocab_size):
            raise ConfigError(f"token id out of range 0..{self.config.padded_vocab_size - 1}: "
                              f"min {int(ids.min())}, max {int(ids.max())}")

    # -- teacher -> student ----------------------------------------------------------------------
    @classmethod
    def from_teacher(cls, teacher: "SpikingMambaLM", config: SpikingMambaConfig | None = None,
                     calibration: Iterable[torch.Tensor] | Callable[[nn.Module], object]
                     | None = None,
                     method: str = "mse") -> "SpikingMambaLM":
        """A student with the teacher's weights and neurons per `config`.

        `config` must have the teacher's shapes (d_model, n_layer, ...); it defaults to the
        teacher's config with `spiking=True`. Thresholds start at `config.neuron.theta` (or the
        per-layer value), or, with `calibration` (token id batches or a callable run(model)),
        are set by `calibrate_theta(..., method)` from the teacher's activations.
        """
        tcfg = teacher.config
        if config is None:
            config = tcfg.replace(spiking=True)
        shape_fields = ("d_model", "n_layer", "vocab_size", "d_state", "d_conv", "expand",
                        "headdim", "ngroups", "pad_vocab_size_multiple", "tie_embeddings",
                        "conv_bias", "bias")
        for f in shape_fields:
            if getattr(config, f) != getattr(tcfg, f):
                raise ConfigError(f"from_teacher: config.{f}={getattr(config, f)!r} differs from "
                                  f"the teacher's {getattr(tcfg, f)!r}")
        student = cls(config, init=False)
        p = next(teacher.parameters())
        student.to(dtype=p.dtype, device=p.device)
        missing, unexpected = student.load_state_dict(teacher.state_dict(), strict=False)
        not_neuron = [k for k in missing if "_neuron." not in k]
        if not_neuron or unexpected:
            raise ConfigError(f"from_teacher: weights do not match (missing {not_neuron[:5]}, "
                              f"unexpected {unexpected[:5]})")
        if calibration is not None:
            calibrate_theta(student, calibration, method=method)
        return student
