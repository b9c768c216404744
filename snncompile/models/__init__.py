"""SpikingMamba in PyTorch: config, neurons, SGC, the Mamba2 mixer, the LM and its checkpoints.

Import the pieces from their modules (`snncompile.models.lm`, `.mamba2`, `.neurons`, `.sgc`,
`.checkpoint`, `.sidecar`, `.kernels`, `.config`); the names below are re-exported for
convenience.
"""

import importlib

# Lazy re-exports (PEP 562): `import snncompile.models.config` must not pay for torch.
_EXPORTS = {
    "load_checkpoint": "checkpoint", "load_config": "checkpoint", "save_checkpoint": "checkpoint",
    "PUBLIC_CONFIGS": "config", "NeuronConfig": "config", "SpikingMambaConfig": "config",
    "LMState": "lm", "SpikingMambaLM": "lm", "Mamba2": "mamba2", "Mamba2State": "mamba2",
    "SpikeNeuron": "neurons", "SpikeStats": "neurons", "calibrate_theta": "neurons",
    "microsteps": "neurons", "record_spikes": "neurons", "SGC": "sgc",
    "Kernels": "kernels", "select_kernels": "kernels", "use_kernels": "kernels",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"snncompile.models.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'snncompile.models' has no attribute {name!r}")
