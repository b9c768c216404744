"""SpikingMamba in PyTorch: config, neurons, SGC, the Mamba2 mixer, the LM and its checkpoints.

Import the pieces from their modules (`snncompile.models.lm`, `.mamba2`, `.neurons`, `.sgc`,
`.checkpoint`, `.config`); the names below are re-exported for convenience.
"""

from snncompile.models.checkpoint import load_checkpoint, load_config, save_checkpoint
from snncompile.models.config import PUBLIC_CONFIGS, NeuronConfig, SpikingMambaConfig
from snncompile.models.lm import LMState, SpikingMambaLM
from snncompile.models.mamba2 import Mamba2, Mamba2State
from snncompile.models.neurons import (SpikeNeuron, SpikeStats, calibrate_theta, microsteps,
                                       record_spikes)
from snncompile.models.sgc import SGC

__all__ = [
    "LMState", "Mamba2", "Mamba2State", "NeuronConfig", "PUBLIC_CONFIGS", "SGC", "SpikeNeuron",
    "SpikeStats", "SpikingMambaConfig", "SpikingMambaLM", "calibrate_theta", "load_checkpoint",
    "load_config", "microsteps", "record_spikes", "save_checkpoint",
]
