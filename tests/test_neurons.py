"""SpikeNeuron (training form, surrogate and LSQ gradients), the spike-driven micro-step form,
spike recording, threshold calibration and SGC."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from snncompile.errors import ConfigError
from snncompile.models.config import NeuronConfig
from snncompile.models.neurons import (SpikeNeuron, SpikeStats, accumulate_spikes,
                                       calibrate_theta, microsteps, neurons_bypassed,
                                       record_spikes, theta_from_samples)
from snncompile.models.sgc import SGC, set_sgc_weight, smooth


KINDS = {"lif": (0, 1), "ilif": (0, 4), "silif": (-4, 4)}


@pytest.mark.parametrize("kind", KINDS)
def test_levels_and_training_form(kind):
    n = SpikeNeuron(NeuronConfig(kind=kind, D=4, theta=0.5))
    lo, hi = KINDS[kind]
    assert (n.lo, n.hi) == (lo, hi)
    x = torch.linspace(-4, 4, 801)
    s = n.levels(x)
    assert torch.equal(s, torch.round(s)) and s.min() == lo and s.max() == hi
    # s = clip(round(x/theta)), round half to even: 0.25/0.5 = 0.5 -> 0, 0.75/0.5 = 1.5 -> 2
    assert n.levels(torch.tensor([0.25, 0.75]))[1] == min(2, hi)
    assert n.levels(torch.tensor([0.25]))[0] == 0
    torch.testing.assert_close(n(x), 0.5 * s, rtol=0, atol=0)
    assert set(torch.unique(s).tolist()) == set(range(lo, hi + 1))


def test_lif_forces_single_level():
    n = SpikeNeuron(NeuronConfig(kind="lif", D=7))
    assert n.D == 1 and (n.lo, n.hi) == (0, 1)


def test_surrogate_gradient_wrt_x():
    n = SpikeNeuron(NeuronConfig(kind="silif", D=2, theta=0.5, alpha=0.7, learn_theta=False))
    x = torch.tensor([-1.5, -1.0, -0.3, 0.0, 0.26, 1.0, 1.01, 3.0], requires_grad=True)
    n(x).sum().backward()
    inside = (x.detach() / 0.5 >= -2) & (x.detach() / 0.5 <= 2)   # boundary included
    torch.testing.assert_close(x.grad, 0.7 * inside.float())
    assert n.theta.grad is None


def test_lsq_gradient_wrt_theta():
    theta = 0.4
    n = SpikeNeuron(NeuronConfig(kind="silif", D=3, theta=theta, alpha=1.0))
    x = torch.tensor([-2.0, -0.5, -0.1, 0.13, 0.5, 0.9, 1.7])
    g = torch.randn(7)
    (n(x) * g).sum().backward()
    u = x / theta
    s = torch.clamp(torch.round(u), -3, 3)
    inside = (u >= -3) & (u <= 3)
    local = torch.where(inside, s - u, s)
    expected = (g * local).sum() / (7 * 3) ** 0.5
    torch.testing.assert_close(n.theta.grad, expected)


def test_learned_theta_reduces_quantization_error():
    """A badly set threshold moves towards a better one under the LSQ gradient (sign descent,
    as Adam-like optimisers do; torch.optim itself would import torch._dynamo, ~3 s)."""
    torch.manual_seed(0)
    x = torch.randn(2048) * 0.3
    n = SpikeNeuron(NeuronConfig(kind="silif", D=4, theta=2.0))
    err0 = ((n(x) - x) ** 2).mean().item()
    for i in range(150):
        n.theta.grad = None
        ((n(x) - x) ** 2).mean().backward()
        with torch.no_grad():
            n.theta -= 0.04 * 0.98 ** i * torch.sign(n.theta.grad)   # decaying step
    err1 = ((n(x) - x) ** 2).mean().item()
    assert err1 < 0.2 * err0
    # it settles near the MSE-optimal threshold found by grid search
    assert n.theta.item() == pytest.approx(theta_from_samples(x, -4, 4, "mse"), rel=0.15)


# -----------------------------------------------------------------------------------------------
# spike-driven inference form
# -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("D", [1, 2, 3, 4, 8])
def test_microsteps_closed_form(D):
    s = torch.arange(-D, D + 1)
    frames = microsteps(s, D)                                # (D, 2D+1)
    assert frames.shape == (D, 2 * D + 1) and frames.dtype == torch.int64
    assert set(frames.unique().tolist()) <= {-1, 0, 1}
    for k in range(D):                                       # first |s| micro-steps, sign of s
        torch.testing.assert_close(frames[k], torch.sign(s) * (k < s.abs()).long())
    assert torch.equal(frames.sum(0), s)
    assert torch.equal(frames.abs().sum(), s.abs().sum())   # spikes = sum |s|


@pytest.mark.parametrize("D", [1, 2, 3, 4])
def test_accumulating_microstep_spikes_equals_matmul_exhaustively(D):
    """For EVERY vector of levels in {-D..D}^3 (and the unsigned kinds' subsets), adding or
    subtracting one weight column per micro-step spike gives exactly W @ s (integer weights)."""
    g = torch.Generator().manual_seed(D)
    W = torch.randint(-1000, 1000, (5, 3), generator=g, dtype=torch.int64)
    for levels in itertools.product(range(-D, D + 1), repeat=3):
        s = torch.tensor(levels, dtype=torch.int64)
        assert torch.equal(accumulate_spikes(W, microsteps(s, D)), W @ s), levels


@pytest.mark.parametrize("D", [5, 8, 15])
def test_accumulating_every_level_larger_D(D):
    """Every single level at every input position, and a few dense random vectors."""
    g = torch.Generator().manual_seed(D)
    W = torch.randint(-(1 << 20), 1 << 20, (7, 4), generator=g, dtype=torch.int64)
    for j in range(4):
        for level in range(-D, D + 1):
            s = torch.zeros(4, dtype=torch.int64)
            s[j] = level
            assert torch.equal(accumulate_spikes(W, microsteps(s, D)), W @ s)
    for _ in range(20):
        s = torch.randint(-D, D + 1, (4,), generator=g)
        assert torch.equal(accumulate_spikes(W, microsteps(s, D)), W @ s)


def test_neuron_levels_drive_the_next_layer_exactly():
    """theta folds into the next layer: W @ (theta*s) == theta * (accumulated micro-steps)."""
    n = SpikeNeuron(NeuronConfig(kind="silif", D=4, theta=0.25))
    x = torch.randn(6, dtype=torch.float64)
    W = torch.randint(-50, 50, (3, 6), dtype=torch.int64)
    s = n.levels(x).long()
    acc = accumulate_spikes(W, microsteps(s, 4))
    torch.testing.assert_close(0.25 * acc.double(), W.double() @ n(x.float()).double())


def test_microsteps_rejects_bad_levels():
    with pytest.raises(ConfigError, match="exceeds D"):
        microsteps(torch.tensor([3]), 2)
    with pytest.raises(ConfigError, match="integer"):
        microsteps(torch.tensor([0.5]), 2)
    with pytest.raises(ConfigError, match="D must"):
        microsteps(torch.tensor([0]), 0)


# -----------------------------------------------------------------------------------------------
# recording
# -----------------------------------------------------------------------------------------------
class _TwoNeurons(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = SpikeNeuron(NeuronConfig(kind="silif", D=3, theta=0.5))
        self.b = SpikeNeuron(NeuronConfig(kind="lif", theta=0.5))

    def forward(self, x):
        return self.b(self.a(x))


def test_record_spikes_counts_and_firing_rate():
    m = _TwoNeurons()
    x1, x2 = torch.randn(4, 5), torch.randn(2, 5)
    with record_spikes(m) as stats:
        m(x1)
        m(x2)
    expect_a = int(m.a.levels(x1).abs().sum() + m.a.levels(x2).abs().sum())
    assert stats["a"] == SpikeStats(sum_abs=expect_a, numel=30, D=3)
    assert stats["a"].firing_rate == pytest.approx(expect_a / (30 * 3))
    expect_b = int(m.b.levels(m.a(x1)).sum() + m.b.levels(m.a(x2)).sum())
    assert stats["b"].sum_abs == expect_b and stats["b"].D == 1
    # observers are gone after the block: nothing more is counted
    m(x1)
    assert stats["a"].numel == 30
    assert all(not n._observers for n in (m.a, m.b))


def test_record_spikes_is_exact_for_bfloat16():
    """Half-precision inputs: the recorded levels are the forward's (theta cast to x's dtype)
    and their sum is an integer sum (a bf16 sum would round counts above 256)."""
    m = nn.Sequential(SpikeNeuron(NeuronConfig(kind="silif", D=4, theta=0.3)))
    g = torch.Generator().manual_seed(0)
    x = (torch.randn(20000, generator=g) * 2).to(torch.bfloat16)
    with record_spikes(m) as stats:
        y = m(x)
    theta = m[0].theta.to(torch.bfloat16)
    s = torch.clamp(torch.round(x / theta), -4, 4)
    assert torch.equal(m[0].levels(x), s) and torch.equal(y, s * theta)
    assert stats["0"].sum_abs == int(s.abs().to(torch.int64).sum()) > 256


def test_record_spikes_removes_observers_on_error():
    m = _TwoNeurons()
    with pytest.raises(RuntimeError):
        with record_spikes(m):
            raise RuntimeError("boom")
    assert not m.a._observers and not m.b._observers


# -----------------------------------------------------------------------------------------------
# calibration
# -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["mse", "percentile", "lsq"])
def test_theta_from_samples_methods(method):
    torch.manual_seed(0)
    x = torch.randn(20000) * 0.1
    theta = theta_from_samples(x, -4, 4, method)
    assert 0.005 < theta < 0.2
    err = lambda t: ((torch.clamp(torch.round(x / t), -4, 4) * t - x) ** 2).mean()  # noqa: E731
    assert err(theta) < err(1.0)


def test_theta_from_samples_mse_is_best_on_grid():
    torch.manual_seed(1)
    x = torch.randn(5000)
    t_mse = theta_from_samples(x, -4, 4, "mse")
    err = lambda t: ((torch.clamp(torch.round(x / t), -4, 4) * t - x) ** 2).mean()  # noqa: E731
    for method in ("percentile", "lsq"):
        assert err(t_mse) <= err(theta_from_samples(x, -4, 4, method)) + 1e-9


def test_calibrate_theta_sets_every_neuron_from_dense_activations():
    m = _TwoNeurons()
    x = torch.randn(64, 8) * 3
    thetas = calibrate_theta(m, [x], method="percentile", percentile=1.0)
    assert set(thetas) == {"a", "b"}
    # with all neurons bypassed, both see x itself: a (signed, hi=3) max|x|/3, b (lif) max(x)/1
    assert thetas["a"] == pytest.approx(float(x.abs().max()) / 3, rel=1e-6)
    assert thetas["b"] == pytest.approx(float(x.max()), rel=1e-6)
    assert m.a.theta.item() == pytest.approx(thetas["a"], rel=1e-6)
    assert not m.a.bypass and not m.a._observers and m.training


def test_neurons_bypassed_is_identity():
    m = _TwoNeurons()
    x = torch.randn(3, 4)
    with neurons_bypassed(m):
        assert torch.equal(m(x), x)
    assert not torch.equal(m(x), x)


def test_bad_neuron_config():
    with pytest.raises(ConfigError, match="kind"):
        NeuronConfig(kind="relu")
    with pytest.raises(ConfigError, match="NeuronConfig"):
        SpikeNeuron({"kind": "silif"})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="calibration method"):
        theta_from_samples(torch.randn(4), -1, 1, "max")


# -----------------------------------------------------------------------------------------------
# SGC
# -----------------------------------------------------------------------------------------------
def _neuron_pair(mode, weight=0.3):
    cfg = NeuronConfig(kind="silif", D=4, theta=0.5)
    return SpikeNeuron(cfg), SpikeNeuron(cfg, sgc=SGC(4, mode, weight))


def test_sgc_gradient_mode_forward_exact_backward_compensated():
    plain, sgc = _neuron_pair("gradient")
    x = torch.linspace(-3, 3, 61, requires_grad=True)
    x2 = x.detach().clone().requires_grad_(True)
    y_plain, y_sgc = plain.train()(x), sgc.train()(x2)
    assert torch.equal(y_plain, y_sgc)                      # forward: exactly the spikes
    y_plain.sum().backward()
    y_sgc.sum().backward()
    u = x.detach() / 0.5
    extra = 0.3 * 4 * (1 - torch.tanh(u) ** 2)              # lambda * d(theta f_m(x/theta))/dx
    torch.testing.assert_close(x2.grad - x.grad, extra, atol=1e-6, rtol=1e-6)


def test_sgc_branch_mode_mixes_smooth_branch_in_training():
    plain, sgc = _neuron_pair("branch", weight=0.25)
    x = torch.linspace(-3, 3, 61)
    expected = 0.75 * plain(x) + 0.25 * 0.5 * smooth(x / 0.5, 4)
    torch.testing.assert_close(sgc.train()(x), expected)
    assert set_sgc_weight(sgc, 0.0) == 1
    assert torch.equal(sgc(x), plain(x))                    # annealed away


@pytest.mark.parametrize("mode", ["gradient", "branch"])
def test_sgc_absent_in_eval(mode):
    plain, sgc = _neuron_pair(mode)
    x = torch.randn(100) * 2
    assert torch.equal(plain.eval()(x), sgc.eval()(x))


def test_sgc_bad_mode():
    with pytest.raises(ConfigError, match="sgc mode"):
        SGC(4, "parallel")
