"""The Mamba2 mixer: parameter layout, init, chunked SSD == sequential scan == step, neurons."""

from __future__ import annotations

import functools
import math

import pytest
import torch

from snncompile.errors import ConfigError
from snncompile.models.config import NeuronConfig
from snncompile.models.mamba2 import (Mamba2, RMSNormGated, causal_conv, segment_sums,
                                      ssd_chunked, ssd_sequential)
from snncompile.models.neurons import SpikeNeuron


pytestmark = pytest.mark.usefixtures("torch_seed")


@pytest.fixture(scope="module")
def tiny_config(tiny_config):
    """The shared tiny config with this module's vocabulary (40) and two groups."""
    return functools.partial(tiny_config, vocab_size=40, ngroups=2)


def test_parameter_names_and_shapes_are_upstreams(tiny_config):
    cfg = tiny_config()
    m = Mamba2(cfg, 0)
    E, H, Cd, K = cfg.d_inner, cfg.nheads, cfg.conv_dim, cfg.d_conv
    shapes = {k: tuple(v.shape) for k, v in m.state_dict().items()}
    assert shapes == {
        "in_proj.weight": (2 * E + 2 * 2 * 8 + H, 16), "conv1d.weight": (Cd, 1, K),
        "conv1d.bias": (Cd,), "dt_bias": (H,), "A_log": (H,), "D": (H,),
        "norm.weight": (E,), "out_proj.weight": (16, E)}
    assert cfg.d_in_proj == 2 * E + 2 * 2 * 8 + H and Cd == E + 2 * 2 * 8
    assert m.in_proj_neuron is None and m.out_proj_neuron is None
    assert m.norm.group_size == E // 2


def test_upstream_init(tiny_config):
    cfg = tiny_config(expand=8, headdim=4)  # 32 heads for a meaningful range check
    m = Mamba2(cfg, 0)
    dt = torch.nn.functional.softplus(m.dt_bias.detach())
    assert dt.min() >= 1e-3 * (1 - 1e-5) and dt.max() <= 0.1 * (1 + 1e-5)
    A = torch.exp(m.A_log.detach())
    assert A.min() >= 1 and A.max() <= 16
    assert torch.equal(m.D.detach(), torch.ones(cfg.nheads))


def test_segment_sums():
    a = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64)
    S = segment_sums(a)
    for i in range(4):
        for j in range(4):
            expect = a[j + 1:i + 1].sum() if i >= j else -math.inf
            assert S[i, j] == expect


@pytest.mark.parametrize("L,chunk", [(1, 4), (7, 4), (8, 4), (13, 16), (12, 1)])
def test_chunked_equals_sequential_float64(L, chunk):
    b, H, P, G, N = 2, 4, 3, 2, 5
    x = torch.randn(b, L, H, P, dtype=torch.float64)
    dt = torch.nn.functional.softplus(torch.randn(b, L, H, dtype=torch.float64))
    A = -torch.rand(H, dtype=torch.float64) * 8
    B, C = torch.randn(2, b, L, G, N, dtype=torch.float64)
    h0 = torch.randn(b, H, P, N, dtype=torch.float64)
    y1, h1 = ssd_chunked(x, dt, A, B, C, chunk, initial_state=h0)
    y2, h2 = ssd_sequential(x, dt, A, B, C, initial_state=h0)
    torch.testing.assert_close(y1, y2, atol=1e-12, rtol=1e-10)
    torch.testing.assert_close(h1, h2, atol=1e-12, rtol=1e-10)


def _seq_and_steps(m, u):
    state = m.allocate_state(u.shape[0], dtype=u.dtype)
    return torch.stack([m.step(u[:, t], state) for t in range(u.shape[1])], 1), state


@pytest.mark.parametrize("spiking", [False, True])
def test_forward_paths_agree_float64(spiking, tiny_config):
    """chunked forward == sequential forward == token-by-token step, to 1e-10 in float64."""
    m = Mamba2(tiny_config(spiking=spiking, neuron=NeuronConfig(theta=0.3)), 1).double().eval()
    u = torch.randn(3, 11, 16, dtype=torch.float64)
    with torch.no_grad():
        y = m(u)
        torch.testing.assert_close(m(u, scan="sequential"), y, atol=1e-10, rtol=1e-10)
        steps, _ = _seq_and_steps(m, u)
    torch.testing.assert_close(steps, y, atol=1e-10, rtol=1e-10)


def test_forward_paths_agree_float32(tiny_config):
    """float32, default chunk 256 > L: same paths to 1e-5. The paths sum the same terms in a
    different order (chunk einsums vs a running state); with O(1) activations and L = 40 the
    rounding differences stay near 1e-6, so 1e-5 is a safe bound."""
    m = Mamba2(tiny_config(chunk_size=256), 0).eval()
    u = torch.randn(2, 40, 16)
    with torch.no_grad():
        y = m(u)
        steps, _ = _seq_and_steps(m, u)
        seq = m(u, scan="sequential")
    torch.testing.assert_close(steps, y, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(seq, y, atol=1e-5, rtol=1e-5)


def test_prefill_then_step_continues_the_sequence(tiny_config):
    m = Mamba2(tiny_config(), 0).double().eval()
    u = torch.randn(2, 12, 16, dtype=torch.float64)
    with torch.no_grad():
        full = m(u)
        state = m.allocate_state(2)
        a = m(u[:, :5], state=state)                  # prefill with state
        b = m(u[:, 5:9], state=state)                 # continue with a second chunk
        c = torch.stack([m.step(u[:, t], state) for t in range(9, 12)], 1)
        _, state_steps = _seq_and_steps(m, u)
    torch.testing.assert_close(torch.cat([a, b, c], 1), full, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(state.ssm, state_steps.ssm, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(state.conv, state_steps.conv, atol=1e-12, rtol=0)


def test_prefill_shorter_than_kernel(tiny_config):
    m = Mamba2(tiny_config(), 0).double().eval()
    u = torch.randn(1, 6, 16, dtype=torch.float64)
    with torch.no_grad():
        full = m(u)
        state = m.allocate_state(1)
        parts = [m(u[:, t:t + 1], state=state) for t in range(6)]   # L = 1 < d_conv
    torch.testing.assert_close(torch.cat(parts, 1), full, atol=1e-10, rtol=1e-10)


def test_gated_norm_grouping():
    norm = RMSNormGated(8, group_size=4)
    y, z = torch.randn(2, 8), torch.randn(2, 8)
    out = norm(y, z)
    g = (y * torch.nn.functional.silu(z)).view(2, 2, 4)
    ref = g / torch.sqrt(g.pow(2).mean(-1, keepdim=True) + 1e-5)
    torch.testing.assert_close(out, ref.view(2, 8))
    with pytest.raises(ConfigError, match="group_size"):
        RMSNormGated(8, group_size=3)


def test_neuron_placement_per_config(tiny_config):
    both = Mamba2(tiny_config(spiking=True), 0)
    assert isinstance(both.in_proj_neuron, SpikeNeuron) and isinstance(both.out_proj_neuron,
                                                                       SpikeNeuron)
    only_in = Mamba2(tiny_config(spiking=True, spiked_projections=("in_proj",)), 0)
    assert only_in.in_proj_neuron is not None and only_in.out_proj_neuron is None
    per_layer = tiny_config(spiking=True, layer_neurons=(NeuronConfig(kind="lif"), None))
    assert Mamba2(per_layer, 0).in_proj_neuron.kind == "lif"
    assert Mamba2(per_layer, 1).in_proj_neuron.kind == "silif"
    sgc = Mamba2(tiny_config(spiking=True, sgc=True, sgc_mode="branch", sgc_weight=0.5), 0)
    assert sgc.in_proj_neuron.sgc.mode == "branch" and sgc.in_proj_neuron.sgc.weight == 0.5
    with pytest.raises(ConfigError, match="layer_idx"):
        Mamba2(tiny_config(), 2)


def test_projections_see_spike_levels(tiny_config):
    """in_proj's input is theta_in * s_in and out_proj's input theta_out * s_out, s integers."""
    m = Mamba2(tiny_config(spiking=True, neuron=NeuronConfig(kind="silif", D=3, theta=0.2)),
               0).eval()
    seen = {}
    for name in ("in_proj", "out_proj"):
        getattr(m, name).register_forward_hook(
            lambda mod, inp, out, _n=name: seen.__setitem__(_n, inp[0].detach()))
    with torch.no_grad():
        m(torch.randn(2, 5, 16))
    for name in ("in_proj", "out_proj"):
        s = seen[name] / 0.2
        torch.testing.assert_close(s, torch.round(s), atol=1e-5, rtol=0)
        assert s.abs().max() <= 3 + 1e-5 and s.abs().max() >= 1


def test_backward_reaches_every_parameter(tiny_config):
    m = Mamba2(tiny_config(spiking=True, sgc=True), 0).train()
    m(torch.randn(2, 9, 16)).square().mean().backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_bad_scan_mode(tiny_config):
    m = Mamba2(tiny_config(), 0)
    with pytest.raises(ConfigError, match="scan"):
        m(torch.randn(1, 3, 16), scan="parallel")


def test_causal_conv_equals_conv1d_module(tiny_config):
    m = Mamba2(tiny_config(), 0)
    x = torch.randn(2, m.conv_dim, 9)
    with torch.no_grad():
        ref = m.conv1d(x)[..., :9]                  # upstream: pad K-1 both sides, keep first L
        torch.testing.assert_close(causal_conv(x, m.conv1d.weight, m.conv1d.bias), ref)
        past = torch.randn(2, m.conv_dim, m.d_conv - 1)
        full = m.conv1d(torch.cat([past, x], -1))[..., m.d_conv - 1:m.d_conv - 1 + 9]
        torch.testing.assert_close(causal_conv(x, m.conv1d.weight, m.conv1d.bias, past), full)
