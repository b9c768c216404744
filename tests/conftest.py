"""Test-wide settings: one torch thread per test process (CI machines have 2 cores).

Shared fixtures (the shapes several test modules build their models from):
- `tiny_config(**kw)`: the smallest SpikingMambaConfig of the model tests (d_model 16, 2 layers,
  vocab 37, d_state 8, headdim 8, chunk 4), fields overridden by `kw`.
- `spiking_config`: the 2-layer spiking config (d_model 32, vocab 64, d_state 8, headdim 16)
  the lowering, pass and analytic-rate tests build random-weight graphs from.
- `calibrated_student(seed, neuron=None)`: a tiny SpikingMamba student calibrated from a random
  teacher (d_model 32, 2 layers, vocab 256, d_state 8, headdim 16, chunk 8; seeded with
  `seed`), its neurons `neuron` (the config's default when None).
- `torch_seed`: `torch.manual_seed(0)` before each test (`pytest.mark.usefixtures`).
- `restore_torch_threads`: a module that changes torch's thread count gets it back afterwards.
"""

import pytest
import torch

from snncompile.models.config import NeuronConfig, SpikingMambaConfig

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_config():
    def make(**kw) -> SpikingMambaConfig:
        base = dict(d_model=16, n_layer=2, vocab_size=37, d_state=8, headdim=8, ngroups=1,
                    chunk_size=4)
        base.update(kw)
        return SpikingMambaConfig(**base)
    return make


@pytest.fixture(scope="session")
def spiking_config() -> SpikingMambaConfig:
    return SpikingMambaConfig(d_model=32, n_layer=2, vocab_size=64, d_state=8, headdim=16,
                              spiking=True)


@pytest.fixture(scope="session")
def calibrated_student():
    from snncompile.models.lm import SpikingMambaLM

    def make(seed: int, neuron: NeuronConfig | None = None) -> SpikingMambaLM:
        torch.manual_seed(seed)
        cfg = SpikingMambaConfig(d_model=32, n_layer=2, vocab_size=256, d_state=8, headdim=16,
                                 chunk_size=8)
        teacher = SpikingMambaLM(cfg)
        scfg = cfg.replace(spiking=True) if neuron is None else cfg.replace(spiking=True,
                                                                            neuron=neuron)
        return SpikingMambaLM.from_teacher(teacher, scfg,
                                           calibration=[torch.randint(0, 256, (2, 16))])
    return make


@pytest.fixture
def torch_seed():
    torch.manual_seed(0)


@pytest.fixture(scope="module")
def restore_torch_threads():
    old = torch.get_num_threads()
    yield
    torch.set_num_threads(old)
