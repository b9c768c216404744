"""Fused kernels a Mamba2 mixer may run instead of its PyTorch code (mamba_ssm's, on CUDA).

The modules and their parameters stay snncompile's (`Mamba2`, `RMSNormGated`, upstream names);
only two inner computations are swapped, with mamba_ssm's own contracts:
  chunk_scan(x, dt, A, B, C, chunk_size, D=D, dt_bias=dt_bias, dt_softplus=True) -> y
      `mamba_ssm.ops.triton.ssd_combined.mamba_chunk_scan_combined`: y (b,l,h,p) of the
      selective scan with dt = softplus(dt + dt_bias), including the D skip
      (snncompile.models.mamba2.ssd_chunked + D x)
  gated_norm(y, weight, None, z=z, eps=eps, group_size=g, norm_before_gate=nbg) -> o
      `mamba_ssm.ops.triton.layernorm_gated.rmsnorm_fn` (`RMSNormGated.forward`)
Everything around the calls (projections, neurons, conv, dtype handling) is the same code on
every device, so a CPU run with mamba_ssm's pure-torch references plugged in as `Kernels`
exercises the CUDA path's glue (tests/test_kernels.py). Only the sequence forward without a
decoding state uses them; `step` and prefill with a state keep the PyTorch code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn


@dataclass(frozen=True)
class Kernels:
    """A named set of kernel functions (module docstring for their contracts)."""

    name: str
    chunk_scan: Callable | None = None
    gated_norm: Callable | None = None


def mamba_ssm_kernels() -> Kernels | None:
    """mamba_ssm's Triton kernels, or None when mamba_ssm (with its CUDA build and Triton) is not
    importable."""
    try:
        from mamba_ssm.ops.triton.layernorm_gated import rmsnorm_fn
        from mamba_ssm.ops.triton.ssd_combined import mamba_chunk_scan_combined
    except Exception:  # ImportError, or a CPU-only build failing inside mamba_ssm's imports
        return None
    return Kernels("mamba_ssm", chunk_scan=mamba_chunk_scan_combined, gated_norm=rmsnorm_fn)


def select_kernels(device: torch.device | str) -> Kernels | None:
    """The kernels for `device`: mamba_ssm's on CUDA when installed, else None (PyTorch code)."""
    return mamba_ssm_kernels() if torch.device(device).type == "cuda" else None


def use_kernels(model: nn.Module, kernels: Kernels | None) -> nn.Module:
    """Make every Mamba2 mixer and gated norm of `model` call `kernels` (None: PyTorch code)."""
    from snncompile.models.mamba2 import Mamba2, RMSNormGated
    for mod in model.modules():
        if isinstance(mod, (Mamba2, RMSNormGated)):
            mod.kernels = kernels
    return model


def kernels_name(model: nn.Module) -> str:
    """'torch', or the name of the kernels `model`'s mixers call."""
    for mod in model.modules():
        k = getattr(mod, "kernels", None)
        if k is not None:
            return k.name
    return "torch"
