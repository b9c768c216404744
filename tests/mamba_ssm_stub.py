"""Test-only helpers to use mamba_ssm (state-spaces/mamba, installed by `make test`) on CPU.

Why this is needed, found by running mamba_ssm 2.3.2 on a CPU-only machine:
  * `import mamba_ssm` imports the compiled CUDA extension `selective_scan_cuda` (Mamba1's scan);
    a CPU build has none, so `import_mamba_ssm()` puts an empty stand-in module into
    sys.modules for the import and removes it again afterwards. Nothing of Mamba1 is used.
    mamba_ssm/__init__ also imports Mamba3 (tilelang/cute kernels, ~9 s to import on CPU);
    it is replaced by a stand-in whose `Mamba3` refuses to build (unused here).
  * Building `MambaLMHeadModel`, its `state_dict`, `save_pretrained`, `nn.Linear`/`nn.Conv1d`
    submodules and the pure-torch references run on CPU.
  * Its forward does not: `RMSNorm`/`RMSNormGated` call Triton kernels (`torch.cuda.device(...)`
    fails on a CPU tensor), and Mamba2's sequence path calls the Triton `mamba_chunk_scan_combined`
    and its decoding path the Triton `selective_state_update`.
    With `fused_add_norm=True` (MambaConfig's default, as in the released checkpoints) Block and
    MixerModel call the fused Triton `layer_norm_fn` as well.
  `cpu_reference_patches(monkeypatch)` swaps exactly those kernels for mamba_ssm's own
  pure-torch references (`layer_norm.rms_norm_ref` for RMSNorm and the fused add-norm,
  `layernorm_gated.rms_norm_ref`, `ssd_minimal.ssd_minimal_discrete`,
  `selective_state_update_ref`). Everything else (Block and MixerModel add-norm order, Mamba2's
  in_proj split, conv, gating, tying) is upstream's code.
"""

from __future__ import annotations

import importlib.util
import sys
import types

import pytest
import torch
import torch.nn.functional as F


def import_mamba_ssm() -> types.ModuleType:
    """Import mamba_ssm on a CPU machine (fails the test with an install hint if missing)."""
    if "mamba_ssm.models.mixer_seq_simple" in sys.modules:
        return sys.modules["mamba_ssm"]
    if importlib.util.find_spec("mamba_ssm") is None:
        pytest.fail("mamba-ssm is not installed; run `make install-test` (the cross-checks "
                    "against mamba_ssm must run, not skip)")
    added = "selective_scan_cuda" not in sys.modules
    if added:
        sys.modules["selective_scan_cuda"] = types.ModuleType("selective_scan_cuda")
    # mamba_ssm/__init__ also imports Mamba3, whose tilelang/cute kernels take ~9 s to import
    # on CPU; nothing here uses Mamba3, so a stand-in module whose Mamba3 refuses to build
    # keeps the suite fast. Only mamba_ssm/__init__ imports it (checked for 2.3.2).
    mamba3_stub = "mamba_ssm.modules.mamba3" not in sys.modules
    if mamba3_stub:
        stub = types.ModuleType("mamba_ssm.modules.mamba3")

        class Mamba3:  # noqa: D401  (placeholder)
            def __init__(self, *args, **kwargs):
                raise RuntimeError("Mamba3 is stubbed out in tests/mamba_ssm_stub.py")

        stub.Mamba3 = Mamba3
        sys.modules["mamba_ssm.modules.mamba3"] = stub
    try:
        import mamba_ssm
        import mamba_ssm.models.mixer_seq_simple  # noqa: F401  (pulls in every module we patch)
        import mamba_ssm.modules.mamba2  # noqa: F401
        import mamba_ssm.modules.ssd_minimal  # noqa: F401
        import mamba_ssm.ops.triton.layer_norm  # noqa: F401
        import mamba_ssm.ops.triton.layernorm_gated  # noqa: F401
        import mamba_ssm.ops.triton.selective_state_update  # noqa: F401
    finally:
        if added:
            del sys.modules["selective_scan_cuda"]
    return mamba_ssm


def chunk_scan_ref(x, dt, A, B, C, chunk_size, D=None, z=None, dt_bias=None, dt_softplus=False,
                   seq_idx=None, cu_seqlens=None, dt_limit=(0.0, float("inf")),
                   return_final_states=False, return_varlen_states=False, **_unused):
    """`mamba_chunk_scan_combined`'s contract computed with `ssd_minimal_discrete`.

    x (b,l,h,p), dt (b,l,h) raw, A (h), B/C (b,l,g,n), D (h). Only the options Mamba2 uses on
    one unpacked sequence are supported (no seq_idx / cu_seqlens / z / dt_limit).
    """
    from mamba_ssm.modules.ssd_minimal import ssd_minimal_discrete
    if seq_idx is not None or cu_seqlens is not None or z is not None or return_varlen_states:
        raise NotImplementedError("chunk_scan_ref: varlen / z not supported")
    if tuple(dt_limit) != (0.0, float("inf")):
        raise NotImplementedError("chunk_scan_ref: dt_limit not supported")
    if dt_bias is not None:
        dt = dt + dt_bias
    if dt_softplus:
        dt = F.softplus(dt)
    b, L, h, p = x.shape
    rep = h // B.shape[2]
    pad = (-L) % chunk_size
    pad_t = lambda t: F.pad(t, (0, 0) * (t.dim() - 2) + (0, pad))  # noqa: E731  (pad time)
    X = pad_t(x * dt[..., None])
    Ad = pad_t(A * dt)
    Bh = pad_t(B.repeat_interleave(rep, dim=2))
    Ch = pad_t(C.repeat_interleave(rep, dim=2))
    y, final = ssd_minimal_discrete(X, Ad, Bh, Ch, chunk_size)
    y = y[:, :L]
    if D is not None:
        y = y + D[:, None] * x
    return (y, final) if return_final_states else y


def cpu_reference_patches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Swap mamba_ssm's Triton kernels for its pure-torch references (see module docstring)."""
    import_mamba_ssm()
    from mamba_ssm.modules import mamba2 as up_mamba2
    from mamba_ssm.ops.triton import layer_norm, layernorm_gated
    from mamba_ssm.ops.triton.selective_state_update import selective_state_update_ref

    def layer_norm_fn_ref(x, weight, bias, residual=None, x1=None, weight1=None, bias1=None,
                          eps=1e-6, dropout_p=0.0, rowscale=None, prenorm=False,
                          residual_in_fp32=False, is_rms_norm=False, return_dropout_mask=False):
        """The fused add + (RMS)norm of Block / MixerModel, by `rms_norm_ref`."""
        if not is_rms_norm or x1 is not None or rowscale is not None or dropout_p:
            raise NotImplementedError("only the plain fused add + RMSNorm is referenced")
        out = layer_norm.rms_norm_ref(x, weight, bias, residual=residual, eps=eps,
                                      prenorm=prenorm, upcast=True)
        if not prenorm:
            return out
        y, res = out
        return y, (res.float() if residual_in_fp32 else res.to(x.dtype))

    def rmsnorm_forward(self, x, residual=None, prenorm=False, residual_in_fp32=False):
        return layer_norm_fn_ref(x, self.weight, self.bias, residual=residual, eps=self.eps,
                                 prenorm=prenorm, residual_in_fp32=residual_in_fp32,
                                 is_rms_norm=True)

    def gated_forward(self, x, z=None):
        return layernorm_gated.rms_norm_ref(x, self.weight, self.bias, z=z, eps=self.eps,
                                            group_size=self.group_size,
                                            norm_before_gate=self.norm_before_gate, upcast=True)

    from mamba_ssm.models import mixer_seq_simple
    from mamba_ssm.modules import block

    monkeypatch.setattr(layer_norm.RMSNorm, "forward", rmsnorm_forward)
    monkeypatch.setattr(block, "layer_norm_fn", layer_norm_fn_ref)
    monkeypatch.setattr(mixer_seq_simple, "layer_norm_fn", layer_norm_fn_ref)
    monkeypatch.setattr(layernorm_gated.RMSNorm, "forward", gated_forward)
    monkeypatch.setattr(up_mamba2, "mamba_chunk_scan_combined", chunk_scan_ref)
    monkeypatch.setattr(up_mamba2, "selective_state_update", selective_state_update_ref)
    monkeypatch.setattr(up_mamba2, "causal_conv1d_fn", None)
    monkeypatch.setattr(up_mamba2, "causal_conv1d_update", None)


def tiny_mamba_config(**ssm):
    """A tiny mamba_ssm `MambaConfig` with a Mamba2 mixer (CPU-sized)."""
    import_mamba_ssm()
    from mamba_ssm.models.config_mamba import MambaConfig
    ssm_cfg = {"layer": "Mamba2", "d_state": 8, "headdim": 8, "chunk_size": 4, "ngroups": 2}
    ssm_cfg.update(ssm)
    return MambaConfig(d_model=16, n_layer=2, vocab_size=37, ssm_cfg=ssm_cfg,
                       pad_vocab_size_multiple=16)


def upstream_lm(config, dtype=torch.float32, seed: int = 0):
    """`MambaLMHeadModel(config)` on CPU with upstream init, mixers on the unfused path."""
    import_mamba_ssm()
    from mamba_ssm.models.mixer_seq_simple import MambaLMHeadModel
    torch.manual_seed(seed)
    model = MambaLMHeadModel(config, device="cpu", dtype=dtype)
    for layer in model.backbone.layers:
        layer.mixer.use_mem_eff_path = False  # the fused path has no reference twin
    return model.eval()


@torch.no_grad()
def randomize_(model: torch.nn.Module, seed: int = 1, scale: float = 0.3) -> torch.nn.Module:
    """Perturb every parameter (norm weights, D, conv bias, ...) so that a swapped or misread
    tensor changes the output; A_log and dt_bias stay in their upstream ranges; values are
    rounded to float32."""
    g = torch.Generator().manual_seed(seed)
    for name, p in model.named_parameters():
        noise = torch.randn(p.shape, generator=g, dtype=torch.float64).to(p.dtype)
        if name.endswith(("A_log", "dt_bias")):
            p.add_(0.1 * noise)
        elif name.endswith("embedding.weight"):
            p.copy_(noise)
        else:
            p.add_(scale * noise)
        # every value exactly representable in float32: float32 and float64 copies of the model
        # (and graphs that store float32 weights) then hold the same numbers
        p.copy_(p.to(torch.float32).to(p.dtype))
    return model
