"""The energy model: a pure function from counters and a cost table to frozen, additive
energy records.

For every node (energies in pJ; p_k the table's price of key k, 0 when absent):

  SNN   ac      = p_ac * acs
        mac     = p_mac * macs
        neuron  = p_neuron_update * neuron_updates + p_neuron_access * neuron_accesses
                  + p_spike * spikes
        memory  = p_weight_read * weight_bytes_read
                  + p_state_read * state_bytes_read + p_state_write * state_bytes_written
                  split three ways (`memory_weights` + `memory_state` + `memory_buffers`):
                  weights  = p_weight_read * weight_bytes_read
                  buffers  = the state traffic of a node with spike inputs (SpikedLinear: the
                             accumulator buffer its incoming spike messages are summed into)
                  state    = the state traffic of every other node (conv, SSM, neuron state)
        noc     = p_spike_message * spike_messages + p_noc_hop * noc_hops
                  (a table with p_noc_hop_ns: p_noc_hop * (noc_hops - noc_hops_ns)
                  + p_noc_hop_ns * noc_hops_ns, the hops by direction)
        static  = P_static[W] * time_s * share,  share = cycles / total cycles
                  (equal shares when no node has cycles), times 1e12 pJ/J
  ANN   ac      = p_ac * dense_acs            (the dense Mamba2 model on the same technology)
        mac     = p_mac * dense_macs
        memory  = p_weight_read * dense_weight_bytes_read
                  + p_state_read * dense_state_bytes_read + p_state_write * dense_state_bytes_written
        neuron = noc = static = 0

Totals are sums over nodes, so per-block and whole-model figures add up exactly.
`ratio = E_ANN / E_SNN` over every priced component; when the dense weight reads of some
spiked node are unknown (a sim.json without `dense_weight_bytes_read`) and the table prices
weight reads, the ratio falls back to arithmetic only (`ratio_basis = "compute"`).
`ratio_compute` (AC + MAC only) is the paper-style figure and is always given.
A non-zero counter the table does not price is listed in `unpriced`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Iterable, Mapping

from snncompile.ir.counts import NodeCounts, RunCounts
from snncompile.energy.table import COMPONENTS, PRICES, CostTable
from snncompile.ir.ops import OPS

PJ_PER_J = 1e12


@dataclass(frozen=True)
class Energy:
    """Energy by component, in pJ. Records add: `a + b`, `sum_energy(items)`.

    `memory` = `memory_weights` + `memory_state` + `memory_buffers` (weight reads, state
    traffic, spike/message buffers); the three are a split of `memory`, not added to `total`."""

    ac: float = 0.0
    mac: float = 0.0
    neuron: float = 0.0
    memory: float = 0.0
    noc: float = 0.0
    static: float = 0.0
    memory_weights: float = 0.0
    memory_state: float = 0.0
    memory_buffers: float = 0.0

    @property
    def total(self) -> float:
        return self.ac + self.mac + self.neuron + self.memory + self.noc + self.static

    @property
    def compute(self) -> float:
        """Arithmetic only (AC + MAC): the paper-style energy."""
        return self.ac + self.mac

    def __add__(self, other: "Energy") -> "Energy":
        return Energy(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def as_dict(self) -> dict[str, float]:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["total"] = self.total
        return d


def sum_energy(items: Iterable[Energy]) -> Energy:
    out = Energy()
    for e in items:
        out = out + e
    return out


@dataclass(frozen=True)
class LayerEnergy:
    """One node: its counters, SNN energy and dense (ANN) baseline energy."""

    counters: NodeCounts
    snn: Energy
    ann: Energy

    @property
    def name(self) -> str:
        return self.counters.name

    @property
    def op(self) -> str:
        return self.counters.op

    @property
    def block(self) -> int | None:
        return self.counters.block


@dataclass(frozen=True)
class BlockEnergy:
    """A group of nodes: one Mamba2 block (`layers.{i}`), or a node outside the blocks."""

    label: str
    block: int | None
    nodes: tuple[LayerEnergy, ...]

    @property
    def snn(self) -> Energy:
        return sum_energy(n.snn for n in self.nodes)

    @property
    def ann(self) -> Energy:
        return sum_energy(n.ann for n in self.nodes)

    def total(self, key: str) -> float:
        return sum(n.counters.counter(key) for n in self.nodes)


@dataclass(frozen=True)
class EnergyReport:
    """The priced run. All energies in pJ over `counters.tokens` tokens."""

    table: CostTable
    counters: RunCounts
    layers: tuple[LayerEnergy, ...]
    unpriced: Mapping[str, float]
    notes: tuple[str, ...]
    ann_memory_known: bool

    @property
    def snn(self) -> Energy:
        return sum_energy(l.snn for l in self.layers)

    @property
    def ann(self) -> Energy:
        return sum_energy(l.ann for l in self.layers)

    @property
    def tokens(self) -> int:
        return self.counters.tokens

    @property
    def meta(self) -> Mapping[str, Any]:
        return self.counters.meta

    @property
    def ratio_basis(self) -> str:
        return "all" if self.ann_memory_known else "compute"

    @property
    def ratio(self) -> float | None:
        """E_ANN / E_SNN over every priced component (see `ratio_basis`)."""
        if not self.ann_memory_known:
            return self.ratio_compute
        snn = self.snn.total
        return self.ann.total / snn if snn > 0 else None

    @property
    def ratio_compute(self) -> float | None:
        """The paper-style ratio: (AC + MAC) of the dense model over (AC + MAC) of the SNN."""
        snn = self.snn.compute
        return self.ann.compute / snn if snn > 0 else None

    def blocks(self) -> list[BlockEnergy]:
        """Nodes grouped per Mamba2 block, in graph order; nodes outside blocks alone."""
        groups: list[BlockEnergy] = []
        current: list[LayerEnergy] = []
        current_block: int | None = None

        def flush() -> None:
            if current:
                label = f"layers.{current_block}" if current_block is not None else current[0].name
                groups.append(BlockEnergy(label, current_block, tuple(current)))

        for l in self.layers:
            if l.block is None or l.block != current_block:
                flush()
                current = [l]
                current_block = l.block
            else:
                current.append(l)
        flush()
        return groups


def has_spike_inputs(op: str) -> bool:
    """Whether an op type consumes spikes (its state traffic is a spike/message buffer)."""
    cls = OPS.get(op)
    return cls is not None and "spike" in cls.in_kinds


def _hop_energy(c: NodeCounts, t: CostTable) -> float:
    """The hops' energy: by direction when the table prices north-south hops apart."""
    if "noc_hop_ns" in t.prices:
        return (t.per_unit("noc_hop") * (c.noc_hops - c.noc_hops_ns)
                + t.per_unit("noc_hop_ns") * c.noc_hops_ns)
    return t.per_unit("noc_hop") * c.noc_hops


def _snn_energy(c: NodeCounts, t: CostTable, static_pj: float) -> Energy:
    p = t.per_unit
    weights = p("weight_read") * c.weight_bytes_read
    state = p("state_read") * c.state_bytes_read + p("state_write") * c.state_bytes_written
    buffered = has_spike_inputs(c.op)
    return Energy(
        ac=p("ac") * c.acs,
        mac=p("mac") * c.macs,
        neuron=(p("neuron_update") * c.neuron_updates + p("neuron_access") * c.neuron_accesses
                + p("spike") * c.spikes),
        memory=weights + state,
        noc=p("spike_message") * c.spike_messages + _hop_energy(c, t),
        static=static_pj,
        memory_weights=weights,
        memory_state=0.0 if buffered else state,
        memory_buffers=state if buffered else 0.0,
    )


def _ann_energy(c: NodeCounts, t: CostTable) -> Energy:
    p = t.per_unit
    dense_wb = c.dense_weight_bytes_read or 0
    weights = p("weight_read") * dense_wb
    state = (p("state_read") * c.dense_state_bytes_read
             + p("state_write") * c.dense_state_bytes_written)
    return Energy(
        ac=p("ac") * c.dense_acs,
        mac=p("mac") * c.dense_macs,
        memory=weights + state,
        memory_weights=weights,
        memory_state=state,
    )


def price(counters: RunCounts, table: CostTable) -> EnergyReport:
    """Price `counters` with `table` (pure: no I/O, inputs untouched)."""
    layers = counters.nodes
    notes: list[str] = []
    static_w = table.per_unit("static_power")
    static_total_pj = 0.0
    if "static_power" in table.prices:
        if counters.time_s is None:
            notes.append("static power not priced: no simulated time (analytic mode)")
        else:
            static_total_pj = static_w * counters.time_s * PJ_PER_J
    else:
        why = table.not_priced.get("static_power", "the table gives no figure")
        notes.append(f"static power not priced: {why}")
    total_cycles = sum(l.cycles for l in layers)
    if total_cycles > 0:
        shares = [l.cycles / total_cycles for l in layers]
    else:
        shares = [1.0 / len(layers)] * len(layers) if layers else []

    priced = [LayerEnergy(l, _snn_energy(l, table, static_total_pj * s), _ann_energy(l, table))
              for l, s in zip(layers, shares)]

    unpriced: dict[str, float] = {}
    for key, rule in PRICES.items():
        if key in table.prices or rule.counter == "time_s":
            continue
        if key == "noc_hop_ns" and "noc_hop" in table.prices:
            continue                     # priced with the other hops
        n = sum(l.counter(rule.counter) for l in layers)
        if n:
            unpriced[rule.counter] = n
    ann_memory_known = True
    if table.per_unit("weight_read") > 0:
        missing = [l.name for l in layers if l.dense_weight_bytes_read is None]
        if missing:
            ann_memory_known = False
            notes.append(f"dense weight reads unknown for {len(missing)} node(s) (e.g. "
                         f"{missing[0]!r}); the ratio is arithmetic only (AC + MAC)")
    return EnergyReport(table, counters, tuple(priced), unpriced, tuple(notes), ann_memory_known)
