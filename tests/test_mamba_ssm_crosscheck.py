"""Cross-checks against mamba_ssm itself (tests/mamba_ssm_stub.py explains the CPU set-up).

(a) our pieces vs mamba_ssm's pure-torch references on identical inputs/weights:
    ssd_chunked / ssd_sequential vs ssd_minimal_discrete, Mamba2.step vs upstream Mamba2.step
    (with selective_state_update_ref), our gated norm vs layernorm_gated.rms_norm_ref, and our
    Mamba2.forward vs upstream Mamba2.forward (unfused path, references swapped in).
(b) a tiny MambaLMHeadModel saved with save_pretrained, loaded by our loader; our logits vs
    upstream's own forward on CPU (Triton kernels swapped for their references), both for the
    parallel forward and token-by-token decoding.
"""

from __future__ import annotations

import json

import pytest
import torch

from mamba_ssm_stub import (cpu_reference_patches, import_mamba_ssm, randomize_,
                            tiny_mamba_config, upstream_lm)
from snncompile.models.checkpoint import load_checkpoint, load_config
from snncompile.models.config import SpikingMambaConfig
from snncompile.models.mamba2 import Mamba2, RMSNormGated, ssd_chunked, ssd_sequential


TOL = 1e-5  # float64 paths agree to ~1e-12; float32 end-to-end paths to a few 1e-6


@pytest.fixture(autouse=True)
def _mamba_ssm(monkeypatch):
    import_mamba_ssm()
    cpu_reference_patches(monkeypatch)
    torch.manual_seed(0)


def _scan_inputs(b=2, L=13, H=4, P=3, G=2, N=5, dtype=torch.float64):
    x = torch.randn(b, L, H, P, dtype=dtype)
    dt = torch.nn.functional.softplus(torch.randn(b, L, H, dtype=dtype) - 1)
    A = -torch.rand(H, dtype=dtype) * 4 - 0.5
    B = torch.randn(b, L, G, N, dtype=dtype)
    C = torch.randn(b, L, G, N, dtype=dtype)
    return x, dt, A, B, C


# ---------------------------------------------------------------------------------------------
# (a) pieces
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("chunk", [1, 4, 16])
def test_scan_matches_ssd_minimal_discrete(chunk):
    from mamba_ssm.modules.ssd_minimal import ssd_minimal_discrete
    x, dt, A, B, C = _scan_inputs(L=16)
    h0 = torch.randn(2, 4, 3, 5, dtype=torch.float64)
    rep = 4 // 2
    y_ref, h_ref = ssd_minimal_discrete(x * dt[..., None], A * dt, B.repeat_interleave(rep, 2),
                                        C.repeat_interleave(rep, 2), chunk,
                                        initial_states=h0[:, None])
    y_c, h_c = ssd_chunked(x, dt, A, B, C, chunk, initial_state=h0)
    y_s, h_s = ssd_sequential(x, dt, A, B, C, initial_state=h0)
    for y, h in ((y_c, h_c), (y_s, h_s)):
        torch.testing.assert_close(y, y_ref, atol=TOL, rtol=TOL)
        torch.testing.assert_close(h, h_ref, atol=TOL, rtol=TOL)


def test_gated_norm_matches_rms_norm_ref():
    from mamba_ssm.ops.triton.layernorm_gated import rms_norm_ref
    for before in (False, True):
        norm = RMSNormGated(24, group_size=12, eps=1e-5, norm_before_gate=before)
        with torch.no_grad():
            norm.weight.copy_(torch.randn(24))
        y, z = torch.randn(3, 5, 24), torch.randn(3, 5, 24)
        ref = rms_norm_ref(y, norm.weight, None, z=z, eps=1e-5, group_size=12,
                           norm_before_gate=before)
        torch.testing.assert_close(norm(y, z), ref, atol=TOL, rtol=TOL)


def _pair_of_mixers(dtype=torch.float64):
    """Our Mamba2 and upstream's Mamba2 holding the same (randomized) weights."""
    from mamba_ssm.modules.mamba2 import Mamba2 as UpMamba2
    cfg = SpikingMambaConfig(d_model=16, n_layer=1, vocab_size=10, d_state=8, headdim=8,
                             ngroups=2, chunk_size=4)
    ours = randomize_(Mamba2(cfg, 0)).to(dtype)
    up = UpMamba2(d_model=16, d_state=8, headdim=8, ngroups=2, chunk_size=4, layer_idx=0,
                  use_mem_eff_path=False, device="cpu", dtype=dtype)
    # same names and shapes: a strict load must succeed
    up.load_state_dict(ours.state_dict(), strict=True)
    return ours.eval(), up.eval()


def test_mixer_forward_and_step_match_upstream_mamba2():
    from mamba_ssm.utils.generation import InferenceParams
    ours, up = _pair_of_mixers()
    u = torch.randn(2, 11, 16, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(ours(u), up(u), atol=TOL, rtol=TOL)
        params = InferenceParams(max_seqlen=11, max_batch_size=2, seqlen_offset=1)
        state = ours.allocate_state(2)
        for t in range(11):
            ref = up(u[:, t:t + 1], inference_params=params)[:, 0]   # upstream Mamba2.step
            torch.testing.assert_close(ours.step(u[:, t], state), ref, atol=TOL, rtol=TOL)
        conv_ref, ssm_ref = params.key_value_memory_dict[0]
        torch.testing.assert_close(state.conv, conv_ref, atol=TOL, rtol=TOL)
        torch.testing.assert_close(state.ssm, ssm_ref, atol=TOL, rtol=TOL)


def test_step_matches_selective_state_update_ref():
    from mamba_ssm.ops.triton.selective_state_update import selective_state_update_ref
    ours, _ = _pair_of_mixers()
    b, H, P, N, G = 3, ours.nheads, ours.headdim, ours.d_state, ours.ngroups
    state = ours.allocate_state(b)
    state.ssm = torch.randn(b, H, P, N, dtype=torch.float64)
    state.conv = torch.randn(b, ours.conv_dim, ours.d_conv, dtype=torch.float64)
    ssm_ref = state.ssm.clone()
    u = torch.randn(b, 16, dtype=torch.float64)
    with torch.no_grad():
        # the same token through upstream's ref kernel, from our module's projections
        z, xBC, dt = ours._project_in(u)
        conv = torch.cat([state.conv[..., 1:], xBC[..., None]], -1)
        xBC = torch.nn.functional.silu((conv * ours.conv1d.weight[:, 0]).sum(-1) + ours.conv1d.bias)
        x, B, C = ours._split_xBC(xBC)
        rep = lambda t: t[:, None].expand(H, P)  # noqa: E731  (per-head -> per-(head, p))
        y_ref = selective_state_update_ref(
            ssm_ref, x.reshape(b, H, P), dt[..., None].expand(b, H, P),
            (-torch.exp(ours.A_log))[:, None, None].expand(H, P, N), B.reshape(b, G, N),
            C.reshape(b, G, N), D=rep(ours.D), dt_bias=rep(ours.dt_bias), dt_softplus=True)
        out_ref = ours._project_out(y_ref.reshape(b, -1), z)
        out = ours.step(u, state)
    torch.testing.assert_close(state.ssm, ssm_ref, atol=TOL, rtol=TOL)
    torch.testing.assert_close(out, out_ref, atol=TOL, rtol=TOL)


# ---------------------------------------------------------------------------------------------
# (b) a whole MambaLMHeadModel checkpoint
# ---------------------------------------------------------------------------------------------
@pytest.fixture()
def saved_upstream(tmp_path):
    up = randomize_(upstream_lm(tiny_mamba_config()))
    folder = tmp_path / "mamba2-tiny"
    up.save_pretrained(str(folder))
    return up, folder


def test_save_pretrained_checkpoint_loads(saved_upstream):
    up, folder = saved_upstream
    cfg = load_config(folder)
    assert (cfg.d_model, cfg.n_layer, cfg.vocab_size, cfg.d_state, cfg.headdim, cfg.ngroups,
            cfg.chunk_size) == (16, 2, 37, 8, 8, 2, 4)
    assert cfg.padded_vocab_size == up.backbone.embedding.weight.shape[0] == 48
    assert not cfg.spiking
    ours = load_checkpoint(folder)
    theirs = up.state_dict()
    assert set(ours.state_dict()) == set(theirs)
    for k, v in ours.state_dict().items():
        assert torch.equal(v, theirs[k]), k
    # our config.json for a dense model carries the same fields mamba_ssm writes
    assert set(cfg.to_mamba_ssm_dict()) == set(json.loads((folder / "config.json").read_text()))


def test_logits_match_upstream_forward_and_decoding(saved_upstream):
    from mamba_ssm.utils.generation import InferenceParams
    up, folder = saved_upstream
    ours = load_checkpoint(folder).eval()
    ids = torch.randint(0, 37, (2, 10))
    with torch.no_grad():
        ref = up(ids).logits                             # upstream parallel forward
        params = InferenceParams(max_seqlen=10, max_batch_size=2, seqlen_offset=1)
        ref_step = torch.stack([up(ids[:, t:t + 1], inference_params=params).logits[:, 0]
                                for t in range(10)], 1)  # upstream decoding
        torch.testing.assert_close(ref_step, ref, atol=TOL, rtol=TOL)
        assert ref.abs().max() > 0.5                     # a meaningful comparison
        torch.testing.assert_close(ours(ids), ref, atol=TOL, rtol=TOL)
        torch.testing.assert_close(ours(ids, scan="sequential"), ref, atol=TOL, rtol=TOL)
        state = ours.allocate_state(2)
        got = torch.stack([ours.step(ids[:, t], state) for t in range(10)], 1)
        torch.testing.assert_close(got, ref_step, atol=TOL, rtol=TOL)


def test_our_dense_checkpoint_loads_in_mamba_ssm(tmp_path):
    """The other direction: a dense model we save is a valid mamba_ssm checkpoint."""
    from mamba_ssm.models.config_mamba import MambaConfig
    from mamba_ssm.models.mixer_seq_simple import MambaLMHeadModel
    from snncompile.models.checkpoint import save_checkpoint
    from snncompile.models.lm import SpikingMambaLM
    cfg = SpikingMambaConfig(d_model=16, n_layer=2, vocab_size=37, d_state=8, headdim=8,
                             ngroups=2, chunk_size=4)
    ours = randomize_(SpikingMambaLM(cfg)).eval()
    save_checkpoint(ours, tmp_path / "ck", format="bin")
    data = json.loads((tmp_path / "ck" / "config.json").read_text())
    up = MambaLMHeadModel(MambaConfig(**data), device="cpu")
    up.load_state_dict(torch.load(tmp_path / "ck" / "pytorch_model.bin", weights_only=True))
    for layer in up.backbone.layers:
        layer.mixer.use_mem_eff_path = False
    ids = torch.randint(0, 37, (1, 9))
    with torch.no_grad():
        torch.testing.assert_close(ours(ids), up.eval()(ids).logits, atol=TOL, rtol=TOL)
