"""The timing model of the generic accumulate-only chip: every cycle equation lives here.

Execution order: the nodes of the graph run one after another (layers in sequence); inside a
spiked projection the cores holding its tiles run in parallel, in lock step by micro-step.
The NoC is contention-free (X-Y routing, a message's latency is hop_latency * hops).

Spiked projection (one token). Tiles t = (row block r_t, column block) sit on cores c; a
spike of input j goes to every core holding a tile of j's row block (one message per
(spike, destination core), hops = Manhattan distance from the host, where the encoder
neurons run). S = D micro-steps (binary) or S = 1 step (graded). With n_k(r) the events of
row block r in step k (from the kernels), E(r) = sum_k n_k(r), A(r) = sum_{j in r} |s_j|:

    passes_t     = ceil(cols_t / ac_lanes)                 lane passes to add one row segment
    work_c(k)    = m * sum_{t on c} n_k(r_t) * passes_t    m = 1 (binary), graded_mult_cycles
    busy_c(k)    = work_c(k) + pipeline_depth * [work_c(k) > 0]
    hmax(k)      = max hops of a message sent in step k (0 when none)
    T_step(k)    = max_c busy_c(k) + hop_latency * hmax(k) + barrier_cycles
    T_readout    = max_c sum_{t on c} passes_t + hop_latency * max_t out_hops_t
    T_layer      = sum_k T_step(k) + T_readout
    messages     = sum_k sum_{(r,c) pairs} n_k(r)  +  sum_t cols_t      (spikes + read-outs)
    noc_hops     = sum_k sum_{(r,c)} n_k(r) * hops(r,c)  +  sum_t cols_t * out_hops_t
    noc_hops_ns  = the same sum with each hop count's north-south part (X-Y routing)
    acs          = sum_t cols_t * A(r_t)  (= d_out * sum_j |s_j|; a graded payload s is
                   priced as |s| adds, so both encodings do the same arithmetic)
    weight bytes = sum_t row_bytes_t * E(r_t)               one row segment read per event
    state bytes  = state_bytes * (sum_t cols_t * E(r_t) + sum_t cols_t)   read, and the same
                   written (accumulator read-modify-write per event, read-out, reset)

Dense unit (any op that still multiplies, and the spike encoders):

    T_dense      = ceil(work / mac_lanes) + dense_pipeline * [work > 0] + hop_latency * h_in
    T_encode     = S * ceil(d / mac_lanes) + dense_pipeline + hop_latency * h_in

with work = macs + acs of the op (`Op.counts`; an Embedding row copy counts d) and h_in the
largest hop distance its inputs travel from other hosts (per-core dense units only).
Token time T = sum over nodes; seconds = T / clock_hz.

Each @njit function has a NumPy `_ref` twin; tests check they agree on every output.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Indices of the `totals` vector filled by `spiked_layer_cost`.
T_CYCLES, T_ACS, T_WBYTES, T_SREAD, T_SWRITE, T_MSGS, T_HOPS, T_HOPS_NS = range(8)
N_TOTALS = 8


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


@njit(cache=True, nogil=True)
def spiked_layer_cost(counts, abs_sum, tile_rb, tile_slot, tile_cols, tile_passes, tile_row_bytes,
                      tile_out_hops, pair_rb, pair_hops, n_slots, mult, pipeline_depth,
                      hop_latency, barrier_cycles, state_bytes, slot_core,
                      core_acs, core_busy, core_wbytes, core_msgs_in, pair_slot, pair_hops_ns,
                      tile_out_hops_ns, totals):
    """Cycles and traffic of one spiked projection for one token (equations: module doc).

    counts (S, R) events per step and row block; abs_sum (R,) sum |s| per row block.
    Tiles: tile_rb, tile_slot (local core slot), tile_cols, tile_passes, tile_row_bytes,
    tile_out_hops. Pairs (row block, destination slot): pair_rb, pair_hops, pair_slot.
    pair_hops_ns, tile_out_hops_ns: the north-south part of those hops (T_HOPS_NS).
    slot_core maps slots to global core ids; core_* (n_cores,) are accumulated into (+=).
    totals int64 (N_TOTALS,) is overwritten.
    """
    S, R = counts.shape
    T = tile_rb.shape[0]
    P = pair_rb.shape[0]
    work = np.zeros(n_slots, np.int64)
    events = np.zeros(R, np.int64)
    cycles = 0
    msgs = 0
    hops = 0
    hops_ns = 0
    for k in range(S):
        work[:] = 0
        for t in range(T):
            n = counts[k, tile_rb[t]]
            if n > 0:
                work[tile_slot[t]] += mult * n * tile_passes[t]
        tmax = 0
        for c in range(n_slots):
            w = work[c]
            if w > 0:
                w += pipeline_depth
                core_busy[slot_core[c]] += w
                if w > tmax:
                    tmax = w
        hmax = 0
        for p in range(P):
            n = counts[k, pair_rb[p]]
            if n > 0:
                msgs += n
                hops += n * pair_hops[p]
                hops_ns += n * pair_hops_ns[p]
                core_msgs_in[slot_core[pair_slot[p]]] += n
                if pair_hops[p] > hmax:
                    hmax = pair_hops[p]
        cycles += tmax + hop_latency * hmax + barrier_cycles
        for r in range(R):
            events[r] += counts[k, r]
    # read-out of the accumulators to the host
    work[:] = 0
    ohmax = 0
    acs = 0
    wbytes = 0
    upd = 0
    readout = 0
    for t in range(T):
        work[tile_slot[t]] += tile_passes[t]
        if tile_out_hops[t] > ohmax:
            ohmax = tile_out_hops[t]
        cols = tile_cols[t]
        r = tile_rb[t]
        a = cols * abs_sum[r]
        wb = tile_row_bytes[t] * events[r]
        core = slot_core[tile_slot[t]]
        acs += a
        wbytes += wb
        upd += cols * events[r]
        readout += cols
        core_acs[core] += a
        core_wbytes[core] += wb
        msgs += cols
        hops += cols * tile_out_hops[t]
        hops_ns += cols * tile_out_hops_ns[t]
    rmax = 0
    for c in range(n_slots):
        core_busy[slot_core[c]] += work[c]
        if work[c] > rmax:
            rmax = work[c]
    cycles += rmax + hop_latency * ohmax
    totals[T_CYCLES] = cycles
    totals[T_ACS] = acs
    totals[T_WBYTES] = wbytes
    totals[T_SREAD] = state_bytes * (upd + readout)
    totals[T_SWRITE] = state_bytes * (upd + readout)
    totals[T_MSGS] = msgs
    totals[T_HOPS] = hops
    totals[T_HOPS_NS] = hops_ns


def spiked_layer_cost_ref(counts, abs_sum, tile_rb, tile_slot, tile_cols, tile_passes,
                          tile_row_bytes, tile_out_hops, pair_rb, pair_hops, n_slots, mult,
                          pipeline_depth, hop_latency, barrier_cycles, state_bytes, slot_core,
                          n_cores, pair_slot, pair_hops_ns, tile_out_hops_ns):
    """NumPy twin of `spiked_layer_cost`: returns (totals, core_acs, core_busy, core_wbytes,
    core_msgs_in), the core arrays of length n_cores."""
    counts = np.asarray(counts, np.int64)
    S, R = counts.shape
    core_acs = np.zeros(n_cores, np.int64)
    core_busy = np.zeros(n_cores, np.int64)
    core_wbytes = np.zeros(n_cores, np.int64)
    core_msgs = np.zeros(n_cores, np.int64)
    # work per step and slot: (S, T) events times passes, summed onto slots
    per_tile = mult * counts[:, tile_rb] * tile_passes[None, :]
    work = np.zeros((S, n_slots), np.int64)
    for t in range(len(tile_rb)):
        work[:, tile_slot[t]] += per_tile[:, t]
    busy = np.where(work > 0, work + pipeline_depth, 0)
    np.add.at(core_busy, slot_core, busy.sum(axis=0))
    pair_n = counts[:, pair_rb]                               # (S, P)
    hmax = np.where(pair_n > 0, pair_hops[None, :], 0).max(axis=1, initial=0)
    cycles = int((busy.max(axis=1, initial=0) + hop_latency * hmax + barrier_cycles).sum())
    msgs = int(pair_n.sum()) + int(tile_cols.sum())
    hops = int((pair_n * pair_hops[None, :]).sum()) + int((tile_cols * tile_out_hops).sum())
    hops_ns = (int((pair_n * pair_hops_ns[None, :]).sum())
               + int((tile_cols * tile_out_hops_ns).sum()))
    np.add.at(core_msgs, slot_core[pair_slot], pair_n.sum(axis=0))
    events = counts.sum(axis=0)
    read_work = np.zeros(n_slots, np.int64)
    np.add.at(read_work, tile_slot, tile_passes)
    np.add.at(core_busy, slot_core, read_work)
    cycles += int(read_work.max(initial=0)) + hop_latency * int(tile_out_hops.max(initial=0))
    a = tile_cols * abs_sum[tile_rb]
    wb = tile_row_bytes * events[tile_rb]
    np.add.at(core_acs, slot_core[tile_slot], a)
    np.add.at(core_wbytes, slot_core[tile_slot], wb)
    upd = int((tile_cols * events[tile_rb]).sum()) + int(tile_cols.sum())
    totals = np.zeros(N_TOTALS, np.int64)
    totals[T_CYCLES] = cycles
    totals[T_ACS] = int(a.sum())
    totals[T_WBYTES] = int(wb.sum())
    totals[T_SREAD] = state_bytes * upd
    totals[T_SWRITE] = state_bytes * upd
    totals[T_MSGS] = msgs
    totals[T_HOPS] = hops
    totals[T_HOPS_NS] = hops_ns
    return totals, core_acs, core_busy, core_wbytes, core_msgs


def dense_cycles(work: int, mac_lanes: int, pipeline: int, hop_latency: int = 0,
                 in_hops: int = 0) -> int:
    """T_dense = ceil(work / mac_lanes) + pipeline * [work > 0] + hop_latency * in_hops."""
    if work <= 0:
        return hop_latency * in_hops
    return ceil_div(work, mac_lanes) + pipeline + hop_latency * in_hops


def encode_cycles(d: int, steps: int, mac_lanes: int, pipeline: int, hop_latency: int = 0,
                  in_hops: int = 0) -> int:
    """T_encode = S * ceil(d / mac_lanes) + pipeline + hop_latency * in_hops."""
    return steps * ceil_div(d, mac_lanes) + pipeline + hop_latency * in_hops
