"""Time-stepped simulation of a lowered network: all T steps in one kernel call.

`simulate_steps(program, x)` runs a `NetworkProgram` (backends.accum.network) on input
spike trains x (T, n_in) and returns a `SteppedRun`: the graph's outputs stacked over the
steps (bit-exact with the reference interpreter's `run_steps` on the same lowered graph),
the counters (`RunCounts`, tokens = steps, time_s = simulated chip time) and the time of
every step. The equations are in `simulator.stepped_kernels` and docs/hardware-model.md.

Counters per node: a synapse node (SpikedLinear) holds its synaptic events (`acs`), the
input spikes it consumed, the spike and partial-sum messages delivered to its cores and
their hops, the weight bytes read (one row segment per message) and the busy cycles of its
cores; a neuron node holds its neuron accesses (every neuron, every step), updates (active
neurons) and spikes. The dense twin of a synapse node is the same layer as a dense
matrix-vector product every step (d_out * d_in MACs, every weight read once).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from snncompile.backends.accum.network import (NetworkProgram, input_bias, network_layers,
                                               recurrent_rows)
from snncompile.backends.accum.recurrent import pow2_rows
from snncompile.errors import SimulationError
from snncompile.ir.counts import Counts, NodeCounts, RunCounts
from snncompile.ir.interpreter import check_spike_steps
from snncompile.ir.neuron_ops import NEURON_OPS
from snncompile.ir.nir_ops import EULER_RESETS, EulerNeuron, LeakyIntegrator
from snncompile.simulator import stepped_kernels as K

MAX_STEPS = 1 << 24


def _i64(v: Any) -> np.ndarray:
    return np.asarray(v, np.int64)


@dataclass
class SteppedRun:
    """What `simulate_steps` returns (module docstring)."""

    outputs: list[np.ndarray]
    counters: RunCounts
    step_cycles: np.ndarray
    spikes_per_layer: dict[str, int]
    wall_s: float
    clock_hz: float

    @property
    def time_s(self) -> float:
        return float(self.step_cycles.sum()) / self.clock_hz

    @property
    def step_time_s(self) -> np.ndarray:
        return self.step_cycles / self.clock_hz


def check_input(x: Any, n_in: int) -> np.ndarray:
    """x as a C-contiguous int32 (T, n_in) array of spike counts: the reference's checks
    (`check_spike_steps`), plus the simulator's declared ranges (SimulationError): at most
    MAX_STEPS steps, counts in 0..255 (a count is that many messages of one input)."""
    a = np.asarray(x)
    if (a.ndim == 2 and a.shape[1] == n_in and a.dtype.kind in "iu" and a.size
            and a.shape[0] <= MAX_STEPS):
        # integers: the range is the whole check; int32 holds the narrower types exactly,
        # and a uint64 above 2^63 - 1 reads as negative in int64, which the check refuses
        wide = a.dtype.itemsize > 4 or a.dtype == np.uint32
        b = np.ascontiguousarray(a, dtype=np.int64 if wide else np.int32)
        lo, hi = K.value_range(b)
        if lo >= 0 and hi <= 255:
            return np.ascontiguousarray(b, dtype=np.int32)
    a = check_spike_steps(a, n_in)
    if a.shape[0] > MAX_STEPS:
        raise SimulationError(f"input has {a.shape[0]} steps, at most {MAX_STEPS}")
    if a.size and a.max() > 255:
        raise SimulationError(f"input spike counts must be in 0..255, got {int(a.max())}")
    return np.ascontiguousarray(a, dtype=np.int32)


class SteppedNetwork:
    """The kernel's arrays for one program (built once; `run(x)` may be called repeatedly,
    each run starting from zero state)."""

    def __init__(self, program: NetworkProgram) -> None:
        self.program = program
        g, hw, pl = program.graph, program.hardware, program.placement
        self.layers = network_layers(g)
        self.n_in = int(g.metadata["network"]["inputs"])
        L = len(self.layers)
        sizes = [self.n_in] + [s.op.d_out for s, _ in self.layers]
        self.pop_off = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.n_state = int(self.pop_off[-1] - self.pop_off[1])
        self.core_of = np.concatenate([pl.input_core] + [lp.neuron_core for lp in pl.layers]
                                      ).astype(np.int64)
        ws, scales, w_off, o_off = [], [], [], []
        nw = no = 0
        rows, ch_off, ct_ptr = [], [0], [0]
        t_c0, t_c1, t_core, t_ncore = [], [], [], []
        fan_off: list[int] = []
        fans: list[np.ndarray] = []
        n_fan = 0
        for (syn, neu), lp in zip(self.layers, pl.layers):
            W = g.params[syn.params["weight"]]
            conn = syn.params.get("connections")
            mask = None if conn is None else np.asarray(g.params[conn]).astype(bool)
            WT = np.ascontiguousarray(np.asarray(W, np.int8).T)
            ws.append(WT.reshape(-1))
            w_off.append(nw)
            nw += WT.size
            sc = syn.op.input_scale * np.asarray(g.params[syn.params["weight_scale"]], np.float64)
            nop = neu.op
            # fixed point: integer currents in units of 2^-q, as the reference checks
            if getattr(nop, "fixed_point", False):
                X = sc * 2.0 ** nop.quant_bits
                if not (np.isfinite(X).all() and (X == np.trunc(X)).all()):
                    raise SimulationError(
                        f"node {neu.name!r} ({nop.op_type}): fixed point needs integer input "
                        f"currents x * 2^{nop.quant_bits}; the scales of {syn.name!r} "
                        "(input_scale * weight_scale) do not give them")
            scales.append(sc)
            o_off.append(no)
            no += sc.size
            rows.append(lp.rows)
            n_chunks = -(-syn.op.d_in // lp.rows)
            by_chunk: list[list[tuple]] = [[] for _ in range(n_chunks)]
            for t in lp.tiles:
                by_chunk[t[0]].append(t)
            for tl in by_chunk:
                for (ch, c0, c1, core, ncore) in tl:
                    if mask is None:
                        fan_off.append(-1)
                    else:     # synapses of each input row of the chunk on this tile
                        lo = ch * lp.rows
                        f = mask[c0:c1, lo:lo + lp.rows].sum(axis=0).astype(np.int64)
                        fan_off.append(n_fan)
                        fans.append(f)
                        n_fan += f.size
                    t_c0.append(c0)
                    t_c1.append(c1)
                    t_core.append(core)
                    t_ncore.append(ncore)
                ct_ptr.append(len(t_c0))
            ch_off.append(ch_off[-1] + n_chunks)
        self.w_flat = np.concatenate(ws) if ws else np.zeros(0, np.int8)
        self.w_off, self.o_off = _i64(w_off), _i64(o_off)
        self.scale_flat = np.concatenate(scales) if scales else np.zeros(0)
        self.d_in = _i64([s.op.d_in for s, _ in self.layers])
        self.d_out = _i64([s.op.d_out for s, _ in self.layers])
        self.rows, self.ch_off, self.ct_ptr = _i64(rows), _i64(ch_off), _i64(ct_ptr)
        self.t_c0, self.t_c1, self.t_core, self.t_ncore = (_i64(t_c0), _i64(t_c1), _i64(t_core),
                                                          _i64(t_ncore))
        self.fan_off = _i64(fan_off)
        self.fan_flat = np.concatenate(fans).astype(np.int64) if fans else np.zeros(1, np.int64)
        self._neuron_arrays(g, hw)
        cores = np.arange(hw.cores)
        tc = [hw.core_tile(int(c)) for c in cores]
        self.core_tx = _i64([t[0] for t in tc])
        self.core_ty = _i64([t[1] for t in tc])
        self.core_k = _i64([t[2] for t in tc])
        self.ntx = int(hw.tile_mesh[1])
        self.nlink = 4 + hw.cores_per_tile
        self.tm = _i64([hw.message_in_cycles, hw.synapse_cycles, hw.neuron_access_cycles,
                       hw.neuron_update_cycles, hw.spike_out_cycles, hw.message_out_cycles])
        caps = [1]
        for l in range(L):
            tiles_per_chunk = np.diff(self.ct_ptr[self.ch_off[l]:self.ch_off[l + 1] + 1])
            caps.append(int(self.d_in[l]) * int(tiles_per_chunk.max(initial=0)))
            lo, hi = self.ct_ptr[self.ch_off[l] + 1] if self.ch_off[l + 1] - self.ch_off[l] > 1 \
                else 0, self.ct_ptr[self.ch_off[l + 1]]
            caps.append(int((self.t_c1[lo:hi] - self.t_c0[lo:hi]).sum()) if lo else 0)
            if self.wr_off[l] >= 0:     # recurrent: each spike to each of the layer's tiles
                caps.append(int(self.d_out[l]) * int(tiles_per_chunk.max(initial=0)))
        self.max_msgs = sum(caps)
        used = pl.cores_used()
        self.tiles_used = len({hw.tile_id(c) for c in used})
        self.sync = hw.sync_cycles(self.tiles_used)

    def _neuron_arrays(self, g, hw) -> None:
        """Per-layer neuron attributes (LIF / IF / CubaLIF) and the per-neuron parameters and
        recurrent weights of EulerNeuron / LeakyIntegrator layers (stepped_kernels)."""
        L = len(self.layers)
        ops = [n.op for _, n in self.layers]
        lif = [o if isinstance(o, NEURON_OPS) else None for o in ops]
        self.kind = _i64([(K.KIND_LIF if o.decay_i is None else K.KIND_CUBA) if o is not None
                         else K.KIND_EULER if isinstance(op, EulerNeuron) else K.KIND_LI
                         for o, op in zip(lif, ops)])
        self.dv = _i64([o.decay_v if o else 0 for o in lif])
        self.du = _i64([(o.decay_i or 0) if o else 0 for o in lif])
        self.thr = np.array([o.threshold if o else 0.0 for o in lif], np.float64)
        self.sub = _i64([o.reset == "subtract" if o else 0 for o in lif])
        self.refr = _i64([o.refractory if o else 0 for o in lif])
        self.bias = np.array([o.bias if o else 0.0 for o in lif], np.float64)
        self.q = _i64([o.quant_bits if o else 0 for o in lif])
        self.delay = _i64([o.delay if o else 0 for o in lif])
        self.fixed = _i64([bool(o.fixed_point) if o else 0 for o in lif])
        self.parallel = bool(L) and all(o is not None and o.delay == 1 for o in lif)
        self.eflag = np.zeros((max(L, 1), 2), np.int64)
        self.ep = np.zeros((self.n_state, K.N_EP))
        self.wr_off = np.full(L, -1, np.int64)
        self.wr_scale = np.ones(self.n_state)
        wr, n_wr = [], 0
        cols = {"alpha_v": K.EP_AV, "beta_v": K.EP_BV, "gain": K.EP_G, "alpha_i": K.EP_AI,
                "gain_i": K.EP_GI, "threshold": K.EP_THR, "v_reset": K.EP_VR, "b_rec": K.EP_BREC}
        for l, ((_syn, neu), o) in enumerate(zip(self.layers, lif)):
            if o is not None:
                continue
            op = neu.op
            nb = int(self.pop_off[l + 1] - self.pop_off[1])
            rows = slice(nb, nb + op.d)
            for role, col in cols.items():
                if role in neu.params:
                    self.ep[rows, col] = np.asarray(g.params[neu.params[role]], np.float64)
            if isinstance(op, EulerNeuron):
                self.eflag[l] = (EULER_RESETS.index(op.reset), int(op.current))
                if op.recurrent:
                    n, sc = pow2_rows(g.params[neu.params["w_rec"]], hw.weight_bits,
                                      f"node {neu.name!r}")
                    wr.append(np.ascontiguousarray(n.T.astype(np.int32)).reshape(-1))
                    self.wr_off[l] = n_wr
                    n_wr += n.size
                    self.wr_scale[rows] = sc
            else:
                self.eflag[l] = (0, int(op.current))
        self.wr_flat = np.concatenate(wr) if wr else np.zeros(1, np.int32)
        self.xb = np.zeros(self.n_state)           # input biases (Bias nodes), per neuron
        self.has_xb = np.zeros(L, np.int64)
        for l, (_syn, neu) in enumerate(self.layers):
            b = input_bias(g, neu)
            if b is not None:
                if getattr(neu.op, "fixed_point", False):
                    raise SimulationError(f"node {neu.name!r}: a fixed-point neuron takes integer "
                                          "currents; its input bias is not lowered")
                nb = int(self.pop_off[l + 1] - self.pop_off[1])
                self.xb[nb:nb + b.size] = b
                self.has_xb[l] = 1

    def acc_array(self, x: np.ndarray) -> np.ndarray:
        """The accumulators: int32 when |sum_j w_j s_j| < 2^31 is certain (127 * the largest
        spike count * the widest fan-in), else int64."""
        widest = int(self.d_in.max(initial=1))
        count = max(1, int(K.value_range(x)[1]) if x.size else 1)
        wide = 127 * count * widest >= 2 ** 31
        width = int(max(self.d_in.max(initial=1), self.d_out.max(initial=1)))
        return np.zeros(width, np.int64 if wide else np.int32)

    def kernel_args(self, x: np.ndarray, potentials: bool | None = None
                    ) -> tuple[list[Any], list[np.ndarray], list[np.ndarray]]:
        """`run_network`'s arguments for checked spikes x, in its order: (inputs, fresh
        state v, i_, r, p, sp, fresh outputs out_s, out_v, lc, core_busy, step_cycles).
        out_v has T rows when `potentials` (None: when the graph outputs them), else 0."""
        hw = self.program.hardware
        T, L = x.shape[0], len(self.layers)
        d_last = int(self.d_out[-1]) if L else 0
        if potentials is None:
            potentials = self._potential_out() is not None
        args = [x, self.pop_off, self.core_of, self.w_flat, self.w_off, self.d_in, self.d_out,
                self.scale_flat, self.o_off, self.rows, self.ch_off, self.ct_ptr, self.t_c0,
                self.t_c1, self.t_core, self.t_ncore, self.fan_off, self.fan_flat, self.kind,
                self.dv, self.du, self.thr, self.sub, self.refr, self.bias, self.q, self.delay,
                self.fixed, self.eflag, self.ep, self.wr_flat, self.wr_off, self.wr_scale,
                self.xb, self.has_xb, self.core_tx, self.core_ty, self.core_k, self.ntx,
                self.nlink, hw.ac_lanes, self.tm, hw.hop_latency_ew_cycles,
                hw.hop_latency_ns_cycles, hw.link_buffer, self.sync, self.parallel,
                self.max_msgs, self.acc_array(x)]
        n = self.n_state
        state = [np.zeros(n), np.zeros(n), np.zeros(n, np.int64), np.zeros(n),
                 np.zeros(n, np.int8)]
        outs = [np.zeros((T, d_last), np.int8),   # spikes, returned as int64 as the reference
                np.zeros((T if potentials else 0, d_last)), np.zeros((L, K.N_LC), np.int64),
                np.zeros(hw.cores, np.int64), np.zeros(T, np.int64)]
        return args, state, outs

    def run(self, x: Any) -> SteppedRun:
        x = check_input(x, self.n_in)
        args, state, outs = self.kernel_args(x)
        t0 = time.perf_counter()
        K.run_network(*args, *state, *outs)
        wall = time.perf_counter() - t0
        v, out_v = state[0], outs[1]
        if not (np.isfinite(out_v).all() and np.isfinite(v).all()):
            raise SimulationError("the network's potentials overflow (non-finite values)")
        out_s, _, lc, busy, step_cycles = outs
        T = x.shape[0]
        return self._result(T, out_s, out_v, lc, busy, step_cycles, wall)

    def _potential_out(self) -> str | None:
        """The last layer's potential value when the graph outputs it, else None."""
        if not self.layers:
            return None
        last = self.layers[-1][1]
        outs = last.outputs
        name = (outs[0] if isinstance(last.op, LeakyIntegrator)
                else outs[1] if len(outs) > 1 else None)
        return name if name in self.program.graph.outputs else None

    def _result(self, T, out_s, out_v, lc, busy, step_cycles, wall) -> SteppedRun:
        g, hw = self.program.graph, self.program.hardware
        nodes = []
        spikes = {}
        bits = hw.weight_bits
        for l, (syn, neu) in enumerate(self.layers):
            acs = int(lc[l, K.LC_ACS])
            dense = syn.op.d_out * (syn.op.d_in + recurrent_rows(neu)) * T
            nodes.append(NodeCounts(syn.name, syn.op_type, syn.block, Counts(
                acs=acs, input_spikes=int(lc[l, K.LC_IN_SPIKES]),
                dense_macs=dense,
                weight_bytes_read=acs * bits // 8 if bits % 8 == 0 else acs * bits / 8,
                dense_weight_bytes_read=dense * bits // 8,
                spike_messages=int(lc[l, K.LC_MSGS]), noc_hops=int(lc[l, K.LC_HOPS]),
                noc_hops_ns=int(lc[l, K.LC_HOPS_NS]),
                cycles=int(lc[l, K.LC_BUSY]))))
            nodes.append(NodeCounts(neu.name, neu.op_type, neu.block, Counts(
                spikes=int(lc[l, K.LC_SPIKES]), neuron_updates=int(lc[l, K.LC_UPDATES]),
                neuron_accesses=int(lc[l, K.LC_ACCESS]), dense_weight_bytes_read=0)))
            spikes[neu.name] = int(lc[l, K.LC_SPIKES])
        cycles = int(step_cycles.sum())
        cores = tuple({"core": int(c), "row": hw.coord(int(c))[0], "col": hw.coord(int(c))[1],
                       "tile": hw.tile_id(int(c)), "busy_cycles": int(busy[c])}
                      for c in np.nonzero(busy)[0])
        meta = {"mode": "measured", "program": self.program.name, "hardware": hw.to_dict(),
                "encoding": "binary", "steps": T, "tiles_used": self.tiles_used,
                "sync_cycles": int(self.sync), "parallel_cores": self.parallel}
        counters = RunCounts(tuple(nodes), tokens=T, time_s=cycles / hw.clock_hz,
                             clock_hz=hw.clock_hz, cores=cores, meta=meta)
        outs = []
        last = self.layers[-1][1] if self.layers else None
        pot = self._potential_out()
        for name in g.outputs:
            if pot is not None and name == pot:
                outs.append(out_v.copy())
            elif last is not None and name == last.outputs[0]:
                outs.append(out_s.astype(np.int64))
            else:
                raise SimulationError(f"graph output {name!r} is not an output of the last "
                                      "layer's neurons (the simulator returns those)")
        return SteppedRun(outs, counters, step_cycles, spikes, wall, hw.clock_hz)


def simulate_steps(program: NetworkProgram, x: Any) -> SteppedRun:
    """Run `program` on spike trains x (T, n_in) from zero state (module docstring)."""
    return SteppedNetwork(program).run(x)
