"""The simulator: the NumPy executor with the spiking ops run on the cores, counting everything.

`Simulator(program)` is `simulator.executor.NumpyExecutor` (the IR's shared walk) with two
runners overridden:
  SpikeEncode   levels s = clip(round_half_even(x / theta), lo, hi) (kernels.encode_levels);
  SpikedLinear  event-driven on the cores: kernels.accumulate_binary (D micro-steps of signed
                spikes) or accumulate_graded (one event per non-zero input), int32
                accumulators, then y = (input_scale * weight_scale) * acc in float64, exactly
                as the reference interpreter scales; cycles, messages and hops from
                simulator.timing.spiked_layer_cost on the program's mapping.
Every other op runs the executor's float64 runner on the dense unit and is counted from the
op's own facts (`Op.counts`, `param_reads`, `state_elements`, `dense_work`). Per-token
constants (dense MACs, parameter bytes, dense cycles, values sent between hosts) are
precomputed once per node; the per-token cost of counting is one vector add plus the
per-spike kernel counters.

API: `Simulator(program, encoding=None)`; `reset()`; `step(token, keep_values=False) -> logits`
(float64 (V,)); `run(tokens) -> [logits]`; `generate(prompt_ids, max_new_tokens,
on_token=None) -> [ids]` (greedy over the real vocabulary, as the reference's protocol);
`counters` -> `RunCounts` (totals since the last reset, with the dense twin's fields);
`tally` (the raw int64 arrays); `values` (after keep_values: every value, plus `<node>.acc`
integer accumulators and `<node>.frames` binary spike trains).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from snncompile.backends.accum.program import Program
from snncompile.errors import SimulationError
from snncompile.ir.counts import Counts, NodeCounts, RunCounts
from snncompile.simulator import timing
from snncompile.simulator.counters import CORE_KEYS, LAYER_KEYS, KC, K, Tally
from snncompile.simulator.executor import NumpyExecutor
from snncompile.simulator.kernels import (accumulate_binary, accumulate_graded, encode_levels,
                                          spike_frames)


class SpikedLayer:
    """One SpikedLinear on its tiles: the kernels, the timing model and its counters.

    `SpikedLayer(WT, scale, layer_map, host, hw, encoding)`; `run(s, row, cores)` returns
    y = scale * (WT^T s) (float64) and adds the layer's counters to `row` (a LAYER_KEYS
    vector) and to `cores` (n_cores x CORE_KEYS). `acc` holds the last integer accumulator.
    """

    def __init__(self, WT: np.ndarray, scale: np.ndarray, lm, host: int, hw, encoding: str):
        if not (WT.flags.c_contiguous and WT.dtype == np.int8 and WT.shape == (lm.d_in, lm.d_out)):
            raise SimulationError(f"layer {lm.name!r}: weights must be C-contiguous int8 "
                                  f"({lm.d_in}, {lm.d_out}) input-major")
        self.name = lm.name
        self.WT, self.hw, self.encoding = WT, hw, encoding
        self.scale = np.asarray(scale, np.float64)
        self.row_block = np.repeat(np.arange(lm.R, dtype=np.int32), np.diff(lm.row_splits))
        tiles = lm.tiles()
        cores_used = sorted({t[4] for t in tiles})
        slot_of = {c: i for i, c in enumerate(cores_used)}
        self.tile_rb = np.array([t[0] for t in tiles], np.int64)
        self.tile_slot = np.array([slot_of[t[4]] for t in tiles], np.int64)
        self.tile_cols = np.array([t[3] for t in tiles], np.int64)
        self.tile_passes = -(-self.tile_cols // hw.ac_lanes)
        self.tile_row_bytes = np.array([hw.row_bytes(t[3]) for t in tiles], np.int64)
        out_xy = np.array([hw.hops_xy(t[4], host) for t in tiles], np.int64).reshape(-1, 2)
        self.tile_out_hops = out_xy.sum(axis=1)
        self.tile_out_hops_ns = np.ascontiguousarray(out_xy[:, 1])
        pairs = [(r, c) for r in range(lm.R) for c in lm.dest_cores(r)]
        self.pair_rb = np.array([r for r, _ in pairs], np.int64)
        self.pair_slot = np.array([slot_of[c] for _, c in pairs], np.int64)
        pair_xy = np.array([hw.hops_xy(host, c) for _, c in pairs], np.int64).reshape(-1, 2)
        self.pair_hops = pair_xy.sum(axis=1)
        self.pair_hops_ns = np.ascontiguousarray(pair_xy[:, 1])
        self.slot_core = np.array(cores_used, np.int64)
        self.D = lm.D
        S = lm.D if encoding == "binary" else 1
        self.mult = 1 if encoding == "binary" else hw.graded_mult_cycles
        self.acc = np.zeros(lm.d_out, np.int32)
        self.counts = np.zeros((S, lm.R), np.int64)
        self.abs_sum = np.zeros(lm.R, np.int64)
        self.totals = np.zeros(timing.N_TOTALS, np.int64)

    def run(self, s: np.ndarray, row: np.ndarray, cores: np.ndarray) -> np.ndarray:
        """Accumulate spike levels `s` (int32 (d_in,)); count; return y (float64 (d_out,))."""
        if self.encoding == "binary":
            accumulate_binary(self.WT, s, self.row_block, self.D, self.acc, self.counts,
                              self.abs_sum)
        else:
            accumulate_graded(self.WT, s, self.row_block, self.acc, self.counts, self.abs_sum)
        hw = self.hw
        timing.spiked_layer_cost(
            self.counts, self.abs_sum, self.tile_rb, self.tile_slot, self.tile_cols,
            self.tile_passes, self.tile_row_bytes, self.tile_out_hops, self.pair_rb,
            self.pair_hops, len(self.slot_core), self.mult, hw.pipeline_depth,
            hw.hop_latency_cycles, hw.barrier_cycles, hw.state_bytes, self.slot_core,
            cores[:, KC["acs"]], cores[:, KC["busy_cycles"]], cores[:, KC["weight_bytes_read"]],
            cores[:, KC["messages_received"]], self.pair_slot, self.pair_hops_ns,
            self.tile_out_hops_ns, self.totals)
        t = self.totals
        row[K["cycles"]] += t[timing.T_CYCLES]
        row[K["acs"]] += t[timing.T_ACS]
        row[K["weight_bytes_read"]] += t[timing.T_WBYTES]
        row[K["state_bytes_read"]] += t[timing.T_SREAD]
        row[K["state_bytes_written"]] += t[timing.T_SWRITE]
        row[K["spike_messages"]] += t[timing.T_MSGS]
        row[K["noc_hops"]] += t[timing.T_HOPS]
        row[K["noc_hops_ns"]] += t[timing.T_HOPS_NS]
        return self.scale * self.acc.astype(np.float64)


class Simulator(NumpyExecutor):
    """Cycle-counting simulator of a Program on its HardwareSpec (module docstring)."""

    counting = False  # the tally counts; the walk's per-op accounting is not needed

    def __init__(self, program: Program, encoding: str | None = None) -> None:
        hw = program.hardware
        self.program = program
        self.hw = hw
        self.encoding = encoding or hw.spike_encoding
        if self.encoding not in ("binary", "graded"):
            raise SimulationError(f"encoding must be 'binary' or 'graded', got {self.encoding!r}")
        g = program.graph
        super().__init__(g)
        self.nodes = list(g.nodes)
        self.row = {n.name: i for i, n in enumerate(self.nodes)}
        self.tally = Tally(tuple(n.name for n in self.nodes), tuple(n.op_type for n in self.nodes),
                           tuple(n.block for n in self.nodes), hw.cores)
        self._static = np.zeros((len(self.nodes), len(LAYER_KEYS)), np.int64)
        self._static_cores = np.zeros((hw.cores, len(CORE_KEYS)), np.int64)
        self._plans: dict[str, SpikedLayer] = {}
        producers = g.producers()
        shapes = g.value_shapes()
        hosts = program.mapping.hosts
        setups = {"SpikeEncode": self._setup_encoder, "SpikedLinear": self._setup_spiked}
        for i, n in enumerate(self.nodes):
            in_hops = self._transfers(i, n, producers, shapes, hosts)
            setup = setups.get(n.op_type, self._setup_dense)
            setup(i, n, hosts[n.name], in_hops)
        self.reset()

    # -- setup: per-token constants ----------------------------------------------------------
    def _transfers(self, i, n, producers, shapes, hosts) -> int:
        """Dense values arriving from other hosts (per-core dense units only); returns the
        largest hop distance an input travels."""
        hw, row, host = self.hw, self._static[i], hosts[n.name]
        in_hops = 0
        for v, kind in zip(n.inputs, n.op.in_kinds):
            src = producers.get(v)
            if src is None or kind != "float":
                continue
            hx, hy = hw.hops_xy(hosts[src.name], host)
            h = hx + hy
            if h:
                size = int(np.prod(shapes[v], dtype=np.int64))
                row[K["spike_messages"]] += size
                row[K["noc_hops"]] += size * h
                row[K["noc_hops_ns"]] += size * hy
                in_hops = max(in_hops, h)
        return in_hops

    def _setup_dense(self, i, n, host, in_hops) -> None:
        """A dense-unit op: counted from its facts."""
        hw, op, row = self.hw, n.op, self._static[i]
        db = hw.dense_bytes
        c = op.counts()
        row[K["macs"]] = c.macs
        row[K["acs"]] = c.acs
        row[K["dense_macs"]] = c.dense_macs
        row[K["weight_bytes_read"]] = sum(op.param_reads().values()) * db
        state = op.state_elements() * db
        row[K["state_bytes_read"]] = row[K["state_bytes_written"]] = state
        cyc = timing.dense_cycles(int(op.dense_work()), hw.dense_mac_lanes,
                                  hw.dense_pipeline_depth, hw.hop_latency_cycles, in_hops)
        row[K["cycles"]] = cyc
        self._static_cores[host, KC["dense_cycles"]] += cyc

    def _setup_encoder(self, i, n, host, in_hops) -> None:
        """A spike encoder on the dense unit: S = D micro-steps (binary) or 1 (graded)."""
        hw, op, row = self.hw, n.op, self._static[i]
        if self.encoding == "graded":
            top = (1 << (hw.payload_bits - 1)) - 1
            if op.D > top:
                raise SimulationError(f"node {n.name!r}: spike level D={op.D} does not fit "
                                      f"a {hw.payload_bits}-bit graded payload "
                                      f"(spikes.payload_bits)")
        S = op.D if self.encoding == "binary" else 1
        row[K["neuron_updates"]] = op.d * S
        row[K["neuron_accesses"]] = op.d * S  # every encoder neuron, every micro-step
        if self.encoding == "binary":  # membrane read-modify-write every micro-step
            row[K["state_bytes_read"]] = op.d * S * hw.state_bytes
            row[K["state_bytes_written"]] = op.d * S * hw.state_bytes
        cyc = timing.encode_cycles(op.d, S, hw.dense_mac_lanes, hw.dense_pipeline_depth,
                                   hw.hop_latency_cycles, in_hops)
        row[K["cycles"]] = cyc
        self._static_cores[host, KC["dense_cycles"]] += cyc

    def _setup_spiked(self, i, n, host, in_hops) -> None:
        """A spiked projection on its tiles (SpikedLayer)."""
        self._static[i, K["dense_macs"]] = n.op.counts(0).dense_macs
        lm = self.program.mapping.layer(n.name)
        scale = n.op.input_scale * np.asarray(self.p(n, "weight_scale"), np.float64)
        self._plans[n.name] = SpikedLayer(self.program.weight_t(n.name), scale, lm, host,
                                          self.hw, self.encoding)

    def spiked_layers(self) -> dict[str, SpikedLayer]:
        """The SpikedLayer of every SpikedLinear node (graph order), e.g. for benchmarks."""
        return dict(self._plans)

    def reset(self) -> None:
        """Zero the recurrent state and the counters."""
        self.state = self.init_state()
        self.tally.reset()

    # -- the spiking ops -------------------------------------------------------------------
    def run_SpikeEncode(self, n, ins, st):
        op, x = n.op, ins[0]
        if not np.isfinite(x).all():
            raise SimulationError("non-finite input to the spike encoder")
        s = np.empty(op.d, np.int32)
        encode_levels(x, float(op.theta), op.lo, op.hi, s)
        i = self.row[n.name]
        if self.encoding == "binary":
            self.tally.layers[i, K["spikes"]] += int(np.abs(s).sum())
        else:
            self.tally.layers[i, K["spikes"]] += int(np.count_nonzero(s))
        if self._extra is not None:
            self._extra[f"{n.name}.frames"] = spike_frames(s, op.D)
        return [s]

    def run_SpikedLinear(self, n, ins, st):
        layer = self._plans[n.name]
        y = layer.run(ins[0], self.tally.layers[self.row[n.name]], self.tally.cores)
        if self._extra is not None:
            self._extra[f"{n.name}.acc"] = layer.acc.copy()
        return [y]

    # -- tokens ------------------------------------------------------------------------------
    def step(self, token: int, keep_values: bool = False) -> np.ndarray:  # type: ignore[override]
        """One token: returns the logits (float64 (V,)); state and counters advance."""
        self.tally.layers += self._static
        self.tally.cores += self._static_cores
        try:
            out, _ = self.walk(token, self.state, keep_values)
        except BaseException:
            self.tally.layers -= self._static
            self.tally.cores -= self._static_cores
            raise
        self.tally.tokens += 1
        return out

    def run(self, tokens: Sequence[int],  # type: ignore[override]
            on_token: Callable[[int], None] | None = None) -> list[np.ndarray]:
        """Feed `tokens` one by one (teacher forcing); returns the logits of each."""
        out = []
        for t in tokens:
            out.append(self.step(t))
            if on_token is not None:
                on_token(int(t))
        return out

    def generate(self, prompt_ids: Sequence[int], max_new_tokens: int,  # type: ignore[override]
                 on_token: Callable[[int], None] | None = None) -> list[int]:
        """Greedy continuation after the prompt (the last new token is not fed back); state
        and counters continue from where they are."""
        if len(prompt_ids) == 0:
            raise SimulationError("generate: the prompt is empty")
        if max_new_tokens < 0:
            raise SimulationError("generate: max_new_tokens must be >= 0")
        logits = self.run(prompt_ids, on_token)[-1]
        new: list[int] = []
        for k in range(max_new_tokens):
            nxt = self.pick(logits, 0.0, None, k)
            new.append(nxt)
            if k == max_new_tokens - 1:
                break
            logits = self.step(nxt)
            if on_token is not None:
                on_token(nxt)
        return new

    # -- the record --------------------------------------------------------------------------
    @property
    def counters(self) -> RunCounts:
        """The tally as the one counter record, with the dense twin's fields (below)."""
        return self.run_counts_from_tally()

    def run_counts_from_tally(self, **meta: Any) -> RunCounts:
        """RunCounts of the tokens since the last reset.

        The dense (ANN) twin of each node: ops the SNN runs as the dense model does keep
        their measured weight and state traffic and their ACs (residual adds); a spiked
        projection's dense twin reads each weight once per token at the chip's weight width
        (`core.weight_bits`) and keeps no state; a neuron has no dense twin."""
        t, hw = self.tally, self.hw
        nodes = []
        for i, n in enumerate(self.nodes):
            vals = {k: int(t.layers[i, j]) for j, k in enumerate(LAYER_KEYS)}
            op = n.op
            if op.spike_inputs():
                dense = {"dense_acs": 0, "dense_state_bytes_read": 0,
                         "dense_state_bytes_written": 0,
                         "dense_weight_bytes_read":
                             _bytes(op.param_reads().get("weight", 0) * t.tokens * hw.weight_bits)}
            elif op.emits_spikes:
                dense = {"dense_acs": 0, "dense_state_bytes_read": 0,
                         "dense_state_bytes_written": 0, "dense_weight_bytes_read": 0}
            else:
                dense = {"dense_acs": vals["acs"],
                         "dense_state_bytes_read": vals["state_bytes_read"],
                         "dense_state_bytes_written": vals["state_bytes_written"],
                         "dense_weight_bytes_read": vals["weight_bytes_read"]}
            nodes.append(NodeCounts(n.name, n.op_type, n.block, Counts(**vals, **dense)))
        cycles = t.cycles
        info = {"mode": "measured", "program": self.program.name, "hardware": hw.to_dict(),
                "encoding": self.encoding, **meta}
        return RunCounts(tuple(nodes), tokens=t.tokens, time_s=cycles / hw.clock_hz,
                         clock_hz=hw.clock_hz, cores=tuple(t.core_dicts(hw)), meta=info)


def _bytes(bits: int) -> int | float:
    """Bytes of `bits` bits: an int when whole."""
    return bits // 8 if bits % 8 == 0 else bits / 8


@dataclass
class SimResult:
    """What `run` returns: logits per fed token and the counters."""

    logits: list[np.ndarray]
    counters: RunCounts


def run(program: Program, tokens: Sequence[int], encoding: str | None = None) -> SimResult:
    """Simulate `tokens` (teacher forcing) on `program`; logits and counters."""
    sim = Simulator(program, encoding)
    logits = sim.run(tokens)
    return SimResult(logits, sim.counters)
