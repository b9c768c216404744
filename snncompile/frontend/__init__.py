"""The model-to-IR frontend: the layer between the IR and the passes.

- `build_graph(config, state_dict=None) -> Graph` and `neuron_node_name(module)`
  (`frontend.mamba2`): the per-token IR graph of a (Spiking)Mamba2 LM config, with the
  parameters of a mamba_ssm-format state dict, or shape-only.
- `frontend.synthetic`: random weights for tests and benchmarks (`random_state_dict`,
  `theta_for_rate`, `expected_rate`, `random_int8`). Random *programs* (lowered and
  calibrated on the simulator) live above the simulator, in `snncompile.sweep.synthetic`.

The verified export (written ONNX checked against PyTorch) is `snncompile.export`, in the top
layer, because its check runs the reference backend.
"""

from snncompile.frontend.mamba2 import build_graph, neuron_node_name

__all__ = ["build_graph", "neuron_node_name"]
