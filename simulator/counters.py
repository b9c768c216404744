"""The simulator's tally: int64 counters per node and per core, totals over all tokens.

The hot loop adds into these arrays; `Tally.run_counts(...)` turns them into the one public
record, `snncompile.ir.counts.RunCounts` (what energy pricing, sweeps and sim.json read).
Per-node keys (the sim.json layer record, docs/architecture.md):

  acs                 accumulates (SpikedLinear: d_out * sum|s|; Add: d)
  macs                multiply-accumulates executed (dense unit; Op.counts)
  dense_macs          MACs the same op costs in the dense (ANN) model (Op.counts)
  spikes              spike events emitted (SpikeEncode: sum|s| binary, non-zeros graded)
  neuron_updates      spike-neuron state updates (SpikeEncode: d*D binary, d graded;
                      time-stepped neurons: the active ones)
  neuron_accesses     time-stepped neurons: every mapped neuron, every step (0 otherwise)
  weight_bytes_read   weight SRAM (spiked) or dense-parameter bytes read
  state_bytes_read    accumulator / neuron / conv / SSM state bytes read
  state_bytes_written the same, written
  spike_messages      NoC messages: spikes delivered to tile cores, partial-sum read-outs to
                      the host, dense values passed between different hosts
  noc_hops            sum over messages of their hop count
  noc_hops_ns         the north-south ones among them
  cycles              the layer's cycles under simulator.timing

Per-core keys (an extension, `cores` in sim.json): acs, weight_bytes_read, messages_received
(spike messages into the core's tiles), busy_cycles (AC pipeline), dense_cycles (work of the
dense unit at that core: the shared unit's position, or a per-core unit's host).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

LAYER_KEYS = ("acs", "macs", "dense_macs", "spikes", "neuron_updates", "neuron_accesses",
              "weight_bytes_read", "state_bytes_read", "state_bytes_written", "spike_messages",
              "noc_hops", "noc_hops_ns", "cycles")
# keys a reader treats as 0 when a file (an older writer) does not have them
OPTIONAL_LAYER_KEYS = ("neuron_accesses", "noc_hops_ns")
CORE_KEYS = ("acs", "weight_bytes_read", "messages_received", "busy_cycles", "dense_cycles")
K = {k: i for i, k in enumerate(LAYER_KEYS)}
KC = {k: i for i, k in enumerate(CORE_KEYS)}


@dataclass
class Tally:
    """The simulator's running int64 counters (totals over `tokens` tokens)."""

    names: tuple[str, ...]
    ops: tuple[str, ...]
    blocks: tuple[int | None, ...]
    n_cores: int
    layers: np.ndarray = field(default=None)  # type: ignore[assignment]
    cores: np.ndarray = field(default=None)  # type: ignore[assignment]
    tokens: int = 0

    def __post_init__(self) -> None:
        if self.layers is None:
            self.layers = np.zeros((len(self.names), len(LAYER_KEYS)), np.int64)
        if self.cores is None:
            self.cores = np.zeros((self.n_cores, len(CORE_KEYS)), np.int64)

    def reset(self) -> None:
        self.layers[:] = 0
        self.cores[:] = 0
        self.tokens = 0

    def copy(self) -> "Tally":
        return Tally(self.names, self.ops, self.blocks, self.n_cores, self.layers.copy(),
                           self.cores.copy(), self.tokens)

    @property
    def cycles(self) -> int:
        return int(self.layers[:, K["cycles"]].sum())

    def totals(self) -> dict[str, int]:
        s = self.layers.sum(axis=0)
        return {k: int(s[i]) for i, k in enumerate(LAYER_KEYS)}

    def layer(self, name: str) -> dict[str, int]:
        i = self.names.index(name)
        return {k: int(self.layers[i, j]) for j, k in enumerate(LAYER_KEYS)}

    def layer_dicts(self) -> list[dict]:
        out = []
        for i, name in enumerate(self.names):
            d = {"name": name, "op": self.ops[i], "block": self.blocks[i]}
            d.update({k: int(self.layers[i, j]) for j, k in enumerate(LAYER_KEYS)})
            out.append(d)
        return out

    def core_dicts(self, hw) -> list[dict]:
        """Cores that did anything, with their mesh coordinates."""
        out = []
        for c in np.nonzero(self.cores.any(axis=1))[0]:
            r, col = hw.coord(int(c))
            d = {"core": int(c), "row": r, "col": col}
            d.update({k: int(self.cores[c, j]) for j, k in enumerate(CORE_KEYS)})
            out.append(d)
        return out
