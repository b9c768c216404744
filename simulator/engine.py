"""The simulator engine: run a lowered Program token by token, counting everything.

`Simulator(program)` walks the graph's nodes in order (like the reference interpreter) and
dispatches by op type:
  SpikeEncode   levels s = clip(round_half_even(x / theta), lo, hi) (kernels.encode_levels);
  SpikedLinear  event-driven on the cores: kernels.accumulate_binary (D micro-steps of signed
                spikes) or accumulate_graded (one event per non-zero input), int32
                accumulators, then y = (input_scale * weight_scale) * acc in float64, exactly
                as the reference interpreter scales; cycles, messages and hops from
                simulator.timing.spiked_layer_cost on the program's mapping;
  anything else the dense unit, NumPy float64 (simulator.dense), counted from Op.counts.
Errors are re-raised as SimulationError naming the node. Per-token constants (dense MACs,
parameter bytes, dense cycles, values sent between hosts) are precomputed once per node; the
per-token cost of counting is a handful of vector adds plus the per-spike kernel counters.

API: `Simulator(program, encoding=None)`; `reset()`; `step(token, keep_values=False) -> logits`
(float64 (V,)); `run(tokens) -> [logits]`; `generate(prompt_ids, max_new_tokens,
on_token=None) -> [ids]` (greedy over the real vocabulary, as ReferenceInterpreter.generate);
`counters` (SimCounters, totals since the last reset); `values` (after keep_values: every
value, plus `<node>.acc` integer accumulators and `<node>.frames` binary spike trains).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from snncompile.backends.accum.program import Program
from snncompile.errors import SimulationError, SnnCompileError
from snncompile.simulator import dense, timing
from snncompile.simulator.counters import CORE_KEYS, LAYER_KEYS, KC, K, SimCounters
from snncompile.simulator.kernels import (accumulate_binary, accumulate_graded, encode_levels,
                                          spike_frames)

_BIG = 1 << 24  # params with more elements stay in their stored dtype (Embedding, LMHead)


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
        self.tile_out_hops = np.array([hw.hops(t[4], host) for t in tiles], np.int64)
        pairs = [(r, c) for r in range(lm.R) for c in lm.dest_cores(r)]
        self.pair_rb = np.array([r for r, _ in pairs], np.int64)
        self.pair_slot = np.array([slot_of[c] for _, c in pairs], np.int64)
        self.pair_hops = np.array([hw.hops(host, c) for _, c in pairs], np.int64)
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
            cores[:, KC["messages_received"]], self.pair_slot, self.totals)
        t = self.totals
        row[K["cycles"]] += t[timing.T_CYCLES]
        row[K["acs"]] += t[timing.T_ACS]
        row[K["weight_bytes_read"]] += t[timing.T_WBYTES]
        row[K["state_bytes_read"]] += t[timing.T_SREAD]
        row[K["state_bytes_written"]] += t[timing.T_SWRITE]
        row[K["spike_messages"]] += t[timing.T_MSGS]
        row[K["noc_hops"]] += t[timing.T_HOPS]
        return self.scale * self.acc.astype(np.float64)


class Simulator:
    """Cycle-counting simulator of a Program on its HardwareSpec (module docstring)."""

    def __init__(self, program: Program, encoding: str | None = None) -> None:
        hw = program.hardware
        self.program = program
        self.hw = hw
        self.encoding = encoding or hw.spike_encoding
        if self.encoding not in ("binary", "graded"):
            raise SimulationError(f"encoding must be 'binary' or 'graded', got {self.encoding!r}")
        g = program.graph
        self.graph = g
        self.nodes = list(g.nodes)
        names = tuple(n.name for n in self.nodes)
        self.counters = SimCounters(names, tuple(n.op_type for n in self.nodes),
                                    tuple(n.block for n in self.nodes), hw.cores)
        cfg = g.metadata.get("config") or {}
        self.vocab_size = int(cfg.get("vocab_size", 0)) or None
        self._static = np.zeros((len(self.nodes), len(LAYER_KEYS)), np.int64)
        self._static_cores = np.zeros((hw.cores, len(CORE_KEYS)), np.int64)
        self._params: list[dict[str, np.ndarray]] = []
        self._plans: dict[int, SpikedLayer] = {}
        self._steps = {}
        cast: dict[str, np.ndarray] = {}
        producers = g.producers()
        shapes = g.value_shapes()
        hosts = program.mapping.hosts
        for i, n in enumerate(self.nodes):
            p: dict[str, np.ndarray] = {}
            for role, pname in n.params.items():
                arr = g.params[pname]
                if n.op_type == "SpikedLinear" or arr.size > _BIG:
                    p[role] = arr
                else:
                    if pname not in cast:
                        cast[pname] = np.asarray(arr, np.float64)
                    p[role] = cast[pname]
            self._params.append(p)
            if n.op_type == "SpikeEncode" and self.encoding == "graded":
                top = (1 << (hw.payload_bits - 1)) - 1
                if n.op.D > top:
                    raise SimulationError(f"node {n.name!r}: spike level D={n.op.D} does not fit "
                                          f"a {hw.payload_bits}-bit graded payload "
                                          f"(spikes.payload_bits)")
            if n.op_type == "SpikedLinear":
                self._plans[i] = self._spiked_plan(n, hosts, p)
            elif n.op_type != "SpikeEncode" and n.op_type not in dense.RUNNERS:
                raise SimulationError(f"node {n.name!r}: the simulator has no rule for "
                                      f"{n.op_type}")
            self._static_counts(i, n, producers, shapes, hosts)
        self.values: dict[str, np.ndarray] | None = None
        self.reset()

    # -- setup -------------------------------------------------------------------------------
    def _spiked_plan(self, n, hosts, params) -> SpikedLayer:
        lm = self.program.mapping.layer(n.name)
        scale = n.op.input_scale * np.asarray(params["weight_scale"], np.float64)
        return SpikedLayer(self.program.weight_t(n.name), scale, lm, hosts[n.name], self.hw,
                           self.encoding)

    def _static_counts(self, i, n, producers, shapes, hosts) -> None:
        """Per-token counters that do not depend on the data (module docstring)."""
        hw, op, row = self.hw, n.op, self._static[i]
        db, sb = hw.dense_bytes, hw.state_bytes
        host = hosts[n.name]
        # dense values arriving from other hosts (per-core dense units only)
        in_hops = 0
        for v, kind in zip(n.inputs, op.in_kinds):
            src = producers.get(v)
            if src is None or kind != "float":
                continue
            h = hw.hops(hosts[src.name], host)
            if h:
                size = int(np.prod(shapes[v], dtype=np.int64))
                row[K["spike_messages"]] += size
                row[K["noc_hops"]] += size * h
                in_hops = max(in_hops, h)
        if n.op_type == "SpikedLinear":
            row[K["dense_macs"]] = op.d_out * op.d_in
            return
        if n.op_type == "SpikeEncode":
            S = op.D if self.encoding == "binary" else 1
            row[K["neuron_updates"]] = op.d * S
            if self.encoding == "binary":  # membrane read-modify-write every micro-step
                row[K["state_bytes_read"]] = op.d * S * sb
                row[K["state_bytes_written"]] = op.d * S * sb
            cyc = timing.encode_cycles(op.d, S, hw.dense_mac_lanes, hw.dense_pipeline_depth,
                                       hw.hop_latency_cycles, in_hops)
            row[K["cycles"]] = cyc
            self._static_cores[host, KC["dense_cycles"]] += cyc
            return
        c = op.counts()
        row[K["macs"]] = c.macs
        row[K["acs"]] = c.acs
        row[K["dense_macs"]] = c.dense_macs
        wbytes = 0
        for role, (shape, _dt) in op.param_shapes().items():
            size = int(np.prod(shape, dtype=np.int64))
            if n.op_type == "Embedding":
                size = op.d  # one row is read
            wbytes += size * db
        row[K["weight_bytes_read"]] = wbytes
        if n.op_type == "CausalConv1d":
            row[K["state_bytes_read"]] = row[K["state_bytes_written"]] = op.C * (op.K - 1) * db
        elif n.op_type == "SSMScan":
            row[K["state_bytes_read"]] = row[K["state_bytes_written"]] = op.H * op.P * op.N * db
        if n.op_type == "Split":
            work = 0
        elif n.op_type == "Embedding":
            work = op.d
        else:
            work = int(c.macs + c.acs)
        cyc = timing.dense_cycles(work, hw.dense_mac_lanes, hw.dense_pipeline_depth,
                                  hw.hop_latency_cycles, in_hops)
        row[K["cycles"]] = cyc
        self._static_cores[host, KC["dense_cycles"]] += cyc

    def init_state(self) -> dict[str, np.ndarray]:
        state: dict[str, np.ndarray] = {}
        for n in self.nodes:
            if n.op_type == "CausalConv1d":
                state[n.name] = np.zeros((n.op.C, n.op.K - 1), np.float64)
            elif n.op_type == "SSMScan":
                state[n.name] = np.zeros((n.op.H, n.op.P, n.op.N), np.float64)
            elif n.op.stateful:
                raise SimulationError(f"node {n.name!r}: no state layout for {n.op_type}")
        return state

    def spiked_layers(self) -> dict[str, SpikedLayer]:
        """The SpikedLayer of every SpikedLinear node (graph order), e.g. for benchmarks."""
        return {self.nodes[i].name: layer for i, layer in sorted(self._plans.items())}

    def reset(self) -> None:
        """Zero the recurrent state and the counters."""
        self.state = self.init_state()
        self.counters.reset()

    # -- the walk ----------------------------------------------------------------------------
    def step(self, token: int, keep_values: bool = False) -> np.ndarray:
        """One token: returns the logits (float64 (V,)); state and counters advance."""
        if isinstance(token, (bool, np.bool_)) or not isinstance(token, (int, np.integer)):
            raise SimulationError(f"token must be an int, got {type(token).__name__}")
        g = self.graph
        values: dict[str, object] = {g.inputs[0]: int(token)}
        layers, cores = self.counters.layers, self.counters.cores
        layers += self._static
        cores += self._static_cores
        extra: dict[str, np.ndarray] = {}
        for i, n in enumerate(self.nodes):
            ins = [values[v] for v in n.inputs]
            try:
                if n.op_type == "SpikedLinear":
                    outs = self._spiked(i, n, ins[0], layers, cores, extra if keep_values else None)
                elif n.op_type == "SpikeEncode":
                    outs = self._encode(i, n, ins[0], layers, extra if keep_values else None)
                elif n.op_type in dense.STATEFUL:
                    outs, self.state[n.name] = dense.RUNNERS[n.op_type](
                        n.op, ins, self._params[i], self.state[n.name])
                else:
                    outs = dense.RUNNERS[n.op_type](n.op, ins, self._params[i], None)
            except SnnCompileError as exc:
                raise SimulationError(f"node {n.name!r} ({n.op_type}): {exc}") from exc
            except (ValueError, IndexError, TypeError, FloatingPointError) as exc:
                raise SimulationError(f"node {n.name!r} ({n.op_type}): "
                                      f"{type(exc).__name__}: {exc}") from exc
            values.update(zip(n.outputs, outs))
        self.counters.tokens += 1
        if keep_values:
            self.values = {**values, **extra}  # type: ignore[dict-item]
        return values[g.outputs[0]]  # type: ignore[return-value]

    def _encode(self, i, n, x, layers, extra):
        op = n.op
        if not np.isfinite(x).all():
            raise SimulationError("non-finite input to the spike encoder")
        s = np.empty(op.d, np.int32)
        encode_levels(x, float(op.theta), op.lo, op.hi, s)
        if self.encoding == "binary":
            layers[i, K["spikes"]] += int(np.abs(s).sum())
        else:
            layers[i, K["spikes"]] += int(np.count_nonzero(s))
        if extra is not None:
            extra[f"{n.name}.frames"] = spike_frames(s, op.D)
        return [s]

    def _spiked(self, i, n, s, layers, cores, extra):
        layer = self._plans[i]
        y = layer.run(s, layers[i], cores)
        if extra is not None:
            extra[f"{n.name}.acc"] = layer.acc.copy()
        return [y]

    # -- sequences ---------------------------------------------------------------------------
    def run(self, tokens: Sequence[int], on_token: Callable[[int], None] | None = None
            ) -> list[np.ndarray]:
        """Feed `tokens` one by one (teacher forcing); returns the logits of each."""
        out = []
        for t in tokens:
            out.append(self.step(int(t)))
            if on_token is not None:
                on_token(int(t))
        return out

    def generate(self, prompt_ids: Sequence[int], max_new_tokens: int,
                 on_token: Callable[[int], None] | None = None) -> list[int]:
        """Greedy continuation after the prompt (the reference's `generate` protocol: the
        last new token is not fed back)."""
        if len(prompt_ids) == 0:
            raise SimulationError("generate: the prompt is empty")
        if max_new_tokens < 0:
            raise SimulationError("generate: max_new_tokens must be >= 0")
        logits = self.run(prompt_ids, on_token)[-1]
        new: list[int] = []
        for k in range(max_new_tokens):
            lg = logits[: self.vocab_size] if self.vocab_size else logits
            nxt = int(np.argmax(lg))
            new.append(nxt)
            if k == max_new_tokens - 1:
                break
            logits = self.step(nxt)
            if on_token is not None:
                on_token(nxt)
        return new


@dataclass
class SimResult:
    """What `run` returns: logits per fed token and the counters."""

    logits: list[np.ndarray]
    counters: SimCounters


def run(program: Program, tokens: Sequence[int], encoding: str | None = None) -> SimResult:
    """Simulate `tokens` (teacher forcing) on `program`; logits and counters."""
    sim = Simulator(program, encoding)
    logits = sim.run(tokens)
    return SimResult(logits, sim.counters)
