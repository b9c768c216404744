"""The one counter record: what executing ops cost, for one node, one layer or one run.

`Counts` is frozen and addable (`a + b`, `a.scaled(k)`). Values are ints when measured
(reference, simulator) and floats when expected (analytic mode at a firing rate).

  macs / acs                  multiply-accumulates and accumulates as the SNN executes them
  dense_macs / dense_acs      the same op's arithmetic in the dense (ANN) model; dense_acs
                              are the additions the dense model prices as AC (residual adds)
  spikes                      spike events emitted (sum |s| in the D-micro-step form; non-zero
                              levels when each level travels as one graded event)
  input_spikes                sum |s| consumed by an op with spike inputs
  neuron_updates              spike-neuron state updates (time-stepped neurons: the active
                              ones, whose state changed or that received input)
  neuron_accesses             neuron state reads of a time-stepped core: every mapped neuron,
                              every step (0 where a model does not count them)
  weight_bytes_read           parameter bytes read (weight SRAM of spiked ops, per event)
  state_bytes_read / _written accumulator, neuron, conv and SSM state traffic
  dense_weight_bytes_read     the dense model's parameter reads (None: unknown)
  dense_state_bytes_read / _written   the dense model's state traffic
  spike_messages / noc_hops   NoC messages and their hops
  noc_hops_ns                 the north-south ones among noc_hops (X-Y routing: a message from
                              core a to b makes |dx| east-west and |dy| north-south tile hops)
  cycles                      simulated cycles

`Op.counts(spike_sum)` fills the arithmetic fields; executors and the analytic mode fill the
rest. `NodeCounts` labels one node's record; `RunCounts` is a whole run (nodes in graph order,
the token count, simulated time, free-form `meta`) and is what energy pricing and sweeps read.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Iterable, Mapping

Number = int | float


@dataclass(frozen=True)
class Counts:
    """Counters of one node, layer or run (module docstring)."""

    macs: Number = 0
    acs: Number = 0
    dense_macs: Number = 0
    dense_acs: Number = 0
    spikes: Number = 0
    input_spikes: Number = 0
    neuron_updates: Number = 0
    neuron_accesses: Number = 0
    weight_bytes_read: Number = 0
    state_bytes_read: Number = 0
    state_bytes_written: Number = 0
    dense_weight_bytes_read: Number | None = 0
    dense_state_bytes_read: Number = 0
    dense_state_bytes_written: Number = 0
    spike_messages: Number = 0
    noc_hops: Number = 0
    noc_hops_ns: Number = 0
    cycles: Number = 0

    def __add__(self, other: "Counts") -> "Counts":
        vals = {}
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            vals[f.name] = None if a is None or b is None else a + b
        return Counts(**vals)

    def scaled(self, k: Number) -> "Counts":
        """The counts of `k` repetitions (e.g. k tokens)."""
        return Counts(**{f.name: None if getattr(self, f.name) is None else getattr(self, f.name) * k
                         for f in fields(self)})

    def replace(self, **changes: Any) -> "Counts":
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, Number | None]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @property
    def firing_rate(self) -> float:
        """Spikes per neuron update (per micro-step slot in the D-micro-step form)."""
        return self.spikes / self.neuron_updates if self.neuron_updates else 0.0


COUNT_KEYS: tuple[str, ...] = tuple(f.name for f in fields(Counts))


def sum_counts(items: Iterable[Counts]) -> Counts:
    out = Counts()
    for c in items:
        out = out + c
    return out


@dataclass(frozen=True)
class NodeCounts:
    """One node's `Counts`, labelled with the node's name, op type and block index."""

    name: str
    op: str
    block: int | None
    counts: Counts = field(default_factory=Counts)

    def __add__(self, other: "NodeCounts") -> "NodeCounts":
        if other.name != self.name:
            raise ValueError(f"cannot add counts of node {other.name!r} to {self.name!r}")
        return NodeCounts(self.name, self.op, self.block, self.counts + other.counts)

    def counter(self, key: str) -> Number | None:
        return getattr(self.counts, key)

    def __getattr__(self, key: str) -> Any:
        if key in COUNT_KEYS:
            return getattr(self.counts, key)
        raise AttributeError(key)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "op": self.op, "block": self.block, **self.counts.as_dict()}


@dataclass(frozen=True)
class RunCounts:
    """A run: per-node counts (graph order) over `tokens` tokens.

    time_s    simulated time (None: not simulated)      clock_hz  the chip clock (or None)
    cores     per-core counters of a simulated run (plain records; sim.json `cores`)
    meta      where the counts came from (mode, hardware, rates, ...), carried into reports
    """

    nodes: tuple[NodeCounts, ...]
    tokens: int = 1
    time_s: float | None = None
    clock_hz: float | None = None
    cores: tuple[Mapping[str, Any], ...] = ()
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __add__(self, other: "RunCounts") -> "RunCounts":
        """Two runs of the same graph, one after the other."""
        if [n.name for n in self.nodes] != [n.name for n in other.nodes]:
            raise ValueError("cannot add the counts of runs over different nodes")
        time_s = (None if self.time_s is None or other.time_s is None
                  else self.time_s + other.time_s)
        return dataclasses.replace(
            self, nodes=tuple(a + b for a, b in zip(self.nodes, other.nodes)),
            tokens=self.tokens + other.tokens, time_s=time_s, cores=())

    def node(self, name: str) -> NodeCounts:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def totals(self) -> Counts:
        return sum_counts(n.counts for n in self.nodes)

    def total(self, key: str) -> Number:
        return sum(n.counter(key) for n in self.nodes)

    def select(self, keep: Callable[[NodeCounts], bool]) -> "RunCounts":
        """The same run restricted to the nodes `keep` accepts."""
        return dataclasses.replace(self, nodes=tuple(n for n in self.nodes if keep(n)))

    def with_meta(self, **meta: Any) -> "RunCounts":
        return dataclasses.replace(self, meta={**self.meta, **meta})

    def as_dict(self) -> dict[str, Any]:
        """Plain data: tokens, per-node records (with each neuron's firing rate) and totals."""
        nodes = []
        for n in self.nodes:
            d = n.as_dict()
            if n.counts.neuron_updates:
                d["firing_rate"] = n.counts.firing_rate
            nodes.append(d)
        return {"tokens": self.tokens, "layers": nodes, "totals": self.totals().as_dict()}

    def per_token(self) -> Counts:
        """Totals divided by the token count."""
        return self.totals().scaled(1 / self.tokens)
