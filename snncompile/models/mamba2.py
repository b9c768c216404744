"""The Mamba2 mixer in plain PyTorch (CPU-capable), with optional spike neurons on its projections.

Parameter names, shapes and the in_proj packing are those of mamba_ssm's `Mamba2`
(mamba_ssm/modules/mamba2.py), so its checkpoints load unchanged (spec section 6).

Glossary of dimension letters
  B  batch                 L  sequence length          T  chunk length (config.chunk_size)
  d  d_model               E  d_inner = expand * d     H  heads = E / P
  P  headdim               N  d_state                  G  ngroups (B and C are shared per group)
  K  d_conv                C_ = conv_dim = E + 2*G*N   Z = d_in_proj = 2*E + 2*G*N + H

The layer, for one sequence (equations per head h, time t):
  u -> [in_proj_neuron] -> in_proj -> split [z (E), xBC (C_), dt_raw (H)]
  xBC = SiLU(causal depthwise conv1d_K(xBC) + conv_bias)  -> split [x (E), B (G*N), C (G*N)]
  dt_h  = softplus(dt_raw_h + dt_bias_h)          A_h = -exp(A_log_h)
  h_t   = exp(dt_h A_h) h_{t-1} + dt_h x_{t,h} (outer) B_t        (P x N state per head)
  y_t,h = h_t C_t + D_h x_{t,h}
  y = RMSNorm_per_group(y * SiLU(z)) * norm.weight          (norm_before_gate = False)
  out = out_proj([out_proj_neuron](y))
Head h reads B and C of group h // (H/G). The scan runs in at least float32 (bf16 models too).

Two equivalent ways to run the recurrence over a sequence (and `step` for one token):
  `ssd_chunked`     the chunked state-space-duality form (training path): quadratic attention-like
                    form inside chunks of T tokens, the recurrence only across chunk boundaries.
  `ssd_sequential`  the plain scan, one token at a time (reference; also the step's equation).
A mixer (and its gated norm) may call fused kernels instead (`kernels`, None by default;
snncompile.models.kernels: mamba_ssm's Triton kernels on CUDA) for the chunked scan with the
D skip and for the gated norm; everything else is this code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from snncompile.errors import ConfigError
from snncompile.models.config import SpikingMambaConfig
from snncompile.models.neurons import SpikeNeuron
from snncompile.models.sgc import SGC

SCAN_MODES = ("chunked", "sequential")


# ------------------------------------------------------------------------------------------------
# Norms
# ------------------------------------------------------------------------------------------------
class RMSNorm(nn.Module):
    """y = x / sqrt(mean(x^2) + eps) * weight  (computed in float32 or wider, as upstream)."""

    def __init__(self, d: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        xf = x.to(torch.promote_types(dtype, torch.float32))
        y = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return (y * self.weight.to(xf.dtype)).to(dtype)


class RMSNormGated(nn.Module):
    """Gated, grouped RMSNorm of Mamba2 (upstream `layernorm_gated.RMSNorm`, no bias).

    norm_before_gate=False (the Mamba2 default): o = rmsnorm_g(y * silu(z)) * weight
    norm_before_gate=True:                       o = rmsnorm_g(y) * weight * silu(z)
    rmsnorm_g normalises each group of `group_size` consecutive channels separately.
    """

    def __init__(self, d: int, group_size: int, eps: float = 1e-5,
                 norm_before_gate: bool = False) -> None:
        super().__init__()
        if d % group_size:
            raise ConfigError(f"RMSNormGated: d={d} is not a multiple of group_size={group_size}")
        self.eps = eps
        self.group_size = group_size
        self.norm_before_gate = norm_before_gate
        self.weight = nn.Parameter(torch.ones(d))
        self.kernels = None   # snncompile.models.kernels.Kernels, or None (this code)

    def forward(self, y: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        dtype = y.dtype
        if self.kernels is not None and self.kernels.gated_norm is not None:
            return self.kernels.gated_norm(y, self.weight, None, z=z, eps=self.eps,
                                           group_size=self.group_size,
                                           norm_before_gate=self.norm_before_gate).to(dtype)
        wide = torch.promote_types(dtype, torch.float32)
        y = y.to(wide)
        if z is not None and not self.norm_before_gate:
            y = y * F.silu(z.to(wide))
        yg = y.unflatten(-1, (-1, self.group_size))                     # (..., G, E/G)
        yg = yg * torch.rsqrt(yg.pow(2).mean(-1, keepdim=True) + self.eps)
        out = yg.flatten(-2) * self.weight.to(wide)
        if z is not None and self.norm_before_gate:
            out = out * F.silu(z.to(wide))
        return out.to(dtype)


# ------------------------------------------------------------------------------------------------
# Causal depthwise convolution
# ------------------------------------------------------------------------------------------------
def causal_conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                past: torch.Tensor | None = None) -> torch.Tensor:
    """y[c, t] = bias_c + sum_k weight[c, 0, k] * x[c, t - K + 1 + k]   (x (B, C_, L)).

    Inputs before the sequence are `past` (B, C_, K-1) (the decoding state) or zeros. Written
    as K shifted multiply-adds: the same numbers as `conv1d.forward` with padding K-1, without
    its slow small-tensor path on CPU.
    """
    K = weight.shape[-1]
    L = x.shape[-1]
    full = F.pad(x, (K - 1, 0)) if past is None else torch.cat([past.to(x.dtype), x], dim=-1)
    y = sum(weight[:, 0, k, None] * full[..., k:k + L] for k in range(K))
    return y if bias is None else y + bias[:, None]


# ------------------------------------------------------------------------------------------------
# The selective scan, two ways
# ------------------------------------------------------------------------------------------------
def _wide(*ts: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Cast to at least float32 (float64 stays float64): half-precision scans drift."""
    return tuple(t.to(torch.promote_types(t.dtype, torch.float32)) for t in ts)


def _heads(M: torch.Tensor, H: int) -> torch.Tensor:
    """(B, L, G, N) -> (B, L, H, N): each group's B or C shared by its H/G consecutive heads."""
    return M.repeat_interleave(H // M.shape[2], dim=2)


def ssd_sequential(x: torch.Tensor, dt: torch.Tensor, A: torch.Tensor, B: torch.Tensor,
                   C: torch.Tensor, initial_state: torch.Tensor | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Plain scan. x (B,L,H,P), dt (B,L,H) (after softplus), A (H), B/C (B,L,G,N).

    h_t = exp(dt_t A) h_{t-1} + dt_t x_t (outer) B_t ;  y_t = h_t C_t.
    Returns y (B,L,H,P) (without the D skip) and the final state (B,H,P,N).
    """
    b, L, H, P = x.shape
    Bh, Ch = _heads(B, H), _heads(C, H)                                  # (B,L,H,N)
    h = x.new_zeros(b, H, P, B.shape[-1]) if initial_state is None else initial_state
    ys = []
    for t in range(L):
        decay = torch.exp(dt[:, t] * A)                                  # (B,H)
        dBx = (dt[:, t, :, None] * x[:, t])[..., None] * Bh[:, t, :, None, :]   # (B,H,P,N)
        h = decay[..., None, None] * h + dBx
        ys.append(torch.einsum("bhpn,bhn->bhp", h, Ch[:, t]))
    return torch.stack(ys, dim=1), h


def segment_sums(a: torch.Tensor) -> torch.Tensor:
    """a (..., T) -> S (..., T, T) with S[i, j] = a_{j+1} + ... + a_i for i >= j, -inf for i < j.

    Built by a cumulative sum down the columns of a masked copy (not as a difference of prefix
    sums), so exp(S) stays accurate for long chunks.
    """
    T = a.shape[-1]
    strict = torch.tril(torch.ones(T, T, dtype=torch.bool, device=a.device), diagonal=-1)
    rows = a[..., :, None].expand(*a.shape, T).masked_fill(~strict, 0.0)  # [i, j] = a_i if i > j
    S = torch.cumsum(rows, dim=-2)
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool, device=a.device))
    return S.masked_fill(~causal, float("-inf"))


def ssd_chunked(x: torch.Tensor, dt: torch.Tensor, A: torch.Tensor, B: torch.Tensor,
                C: torch.Tensor, chunk_size: int, initial_state: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Chunked SSD (state space duality). Same contract and result as `ssd_sequential`.

    With a_t = dt_t A (log decay) and chunks of T tokens (the sequence is zero-padded to a
    multiple of T; dt = 0 padding neither decays nor feeds the state):
      1. inside a chunk:    y_i += sum_{j<=i} (C_i . B_j) exp(a_{j+1}+...+a_i) dt_j x_j
      2. chunk end states:  s_c = sum_j exp(a_{j+1}+...+a_T) dt_j x_j (outer) B_j
      3. across chunks:     h_c = exp(a_1+...+a_T of chunk c) h_{c-1} + s_c   (short recurrence)
      4. carried state:     y_i += exp(a_1+...+a_i) h_{c-1} C_i
    """
    b, L, H, P = x.shape
    N = B.shape[-1]
    T = chunk_size
    pad = (-L) % T
    if pad:
        x = F.pad(x, (0, 0, 0, 0, 0, pad))
        dt = F.pad(dt, (0, 0, 0, pad))
        B = F.pad(B, (0, 0, 0, 0, 0, pad))
        C = F.pad(C, (0, 0, 0, 0, 0, pad))
    nc = (L + pad) // T
    # chunked views: (B, c, T, H, ...) ; per-head B and C
    xdt = (x * dt[..., None]).reshape(b, nc, T, H, P)
    Bc = _heads(B, H).reshape(b, nc, T, H, N)
    Cc = _heads(C, H).reshape(b, nc, T, H, N)
    a = (dt * A).reshape(b, nc, T, H).permute(0, 3, 1, 2)                 # (B,H,c,T)
    a_cum = torch.cumsum(a, dim=-1)                                       # (B,H,c,T)

    # 1. intra-chunk, attention-like: decay matrix Lm[i, j] = exp(sum a_{j+1..i})
    Lm = torch.exp(segment_sums(a))                                       # (B,H,c,T,T)
    scores = torch.einsum("bcihn,bcjhn->bhcij", Cc, Bc) * Lm              # (B,H,c,T,T)
    y = torch.einsum("bhcij,bcjhp->bcihp", scores, xdt)                   # (B,c,T,H,P)

    # 2. state each chunk contributes at its end
    to_end = torch.exp(a_cum[..., -1:] - a_cum)                           # (B,H,c,T)
    states = torch.einsum("bcjhn,bhcj,bcjhp->bchpn", Bc, to_end, xdt)     # (B,c,H,P,N)

    # 3. recurrence over chunk boundaries
    h = x.new_zeros(b, H, P, N) if initial_state is None else initial_state
    chunk_decay = torch.exp(a_cum[..., -1])                               # (B,H,c)
    entering = []
    for c in range(nc):
        entering.append(h)
        h = chunk_decay[:, :, c, None, None] * h + states[:, c]
    h_in = torch.stack(entering, dim=1)                                   # (B,c,H,P,N)

    # 4. contribution of the state entering each chunk
    y = y + torch.einsum("bcihn,bchpn,bhci->bcihp", Cc, h_in, torch.exp(a_cum))
    return y.reshape(b, nc * T, H, P)[:, :L], h


# ------------------------------------------------------------------------------------------------
# The mixer
# ------------------------------------------------------------------------------------------------
@dataclass
class Mamba2State:
    """Decoding state of one mixer (upstream layout).

    conv  (B, C_, K)   the last K inputs of the depthwise conv (newest at index -1)
    ssm   (B, H, P, N) the SSM state h
    """

    conv: torch.Tensor
    ssm: torch.Tensor


class Mamba2(nn.Module):
    """Mamba2 mixer (module docstring); neurons `in_proj_neuron` / `out_proj_neuron` or None."""

    def __init__(self, config: SpikingMambaConfig, layer_idx: int = 0) -> None:
        super().__init__()
        if not 0 <= layer_idx < config.n_layer:
            raise ConfigError(f"Mamba2: layer_idx={layer_idx} outside 0..{config.n_layer - 1}")
        self.config = config
        self.layer_idx = layer_idx
        self.d_model = config.d_model
        self.d_state = config.d_state
        self.d_conv = config.d_conv
        self.expand = config.expand
        self.headdim = config.headdim
        self.ngroups = config.ngroups
        self.d_inner = config.d_inner
        self.nheads = config.nheads
        self.conv_dim = config.conv_dim
        self.chunk_size = config.chunk_size

        self.in_proj = nn.Linear(self.d_model, config.d_in_proj, bias=config.bias)   # d -> Z
        self.conv1d = nn.Conv1d(self.conv_dim, self.conv_dim, kernel_size=self.d_conv,
                                groups=self.conv_dim, padding=self.d_conv - 1,
                                bias=config.conv_bias)                            # weight (C_,1,K)
        self.act = nn.SiLU()
        self.dt_bias = nn.Parameter(torch.empty(self.nheads))                     # (H)
        self.A_log = nn.Parameter(torch.empty(self.nheads))                       # (H)
        self.D = nn.Parameter(torch.ones(self.nheads))                            # (H)
        self.norm = RMSNormGated(self.d_inner, group_size=self.d_inner // self.ngroups,
                                 eps=config.rms_norm_eps,
                                 norm_before_gate=config.norm_before_gate)        # weight (E)
        self.out_proj = nn.Linear(self.d_inner, self.d_model, bias=config.bias)   # E -> d
        self.in_proj_neuron = self._neuron("in_proj")
        self.out_proj_neuron = self._neuron("out_proj")
        self.kernels = None   # snncompile.models.kernels.Kernels, or None (this code)
        self.reset_ssm_parameters()

    def _neuron(self, projection: str) -> SpikeNeuron | None:
        cfg = self.config
        if not cfg.is_spiked(projection):
            return None
        ncfg = cfg.neuron_for(self.layer_idx)
        sgc = SGC(ncfg.D, cfg.sgc_mode, cfg.sgc_weight) if cfg.sgc else None
        return SpikeNeuron(ncfg, sgc=sgc)

    @torch.no_grad()
    def reset_ssm_parameters(self) -> None:
        """Upstream init: dt ~ logUniform[dt_min, dt_max] floored at dt_init_floor, dt_bias =
        softplus^-1(dt) = dt + log(1 - exp(-dt)); A_log = log(Uniform(A_init_range)); D = 1."""
        cfg = self.config
        lo, hi = math.log(cfg.dt_min), math.log(cfg.dt_max)
        dt = torch.exp(torch.rand(self.nheads) * (hi - lo) + lo).clamp(min=cfg.dt_init_floor)
        self.dt_bias.copy_(dt + torch.log(-torch.expm1(-dt)))
        self.A_log.copy_(torch.log(torch.empty(self.nheads).uniform_(*cfg.A_init_range)))
        self.D.fill_(1.0)

    # -- helpers shared by forward and step --------------------------------------------------
    def _project_in(self, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self.in_proj_neuron is not None:
            u = self.in_proj_neuron(u)
        zxbcdt = self.in_proj(u)                                                  # (..., Z)
        z, xBC, dt = torch.split(zxbcdt, [self.d_inner, self.conv_dim, self.nheads], dim=-1)
        return z, xBC, dt

    def _split_xBC(self, xBC: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        GN = self.ngroups * self.d_state
        x, B, C = torch.split(xBC, [self.d_inner, GN, GN], dim=-1)
        return x, B, C

    def _project_out(self, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        y = self.norm(y, z)                                                       # (..., E)
        if self.out_proj_neuron is not None:
            y = self.out_proj_neuron(y)
        return self.out_proj(y)                                                   # (..., d)

    # -- sequence ------------------------------------------------------------------------------
    def forward(self, u: torch.Tensor, state: Mamba2State | None = None,
                scan: str = "chunked") -> torch.Tensor:
        """u (B, L, d) -> (B, L, d). With `state`, start from it and update it (prefill)."""
        if scan not in SCAN_MODES:
            raise ConfigError(f"Mamba2.forward: scan must be one of {SCAN_MODES}, got {scan!r}")
        b, L, _ = u.shape
        z, xBC, dt = self._project_in(u)              # (B,L,E), (B,L,C_), (B,L,H)

        xBC_t = xBC.transpose(1, 2)                   # (B,C_,L)
        past = None if state is None else state.conv[..., 1:]                     # (B,C_,K-1)
        conv = causal_conv(xBC_t, self.conv1d.weight, self.conv1d.bias, past)     # (B,C_,L)
        if state is not None:
            state.conv = torch.cat([past.to(xBC_t.dtype), xBC_t], -1)[..., -self.d_conv:]
        xBC = self.act(conv).transpose(1, 2)          # (B,L,C_)

        x, B, C = _wide(*self._split_xBC(xBC))        # the SSM runs in >= float32, as upstream
        x = x.reshape(b, L, self.nheads, self.headdim)                            # (B,L,H,P)
        B = B.reshape(b, L, self.ngroups, self.d_state)                           # (B,L,G,N)
        C = C.reshape(b, L, self.ngroups, self.d_state)                           # (B,L,G,N)
        dt_raw, dt_bias, D, A_log = _wide(dt, self.dt_bias, self.D, self.A_log)
        kern = self.kernels
        # the scan runs in >= float32 under autocast too (mixed-precision training)
        with torch.autocast(x.device.type, enabled=False):
            A = -torch.exp(A_log)                                                 # (H)
            if kern is not None and kern.chunk_scan is not None and state is None \
                    and scan == "chunked":   # fused: softplus(dt + dt_bias), scan, D skip
                y = kern.chunk_scan(x, dt_raw, A, B, C, self.chunk_size, D=D, dt_bias=dt_bias,
                                    dt_softplus=True)
            else:
                dt = F.softplus(dt_raw + dt_bias)                                 # (B,L,H)
                h0 = None if state is None else state.ssm.to(x.dtype)
                if scan == "chunked":
                    y, hT = ssd_chunked(x, dt, A, B, C, self.chunk_size, initial_state=h0)
                else:
                    y, hT = ssd_sequential(x, dt, A, B, C, initial_state=h0)
                if state is not None:
                    state.ssm = hT
                y = y + D[:, None] * x                                            # D skip
        return self._project_out(y.reshape(b, L, self.d_inner).to(u.dtype), z)

    # -- one token -----------------------------------------------------------------------------
    def allocate_state(self, batch: int, dtype: torch.dtype | None = None,
                       device: torch.device | str | None = None) -> Mamba2State:
        """Zero state for `batch` sequences (the SSM state in at least float32)."""
        dtype = dtype or self.in_proj.weight.dtype
        device = device or self.in_proj.weight.device
        return Mamba2State(
            conv=torch.zeros(batch, self.conv_dim, self.d_conv, dtype=dtype, device=device),
            ssm=torch.zeros(batch, self.nheads, self.headdim, self.d_state,
                            dtype=torch.promote_types(dtype, torch.float32), device=device))

    def step(self, u: torch.Tensor, state: Mamba2State) -> torch.Tensor:
        """One token: u (B, d) -> (B, d); `state` is advanced (its tensors replaced)."""
        b = u.shape[0]
        z, xBC, dt = self._project_in(u)              # (B,E), (B,C_), (B,H)

        conv_state = torch.cat([state.conv[..., 1:], xBC[..., None]], dim=-1)     # (B,C_,K)
        xBC = (conv_state * self.conv1d.weight[:, 0, :]).sum(-1)                  # (B,C_)
        if self.conv1d.bias is not None:
            xBC = xBC + self.conv1d.bias
        xBC = self.act(xBC)

        x, B, C = _wide(*self._split_xBC(xBC))
        x = x.reshape(b, self.nheads, self.headdim)                               # (B,H,P)
        rep = self.nheads // self.ngroups
        B = B.reshape(b, self.ngroups, self.d_state).repeat_interleave(rep, dim=1)  # (B,H,N)
        C = C.reshape(b, self.ngroups, self.d_state).repeat_interleave(rep, dim=1)  # (B,H,N)
        dt_raw, dt_bias, D, A_log = _wide(dt, self.dt_bias, self.D, self.A_log)
        dt = F.softplus(dt_raw + dt_bias)                                         # (B,H)
        A = -torch.exp(A_log)                                                     # (H)
        decay = torch.exp(dt * A)                                                 # (B,H)
        h = decay[..., None, None] * state.ssm.to(x.dtype) \
            + (dt[..., None] * x)[..., None] * B[:, :, None, :]                   # (B,H,P,N)
        y = torch.einsum("bhpn,bhn->bhp", h, C) + D[:, None] * x                  # (B,H,P)
        state.conv, state.ssm = conv_state, h
        return self._project_out(y.reshape(b, self.d_inner).to(u.dtype), z)
