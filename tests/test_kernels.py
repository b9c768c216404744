"""The kernel hook of the Mamba2 mixer (snncompile/models/kernels.py): on CUDA the mixers call
mamba_ssm's Triton kernels, with the same modules and the same code around the calls as on CPU.
Here mamba_ssm's own pure-torch references stand in for the Triton kernels (same contracts:
`chunk_scan_ref` wraps `ssd_minimal_discrete` like `mamba_chunk_scan_combined`,
`layernorm_gated.rms_norm_ref` is `rmsnorm_fn`'s reference, in the input dtype), so the CUDA path's glue (argument
layout, softplus/dt_bias/D handled by the kernel, dtypes, gradients, the trainer's wiring) runs
on CPU."""

from __future__ import annotations

import pytest
import torch

from mamba_ssm_stub import chunk_scan_ref, import_mamba_ssm
from snncompile.data.corpus import load_split
from snncompile.models.config import NeuronConfig, SpikingMambaConfig
from snncompile.models.kernels import Kernels, kernels_name, select_kernels, use_kernels
from snncompile.models.lm import SpikingMambaLM
from snncompile.training import trainer
from snncompile.training.options import TrainOptions

CFG = SpikingMambaConfig(d_model=32, n_layer=2, vocab_size=256, d_state=8, headdim=8,
                         ngroups=2, chunk_size=8)


def reference_kernels() -> Kernels:
    import_mamba_ssm()
    from mamba_ssm.ops.triton.layernorm_gated import rms_norm_ref

    def gated_norm(x, weight, bias, z=None, eps=1e-6, group_size=None, norm_before_gate=True):
        return rms_norm_ref(x, weight, bias, z=z, eps=eps, group_size=group_size,
                            norm_before_gate=norm_before_gate, upcast=False)
    return Kernels("mamba_ssm-reference", chunk_scan=chunk_scan_ref, gated_norm=gated_norm)


@pytest.mark.parametrize("spiking", [False, True])
def test_kernel_path_equals_pytorch_path_forward_and_backward(spiking):
    torch.manual_seed(0)
    cfg = CFG.replace(spiking=spiking, sgc=spiking, neuron=NeuronConfig(theta=0.05))
    model = SpikingMambaLM(cfg).double()
    ids = torch.randint(0, 256, (2, 21))          # not a multiple of the chunk: padding too
    ref = model(ids)
    ref.pow(2).mean().backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    use_kernels(model, reference_kernels())
    assert kernels_name(model) == "mamba_ssm-reference"
    got = model(ids)
    got.pow(2).mean().backward()
    torch.testing.assert_close(got, ref, atol=1e-10, rtol=1e-10)
    for n, p in model.named_parameters():
        if n in grads:
            torch.testing.assert_close(p.grad, grads[n], atol=1e-10, rtol=1e-8, msg=n)
    # decoding (step) and prefill with a state keep the PyTorch code
    use_kernels(model, None)
    assert kernels_name(model) == "torch"


def test_trainer_wires_the_kernels_of_its_device(monkeypatch):
    assert select_kernels("cpu") is None
    torch.set_num_threads(1)
    opts = TrainOptions(stage="teacher", steps=3, batch=2, seq_len=16, warmup=1)
    data = load_split()
    plain = trainer.train_stage(opts, CFG, data=data, evaluate_at_end=False)
    assert plain.kernels == "torch"
    monkeypatch.setattr(trainer, "select_kernels", lambda device: reference_kernels())
    fused = trainer.train_stage(opts, CFG, data=data, evaluate_at_end=False)
    assert fused.kernels == "mamba_ssm-reference"
    torch.testing.assert_close(torch.tensor(fused.losses), torch.tensor(plain.losses),
                               rtol=1e-5, atol=0)
    assert kernels_name(fused.model) == "torch"   # handed back on the CPU, PyTorch code
