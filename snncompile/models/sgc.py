"""SGC: Smoothed Gradient Compensation, a training-only path around a spike neuron (spec section 3).

The paper gives the smoothing function f_m(u) = D * tanh(u) and says the path exists only in
training; how it enters is not stated ([open] in the spec). Both plausible readings are
implemented, chosen by `SpikingMambaConfig.sgc_mode`; `sgc_weight` is lambda.

With u = x / theta, the spike output y_s = theta * clip(round(u), lo, hi) and the smooth branch
y_m = theta * f_m(u) = theta * D * tanh(u) (same units as x, saturating at +-theta*D like the
spike levels of SI-LIF)::

    'gradient' (default): y = y_s + lambda * (y_m - stopgrad(y_m))
        forward  : exactly y_s (the difference is an exact floating-point zero)
        backward : dy/dx = alpha*1[lo<=u<=hi] + lambda * D * (1 - tanh(u)^2)
        The compensation adds a smooth gradient that is largest where rounding destroys the most
        signal (|u| < 1/2 maps to 0) and decays outside the clip range.

    'branch': y = (1 - lambda) * y_s + lambda * y_m
        a parallel smooth branch whose forward contribution the trainer anneals (lambda -> 0 by
        the end of training, `set_sgc_weight`); at lambda = 0 it is the pure spike output.

In eval mode the neuron never calls SGC (snncompile.models.neurons.SpikeNeuron.forward), so
inference and every exported graph are purely spike-driven; tests/test_neurons.py checks that
eval outputs are identical with SGC on and off.
"""

from __future__ import annotations

import torch
from torch import nn

from snncompile.errors import ConfigError
from snncompile.models.config import SGC_MODES


def smooth(u: torch.Tensor, D: int) -> torch.Tensor:
    """f_m(u) = D * tanh(u)."""
    return D * torch.tanh(u)


class SGC(nn.Module):
    """The training-only SGC term of one neuron: forward(x, theta, y_spike) -> y (see module doc).

    `weight` (lambda) is a plain float attribute (no parameter, nothing in the state dict), so a
    trainer can anneal it; `mode` is 'gradient' or 'branch'.
    """

    def __init__(self, D: int, mode: str = "gradient", weight: float = 0.1) -> None:
        super().__init__()
        if mode not in SGC_MODES:
            raise ConfigError(f"sgc mode must be one of {SGC_MODES}, got {mode!r}")
        self.D = D
        self.mode = mode
        self.weight = float(weight)

    def extra_repr(self) -> str:
        return f"D={self.D}, mode={self.mode}, weight={self.weight}"

    def forward(self, x: torch.Tensor, theta: torch.Tensor, y_spike: torch.Tensor) -> torch.Tensor:
        y_smooth = theta * smooth(x / theta, self.D)
        if self.mode == "gradient":
            return y_spike + self.weight * (y_smooth - y_smooth.detach())
        return (1.0 - self.weight) * y_spike + self.weight * y_smooth


def set_sgc_weight(model: nn.Module, weight: float) -> int:
    """Set lambda of every SGC in `model` (annealing); returns how many were set."""
    n = 0
    for mod in model.modules():
        if isinstance(mod, SGC):
            mod.weight = float(weight)
            n += 1
    return n
