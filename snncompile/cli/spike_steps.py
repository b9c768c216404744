"""`snncompile run NET --input x.npy [-o y.npy] [--json [F]]`: a time-stepped network over T
steps on the reference interpreter.

x is a .npy of integer spike counts (T, n_in), one row per step (`load_spike_input`: a
one-line ConfigError / SimulationError for a missing, truncated or foreign file, a wrong
shape, a negative or non-integer count). y is the graph's first output stacked over the
steps (T, d), written atomically. `--json` gives `steps_doc` (snncompile-run-steps/1,
docs/output-formats.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from snncompile.errors import ConfigError, SimulationError

RUN_STEPS_FORMAT = "snncompile-run-steps/1"


def load_spike_input(path: str, n_in: int) -> np.ndarray:
    """The (T, n_in) int64 spike counts stored in the .npy file `path` (module docstring)."""
    from snncompile.ir.interpreter import check_spike_steps

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"--input {path!r}: no such file")
    try:
        with open(p, "rb") as f:
            x = np.load(f, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise ConfigError(f"--input {path!r}: not a readable .npy file "
                          f"({type(exc).__name__}: {str(exc)[:120]})") from None
    if not isinstance(x, np.ndarray):
        raise ConfigError(f"--input {path!r}: not a .npy array (an .npz archive?)")
    try:
        return check_spike_steps(x, n_in)
    except SimulationError as exc:  # name the option and the file
        raise SimulationError(f"--input {path!r}: {exc}") from None


def save_npy(path: str, arr: np.ndarray) -> None:
    """Write `arr` as .npy to `path` atomically (np.save on a file handle: no suffix added)."""
    from snncompile.atomic import atomic_path

    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, arr, allow_pickle=False)


def steps_doc(model: str, input_path: str, device: str, graph, result) -> dict[str, Any]:
    """The `run --input --json` document (snncompile-run-steps/1)."""
    from snncompile.cli.run_cmd import counters_doc

    c = result.counters
    T = c.tokens
    counters = counters_doc(c)
    per_step = counters.pop("per_token")
    counters.pop("tokens")
    layers = []
    for n in graph.neurons():
        nc = c.node(n.name).counts
        layers.append({"name": n.name, "op": n.op_type, "block": n.block,
                       "neurons": int(n.op.neuron_updates()), "spikes": int(nc.spikes),
                       "firing_rate": nc.spikes / nc.neuron_updates if nc.neuron_updates else 0.0})
    (n_in,) = next(iter(graph.input_specs().values()))[1]
    return {"format": RUN_STEPS_FORMAT, "model": str(model), "input": str(input_path),
            "device": device, "steps": T, "inputs": int(n_in),
            "outputs": [{"name": v, "shape": list(a.shape), "dtype": a.dtype.name}
                        for v, a in zip(graph.outputs, result.outputs)],
            "spikes_per_layer": layers, **counters, "per_step": per_step}
