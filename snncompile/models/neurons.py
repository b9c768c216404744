"""Quantizing spike neurons: LIF {0,1}, I-LIF {0..D}, SI-LIF {-D..D} (spec section 2).

Training form (what PyTorch computes)::

    u = x / theta                         input in threshold units
    s = clip(round(u), lo, hi)            integer spike level (round half to even = torch.round)
    y = theta * s                         what the next layer sees (theta folds into its weights)

    kind   lo   hi   levels
    lif     0    1   {0, 1}          binary, sign lost (NeuronConfig forces D = 1)
    ilif    0    D   {0..D}          integer, sign lost
    silif  -D    D   {-D..D}         signed integer

Backward (`QuantSpike`):
  * w.r.t. x: rectangular surrogate of height `alpha`:  dy/dx = alpha * 1[lo <= u <= hi].
  * w.r.t. theta (learned when `NeuronConfig.learn_theta`): the LSQ rule (Esser et al., "Learned
    Step Size Quantization", ICLR 2020) with the same surrogate inside the range,
        dy/dtheta = s - alpha * u    if lo <= u <= hi   (round() seen as a slope-alpha ramp)
                  = s  (= lo or hi)  outside            (clipped: y = theta * lo or theta * hi)
    multiplied by LSQ's gradient scale g = 1 / sqrt(numel(x) * hi), so a scalar step size
    learns at a rate comparable to the weights.

Spike-driven inference form (what hardware executes, `microsteps`): a token takes D micro-steps.
The neuron receives |s| once, integrates with no leak (beta = 1) and soft reset (subtract the
unit threshold), so it fires one binary spike in each of the first |s| micro-steps, each spike
carrying sign(s). A receiving linear layer adds (or subtracts) one weight column per spike
and after D micro-steps holds exactly W @ s (`accumulate_spikes`; exhaustive test in
tests/test_neurons.py).

Firing rate per micro-step slot (spec section 2): fr = sum|s| / (numel * D), collected with
`record_spikes(model)`.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import torch
from torch import nn

from snncompile.errors import ConfigError
from snncompile.models.config import NeuronConfig

CALIBRATION_METHODS = ("mse", "percentile", "lsq")


class QuantSpike(torch.autograd.Function):
    """y = theta * clip(round(x / theta), lo, hi); surrogate and LSQ backward (module docstring)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, theta: torch.Tensor,  # type: ignore[override]
                lo: int, hi: int, alpha: float) -> torch.Tensor:
        u = x / theta
        s = torch.clamp(torch.round(u), lo, hi)
        ctx.save_for_backward(u, s)
        ctx.lo, ctx.hi, ctx.alpha = lo, hi, alpha
        return s * theta

    @staticmethod
    def backward(ctx, grad_y: torch.Tensor):  # type: ignore[override]
        u, s = ctx.saved_tensors
        inside = ((u >= ctx.lo) & (u <= ctx.hi)).to(grad_y.dtype)
        grad_x = grad_theta = None
        if ctx.needs_input_grad[0]:
            grad_x = grad_y * (ctx.alpha * inside)
        if ctx.needs_input_grad[1]:
            g = 1.0 / math.sqrt(max(u.numel(), 1) * ctx.hi)
            local = s - ctx.alpha * u * inside
            grad_theta = (grad_y * local).sum() * g
        return grad_x, grad_theta, None, None, None


@dataclass
class SpikeStats:
    """Spike counts of one neuron, summed over every forward inside `record_spikes`.

    sum_abs  sum of |s| over all recorded elements (= binary spikes in the micro-step form)
    numel    number of recorded elements (neuron-token pairs)
    D        micro-steps per token
    """

    sum_abs: int = 0
    numel: int = 0
    D: int = 1

    @property
    def firing_rate(self) -> float:
        """fr = sum|s| / (numel * D): spikes per neuron per micro-step slot."""
        return self.sum_abs / (self.numel * self.D) if self.numel else 0.0

    @property
    def spikes_per_neuron(self) -> float:
        """Mean |s| per neuron and token (binary spikes per token)."""
        return self.sum_abs / self.numel if self.numel else 0.0


class SpikeNeuron(nn.Module):
    """A quantizing spike neuron (LIF / I-LIF / SI-LIF) with threshold `theta` (scalar Parameter).

    forward(x) -> theta * s (same shape as x). In training mode an attached SGC (`self.sgc`,
    snncompile.models.sgc) may add its training-only term; in eval mode the output is exactly
    theta * s. With `bypass = True` (used by `calibrate_theta`) the neuron is the identity.
    """

    def __init__(self, cfg: NeuronConfig, sgc: nn.Module | None = None) -> None:
        super().__init__()
        if not isinstance(cfg, NeuronConfig):
            raise ConfigError(f"SpikeNeuron needs a NeuronConfig, got {type(cfg).__name__}")
        self.cfg = cfg
        self.kind = cfg.kind
        self.D = cfg.D
        self.lo = cfg.lo
        self.hi = cfg.hi
        self.alpha = cfg.alpha
        self.theta = nn.Parameter(torch.tensor(float(cfg.theta)), requires_grad=cfg.learn_theta)
        self.sgc = sgc
        self.bypass = False
        self._observers: list[Callable[[torch.Tensor, torch.Tensor], None]] = []

    def extra_repr(self) -> str:
        return f"kind={self.kind}, D={self.D}, levels=[{self.lo}, {self.hi}], alpha={self.alpha}"

    def levels(self, x: torch.Tensor) -> torch.Tensor:
        """Integer spike levels s = clip(round(x / theta), lo, hi) (x's dtype, no gradient).

        theta is cast to x's dtype first, as in `forward`, so the levels are exactly the ones
        the forward pass produces (also for half-precision inputs)."""
        with torch.no_grad():
            return torch.clamp(torch.round(x / self.theta.to(x.dtype)), self.lo, self.hi)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        theta = self.theta.to(x.dtype)
        for observe in self._observers:
            observe(x, theta)
        if self.bypass:
            return x
        y = QuantSpike.apply(x, theta, self.lo, self.hi, self.alpha)
        if self.training and self.sgc is not None:
            y = self.sgc(x, theta, y)
        return y


def spike_neurons(model: nn.Module) -> Iterator[tuple[str, SpikeNeuron]]:
    """(qualified name, neuron) for every SpikeNeuron in `model`, in module order."""
    for name, mod in model.named_modules():
        if isinstance(mod, SpikeNeuron):
            yield name, mod


# ------------------------------------------------------------------------------------------------
# Spike-driven inference form
# ------------------------------------------------------------------------------------------------
def _check_levels(s: torch.Tensor, D: int) -> None:
    if not isinstance(D, int) or D < 1:
        raise ConfigError(f"microsteps: D must be a positive integer, got {D!r}")
    if s.is_floating_point() and not torch.equal(s, torch.round(s)):
        raise ConfigError("microsteps: s must hold integer levels")
    if s.numel() and int(s.abs().max()) > D:
        raise ConfigError(f"microsteps: |s| = {int(s.abs().max())} exceeds D = {D}")


def microsteps(s: torch.Tensor, D: int) -> torch.Tensor:
    """The D binary signed spike frames of levels `s` (shape (D, *s.shape), values in {-1,0,+1}).

    Simulated as the IF neuron of the inference form: v <- |s| at the start of the token; in
    each micro-step k: spike_k = [v >= 1] (threshold 1), v <- v - spike_k (soft reset, no leak).
    Frame k carries sign(s) * spike_k, so neuron j spikes in the first |s_j| micro-steps.
    """
    _check_levels(s, D)
    sign = torch.sign(s).to(torch.int64)
    v = s.abs().to(torch.int64)
    frames = []
    for _ in range(D):
        spike = (v >= 1).to(torch.int64)
        v = v - spike
        frames.append(sign * spike)
    return torch.stack(frames)


def accumulate_spikes(weight: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
    """Event-driven linear layer: for every spike (k, j) add (+1) or subtract (-1) column j of
    `weight` (d_out, d_in) into the accumulator. frames: (D, d_in) from `microsteps`.

    Only additions/subtractions; returns the accumulator (d_out,), equal to W @ s.
    """
    acc = torch.zeros(weight.shape[0], dtype=weight.dtype, device=weight.device)
    for k in range(frames.shape[0]):
        for j in torch.nonzero(frames[k]).flatten().tolist():
            if int(frames[k, j]) > 0:
                acc = acc + weight[:, j]
            else:
                acc = acc - weight[:, j]
    return acc


# ------------------------------------------------------------------------------------------------
# Recording spikes
# ------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def record_spikes(model: nn.Module) -> Iterator[dict[str, SpikeStats]]:
    """Collect `SpikeStats` per neuron (qualified module name) for every forward in the block.

    Neurons in bypass mode record nothing. Observers are removed on exit, even on error.
    """
    stats: dict[str, SpikeStats] = {}
    installed: list[tuple[SpikeNeuron, Callable]] = []
    for name, neuron in spike_neurons(model):
        rec = stats.setdefault(name, SpikeStats(D=neuron.D))

        def observe(x: torch.Tensor, theta: torch.Tensor, _n=neuron, _rec=rec) -> None:
            if _n.bypass:
                return
            s = _n.levels(x.detach())
            # integer sum: a half-precision float sum would round counts above 256
            _rec.sum_abs += int(s.abs().to(torch.int64).sum())
            _rec.numel += s.numel()

        neuron._observers.append(observe)
        installed.append((neuron, observe))
    try:
        yield stats
    finally:
        for neuron, observe in installed:
            neuron._observers.remove(observe)


@contextlib.contextmanager
def neurons_bypassed(model: nn.Module) -> Iterator[None]:
    """Make every SpikeNeuron the identity inside the block (the dense teacher's activations)."""
    neurons = [n for _, n in spike_neurons(model)]
    old = [n.bypass for n in neurons]
    for n in neurons:
        n.bypass = True
    try:
        yield
    finally:
        for n, b in zip(neurons, old):
            n.bypass = b


# ------------------------------------------------------------------------------------------------
# Threshold calibration
# ------------------------------------------------------------------------------------------------
def theta_from_samples(x: torch.Tensor, lo: int, hi: int, method: str = "mse",
                       percentile: float = 0.999) -> float:
    """A threshold for activations `x` (any shape) quantized to levels [lo, hi].

    mse         theta minimising E[(x - theta*clip(round(x/theta), lo, hi))^2] over a grid of
                100 candidates theta = r * m / hi, r in (0, 1], m = max of the relevant |x|
    percentile  theta = quantile(|x| (signed) or relu(x) (unsigned), percentile) / hi
    lsq         theta = 2 * mean(|x|) / sqrt(hi) (LSQ's initialisation)
    """
    if method not in CALIBRATION_METHODS:
        raise ConfigError(
            f"calibration method must be one of {CALIBRATION_METHODS}, got {method!r}")
    x = x.detach().flatten().to(torch.float64)
    if x.numel() > 1 << 18:  # a fixed, deterministic subsample keeps calibration cheap
        idx = torch.linspace(0, x.numel() - 1, 1 << 18, dtype=torch.float64).long()
        x = x[idx]
    mag = x.abs() if lo < 0 else torch.relu(x)
    if x.numel() == 0 or float(mag.max()) == 0.0:
        return 1.0
    if method == "lsq":
        theta = 2.0 * float(x.abs().mean()) / math.sqrt(hi)
    elif method == "percentile":
        theta = float(torch.quantile(mag, percentile)) / hi
    else:
        m = float(mag.max())
        cands = torch.linspace(m / hi / 100, m / hi, 100, dtype=torch.float64)
        u = x[None, :] / cands[:, None]
        err = ((torch.clamp(torch.round(u), lo, hi) * cands[:, None] - x[None, :]) ** 2).mean(1)
        theta = float(cands[int(torch.argmin(err))])
    return theta if theta > 0 and math.isfinite(theta) else 1.0


@torch.no_grad()
def calibrate_theta(model: nn.Module, run: Callable[[nn.Module], object] | Iterable[torch.Tensor],
                    method: str = "mse", percentile: float = 0.999) -> dict[str, float]:
    """Set every neuron's theta from the dense activations it sees.

    `run` is either a callable `run(model)` that does forward passes, or an iterable of inputs
    passed to `model(...)` in turn. The passes run with all neurons bypassed (so each neuron sees
    the dense teacher's activation), the inputs of each neuron are gathered and
    `theta_from_samples(..., method)` sets its theta. Returns {neuron name: theta}.
    """
    neurons = dict(spike_neurons(model))
    if not neurons:
        return {}
    seen: dict[str, list[torch.Tensor]] = {name: [] for name in neurons}
    hooks = []
    for name, n in neurons.items():
        def observe(x: torch.Tensor, theta: torch.Tensor, _name=name) -> None:
            seen[_name].append(x.detach().flatten().cpu())
        n._observers.append(observe)
        hooks.append((n, observe))
    was_training = model.training
    model.eval()
    try:
        with neurons_bypassed(model):
            if callable(run):
                run(model)
            else:
                for batch in run:
                    model(batch)
    finally:
        for n, observe in hooks:
            n._observers.remove(observe)
        model.train(was_training)
    out: dict[str, float] = {}
    for name, n in neurons.items():
        if not seen[name]:
            raise ConfigError(f"calibrate_theta: neuron {name!r} saw no activations")
        theta = theta_from_samples(torch.cat(seen[name]), n.lo, n.hi, method, percentile)
        n.theta.fill_(theta)
        out[name] = theta
    return out
