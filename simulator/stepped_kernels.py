"""The time-stepped kernel: a whole network run over T steps in one Numba call.

`run_network(...)` advances every layer's neurons, delivers every spike to the cores that
hold its synapses, and counts events and cycles per core, for all T steps, with no Python
per step. `run_network_ref` is its plain-Python twin (same arguments, same outputs); the
parity tests run both on random networks.

Populations: p = 0 are the network's inputs, p = l + 1 the neurons of layer l; neuron k of
the whole network has global index pop_off[p] + i and lives on core `core_of[k]`.
Layer l (synapses from population l to l + 1) stores its int8 weights input-major
(d_in, d_out) at w_flat[w_off[l]:], its output scales at scale_flat[o_off[l]:], and its
tiles in chunks of `rows[l]` inputs: input j belongs to chunk j // rows[l], whose tiles are
tiles ct_ptr[ch_off[l] + chunk] .. ct_ptr[ch_off[l] + chunk + 1] - 1. A tile covers output
columns [t_c0, t_c1) on core t_core; when its neurons live on another core (t_ncore !=
t_core: a partial-sum tile) it sends, per step, one message per non-zero partial sum to it.
A layer is fully connected (fan_off[tt] = -1: input j reaches all t_c1 - t_c0 columns of
tile tt) or sparse (a convolution's taps): input j, row jr = j - chunk * rows[l] of its
chunk, then has fan_flat[fan_off[tt] + jr] synapses on tile tt, and no message goes to a
tile where it has none.

Neurons (per layer: kind 0 LIF or IF (IF is LIF with dv = 0: alpha_v = 1 exactly), 1 CubaLIF;
equations in snncompile.ir.neuron_ops; 2 EulerNeuron, 3 LeakyIntegrator, per-neuron float
parameters, snncompile.ir.nir_ops) advance exactly as the IR defines them. A recurrent
EulerNeuron layer's spikes are messages to its own cores (its recurrent synapses), sent in
the step they fire, reaching the potentials at the next step. Cycles of core c in step t
(the timing model, docs/hardware-model.md):

    work_c = message_in * m_in_c + synapse * sum_{messages into c} ceil(f / lanes)
             + neuron_access * n_c + neuron_update * u_c + spike_out * s_c
             + message_out * m_out_c
    step   = max_c work_c + noc + sync          (all layers delayed: cores in parallel)
           = sum_l max_c work_c(l) + noc + sync (a zero-delay layer: layers in order)

m_in / m_out messages in and out, f the synapses a message reaches on c, n_c neurons
mapped, u_c active neurons (state non-zero, input or bias), s_c spikes; noc = the largest
hop latency of a message sent in the step (x hops * ew + y hops * ns); sync from the
hardware's table by tiles in use (precomputed: `sync_cycles`).

Layer counters (columns of `lc`, LC_* indices) are totals over the run.
"""

from __future__ import annotations

import heapq
import math

import numpy as np
from numba import njit

(LC_ACS, LC_MSGS, LC_HOPS, LC_ACCESS, LC_UPDATES, LC_SPIKES, LC_IN_SPIKES, LC_BUSY,
 LC_HOPS_NS) = range(9)
N_LC = 9
KIND_LIF, KIND_CUBA = 0, 1   # a neuron with or without a decaying current (IF: LIF, dv = 0)
KIND_EULER, KIND_LI = 2, 3   # EulerNeuron, LeakyIntegrator: per-neuron float parameters
EP_AV, EP_BV, EP_G, EP_AI, EP_GI, EP_THR, EP_VR, EP_BREC = range(8)
N_EP = 8
RESET_VALUE, RESET_SUB, RESET_SUB_NEXT = range(3)   # EulerNeuron.reset, in EULER_RESETS order
SAT = (1 << 23) - 1
# Indices that can never be negative are cast to `_U` in the hot loops: Numba adds a
# negative-index fix-up to every signed index, which costs the NoC model about a fifth of
# its time (benchmarks/sanafe_agreement.py cases fan-in-3000 and wide-2048).
_U = np.uint64


@njit(cache=True, nogil=True)
def value_range(x):
    """(min, max) of the 2-D integer array x in one pass (x non-empty)."""
    lo = x[0, 0]
    hi = x[0, 0]
    for t in range(x.shape[0]):
        for j in range(x.shape[1]):
            v = x[t, j]
            lo = min(lo, v)
            hi = max(hi, v)
    return lo, hi


@njit(cache=True, nogil=True)
def _decay_fixed(z, d):
    """sign(z) * ((|z| * (4096 - d)) >> 12) on an integer-valued float64."""
    a = np.int64(abs(z))
    r = (a * (4096 - d)) >> 12
    return float(-r) if z < 0 else float(r)


@njit(cache=True, nogil=True)
def _sat(z):
    if z > SAT:
        return float(SAT)
    if z < -SAT:
        return float(-SAT)
    return z


@njit(cache=True, nogil=True)
def _lif_float(alpha_v, thr, sub, bias, q, delay, got, x, v, r, p, s_out, act):
    """`neuron_step` for a float LIF or IF layer without refractory steps: the same
    operations in the same order, written with selects in place of branches (one spike
    branch per neuron costs more than the update itself)."""
    n = x.shape[0]
    scale = 2.0 ** q
    inv = 1.0 / scale
    on = got != 0 or bias != 0.0
    active = 0
    for o in range(n):
        xo = x[o]
        xe = p[o] if delay else xo
        p[o] = xo if delay else p[o]
        vo = v[o]
        a = vo != 0.0 or on
        act[o] = a
        active += a
        vd = alpha_v * vo
        if q > 0:
            vd = np.trunc(vd * scale) * inv
        vn = (vd + bias) + xe
        f = vn > thr
        s_out[o] = f
        v[o] = ((vn - thr) if sub else 0.0) if f else vn
        r[o] = 0 if f else r[o]
    return active


@njit(cache=True, nogil=True)
def neuron_step(kind, dv, du, thr, sub, refr, bias, q, delay, fixed, got, x, v, i_, r, p,
                s_out, act):
    """One step of one layer's neurons (float or fixed form); x the synaptic current, `got`
    1 when synaptic events reached the layer (after its delay). v, i_, r, p are updated in
    place; s_out gets the spikes and act the activity (1: the neuron's state was non-zero
    before the step, events reached it, or its bias is non-zero); returns the number of
    active neurons."""
    n = x.shape[0]
    scale = 2.0 ** q
    inv = 1.0 / scale              # exact: a power of two
    alpha_v = (4096 - dv) / 4096.0
    alpha_i = (4096 - du) / 4096.0
    if kind == KIND_LIF and not fixed and refr == 0:
        return _lif_float(alpha_v, thr, sub, bias, q, delay, got, x, v, r, p, s_out, act)
    active = 0
    for o in range(n):
        xo = x[o]
        if delay:
            xe = p[o]
            p[o] = xo
        else:
            xe = xo
        if v[o] != 0.0 or got != 0 or bias != 0.0 or (kind == KIND_CUBA and i_[o] != 0.0):
            active += 1
            act[o] = 1
        else:
            act[o] = 0
        if fixed:
            X = xe * scale
            if kind == KIND_CUBA:
                i_[o] = _sat(_decay_fixed(i_[o], du) + X)
                c = i_[o]
            else:
                c = X
            vd = _decay_fixed(v[o], dv)
            vn = _sat(vd + bias * scale + c)
            th = thr * scale
        else:
            if kind == KIND_CUBA:
                ci = alpha_i * i_[o]
                if q > 0:
                    ci = np.trunc(ci * scale) * inv
                i_[o] = ci + xe
                c = i_[o]
            else:
                c = xe
            vd = alpha_v * v[o]
            if q > 0:
                vd = np.trunc(vd * scale) * inv
            vn = (vd + bias) + c
            th = thr
        if refr > 0 and r[o] > 0:
            r[o] -= 1
            v[o] = 0.0
            s_out[o] = 0
            continue
        if vn > th:
            s_out[o] = 1
            vn = vn - th if sub else 0.0
            r[o] = refr
        else:
            s_out[o] = 0
        v[o] = vn
    return active


@njit(cache=True, nogil=True)
def euler_step(spiking, reset, current, recurrent, ep, got, x, rec, v, i_, sp, s_out, act):
    """One step of an EulerNeuron layer (spiking = 1) or a LeakyIntegrator layer (0), in
    float64 with per-neuron parameters ep (d, N_EP), in the op's order of operations
    (snncompile.ir.nir_ops):

        c = x ; or  i <- alpha_i i + gain_i x, c = i            (current = 1)
        v <- (alpha_v v + beta_v) + gain c
        v <- v + (rec + b_rec)         (recurrent = 1; rec = w_rec @ s_prev, given)
        v <- v - threshold s_prev      (reset RESET_SUB_NEXT)
        s = v > threshold ; where s: v <- v_reset (RESET_VALUE) or v - threshold (RESET_SUB)

    sp holds s_prev and is updated; s_out gets the spikes (0 for a LeakyIntegrator) and act
    the activity (state non-zero, events in, or beta_v non-zero); returns the active count."""
    n = x.shape[0]
    active = 0
    for o in range(n):
        if v[o] != 0.0 or got != 0 or ep[o, EP_BV] != 0.0 or (current and i_[o] != 0.0):
            active += 1
            act[o] = 1
        else:
            act[o] = 0
        c = x[o]
        if current:
            c = ep[o, EP_AI] * i_[o] + ep[o, EP_GI] * c
            i_[o] = c
        vn = (ep[o, EP_AV] * v[o] + ep[o, EP_BV]) + ep[o, EP_G] * c
        if not spiking:
            v[o] = vn
            s_out[o] = 0
            continue
        th = ep[o, EP_THR]
        if recurrent:
            vn = vn + (rec[o] + ep[o, EP_BREC])
        if reset == RESET_SUB_NEXT:
            vn = vn - th * float(sp[o])
        if vn > th:
            s_out[o] = 1
            if reset == RESET_VALUE:
                vn = ep[o, EP_VR]
            elif reset == RESET_SUB:
                vn = vn - th
        else:
            s_out[o] = 0
        sp[o] = s_out[o]
        v[o] = vn
    return active


@njit(cache=True, nogil=True)
def _heap_push(hk, hv, n, key, val):
    """Push (key, val) onto the binary min-heap hk/hv of n items (ties: smaller val first)."""
    i = _U(n)
    hk[i] = key
    hv[i] = val
    while i > _U(0):
        parent = (i - _U(1)) >> _U(1)
        if hk[parent] < hk[i] or (hk[parent] == hk[i] and hv[parent] <= hv[i]):
            break
        hk[i], hk[parent] = hk[parent], hk[i]
        hv[i], hv[parent] = hv[parent], hv[i]
        i = parent
    return n + 1


@njit(cache=True, nogil=True)
def _sift_down(hk, hv, n):
    """Restore the heap order of hk/hv (n items) after its root was replaced."""
    i = _U(0)
    un = _U(n)
    while True:
        a = (i << _U(1)) + _U(1)
        b = a + _U(1)
        m = i
        if a < un and (hk[a] < hk[m] or (hk[a] == hk[m] and hv[a] < hv[m])):
            m = a
        if b < un and (hk[b] < hk[m] or (hk[b] == hk[m] and hv[b] < hv[m])):
            m = b
        if m == i:
            break
        hk[i], hk[m] = hk[m], hk[i]
        hv[i], hv[m] = hv[m], hv[i]
        i = m


@njit(cache=True, nogil=True)
def _heap_pop(hk, hv, n):
    """Pop the smallest (key, val) of the heap of n items; returns (key, val, n - 1)."""
    key, val = hk[0], hv[0]
    n -= 1
    hk[0] = hk[n]
    hv[0] = hv[n]
    _sift_down(hk, hv, n)
    return key, val, n


@njit(cache=True, nogil=True)
def _heap_replace(hk, hv, n, key, val):
    """Replace the smallest item of the heap of n items by (key, val) (a pop and a push)."""
    hk[0] = key
    hv[0] = val
    _sift_down(hk, hv, n)


@njit(cache=True, nogil=True, inline="always")
def _walk(along, li, step, n, dens, w):
    """Add w to the density of links li + step, li + 2 step, ..., li + n step and return
    `along` plus their densities before the add (summed in that order)."""
    for _i in range(n):
        li += step
        u = _U(li)
        along += dens[u]
        dens[u] += w
    return along


@njit(cache=True, nogil=True, inline="always")
def _route_load(a, b, core_tx, core_ty, core_k, ntx, nlink, dens, w):
    """Add w to the density of each link message a -> b occupies (the source core's port at
    its tile, then per hop, x first, then y, the link of the tile entered and the direction
    taken) and return the sum of those densities before the add."""
    xa, ya = core_tx[a], core_ty[a]
    hx = core_tx[b] - xa
    hy = core_ty[b] - ya
    base = (ya * ntx + xa) * nlink
    u = _U(base + 4 + core_k[a])
    along = dens[u]
    dens[u] += w
    along = _walk(along, base + (1 if hx > 0 else 3), nlink if hx > 0 else -nlink, abs(hx),
                  dens, w)
    base += hx * nlink
    return _walk(along, base + (2 if hy > 0 else 0), ntx * nlink if hy > 0 else -ntx * nlink,
                 abs(hy), dens, w)


@njit(cache=True, nogil=True, inline="always")
def _send(c, dest, m, f, si, nm, lanes, tm, core_tx, core_ty, m_src, m_sent, m_dest, m_proc,
          core_busy, tally):
    """Write message nm: m spikes from core c, sent at si, to the f synapses on core dest
    (receive cycles m (message_in + synapse * ceil(f / lanes))); returns `tally` (receive
    cycles, messages, hops, north-south hops, synaptic events) with the message added."""
    proc = m * (tm[0] + tm[1] * (f if lanes == 1 else (f + lanes - 1) // lanes))
    k = _U(nm)
    m_src[k] = c
    m_sent[k] = si
    m_dest[k] = dest
    m_proc[k] = proc
    uc = _U(c)
    ud = _U(dest)
    core_busy[ud] += proc
    dy = abs(core_ty[uc] - core_ty[ud])
    hops = abs(core_tx[uc] - core_tx[ud]) + dy
    return tally[0] + proc, tally[1] + m, tally[2] + m * hops, tally[3] + m * dy, tally[4] + m * f


@njit(cache=True, nogil=True, inline="always")
def _count_sent(lc, l, tally):
    """Add a `_send` tally to layer l's counters."""
    lc[l, LC_BUSY] += tally[0]
    lc[l, LC_MSGS] += tally[1]
    lc[l, LC_HOPS] += tally[2]
    lc[l, LC_HOPS_NS] += tally[3]
    lc[l, LC_ACS] += tally[4]


@njit(cache=True, nogil=True)
def schedule_workspace(n_cores, max_msgs):
    """The work arrays of `schedule` for up to max_msgs messages on n_cores cores:
    (int64 array, float64 array), allocated once per run."""
    wi = np.zeros(2 * max_msgs + 7 * (n_cores + 1), np.int64)
    wf = np.zeros(2 * max_msgs + 2 * (n_cores + 1), np.float64)
    return wi, wf


@njit(cache=True, nogil=True)
def schedule(nm, m_src, m_sent, m_dest, m_proc, S, F, shift, core_tx, core_ty, core_k, ntx,
             nlink, lat_ew, lat_ns, buf, dens, wi, wf):
    """One step's messages through the NoC (docs/hardware-model.md, "Messages"); returns the
    time of the last event. Each core sends its messages in order, the k-th `m_sent[k] -
    m_sent[k-1]` after the previous one (its neuron and message-out work); all cores' next
    messages go out in order of time. A message on a route of h hops finds a load A = sum
    of the link densities on its h + 1 links (each message in flight adds 1 / (h + 2) to
    each of its links) and the mean receive time mu of the messages in flight; then

        stall    = (A - buf (h + 1)) mu  when A > buf (h + 1): the sender waits (later sends
                   of that core move with it)
        network  = max(hop latency, A mu / (h + 1))
        start    = max(F[d], sent + network) ;  F[d] = start + proc      (a FIFO per core)

    and it leaves the NoC when its destination starts it (messages leave in order of start,
    then index; each destination's messages are a queue, as starts at one destination only
    grow). buf = 0: no contention (A = 0). F (receivers) and shift (the stall of each
    sender) are updated in place; wi, wf are `schedule_workspace` arrays."""
    n_cores = S.shape[0]
    if nm == 0:
        last = 0.0
        for c in range(n_cores):
            if S[c] + shift[c] > last:
                last = S[c] + shift[c]
        return last
    M = (wf.shape[0] - 2 * (n_cores + 1)) // 2
    order = wi[:M]
    nxt_msg = wi[M:2 * M]
    o = 2 * M
    first = wi[o:o + n_cores]
    last_i = wi[o + (n_cores + 1):o + (n_cores + 1) + n_cores]
    pos = wi[o + 2 * (n_cores + 1):o + 2 * (n_cores + 1) + n_cores]
    head = wi[o + 3 * (n_cores + 1):o + 3 * (n_cores + 1) + n_cores]
    tail = wi[o + 4 * (n_cores + 1):o + 4 * (n_cores + 1) + n_cores]
    pq_v = wi[o + 5 * (n_cores + 1):o + 6 * (n_cores + 1)]
    hh_v = wi[o + 6 * (n_cores + 1):o + 7 * (n_cores + 1)]
    st = wf[:M]
    pq_k = wf[M:M + n_cores + 1]
    hh_k = wf[M + n_cores + 1:M + 2 * (n_cores + 1)]
    mw = wf[M + 2 * (n_cores + 1):]
    grouped = True                       # each core's messages one run (the usual case)
    for c in range(n_cores):
        first[c] = -1
        head[c] = -1
    for k in range(nm):
        c = m_src[k]
        if k > 0 and c != m_src[k - 1] and first[c] >= 0:
            grouped = False
            break
        if first[c] < 0:
            first[c] = k
    if grouped:
        for k in range(nm):
            order[k] = k
    else:
        order[:nm] = np.argsort(m_src[:nm], kind="mergesort")
    for c in range(n_cores):
        first[c] = -1
    for k in range(nm):
        c = m_src[order[k]]
        if first[c] < 0:
            first[c] = k
        last_i[c] = k
    npq = 0
    nh = 0
    dens[:] = 0.0
    for c in range(n_cores):
        if first[c] >= 0:
            pos[c] = first[c]
            npq = _heap_push(pq_k, pq_v, npq, float(m_sent[order[first[c]]]), c)
    last = 0.0
    psum = 0                              # the receive cycles of the messages in flight
    in_noc = 0
    while npq > 0:
        sent = pq_k[0]
        c = _U(pq_v[0])
        if sent > last:
            last = sent
        while nh > 0 and hh_k[0] <= sent:     # messages started by now leave the NoC
            j = _U(hh_v[0])
            dj = _U(m_dest[j])
            h = nxt_msg[j]
            head[dj] = h
            if h >= 0:
                _heap_replace(hh_k, hh_v, nh, st[_U(h)], h)
            else:
                _r, _j, nh = _heap_pop(hh_k, hh_v, nh)
            sj = _U(m_src[j])
            _route_load(sj, dj, core_tx, core_ty, core_k, ntx, nlink, dens, -mw[j])
            psum -= m_proc[j]
            in_noc -= 1
        pc = _U(pos[c])
        k = _U(order[pc])
        d = _U(m_dest[k])
        hx = abs(core_tx[c] - core_tx[d])
        hy = abs(core_ty[c] - core_ty[d])
        net = float(hx * lat_ew + hy * lat_ns)
        if buf > 0:
            # the load on the message's links, read before it adds its own density
            nl = 1 + hx + hy
            wk = 1.0 / (nl + 1)
            mw[k] = wk
            along = _route_load(c, d, core_tx, core_ty, core_k, ntx, nlink, dens, wk)
            if in_noc > 0:                    # mu = psum / in_noc
                cap = float(buf * nl)
                if along > cap:
                    stall = (along - cap) * float(psum) / float(in_noc)
                    sent += stall
                    shift[c] += stall
                cong = along * float(psum) / float(in_noc * nl)
                if cong > net:
                    net = cong
        start = sent + net
        if F[d] > start:
            start = F[d]
        F[d] = start + m_proc[k]
        if F[d] > last:
            last = F[d]
        if buf > 0:
            psum += m_proc[k]
            in_noc += 1
            st[k] = start
            nxt_msg[k] = -1
            if head[d] < 0:
                head[d] = np.int64(k)
                nh = _heap_push(hh_k, hh_v, nh, start, np.int64(k))
            else:
                nxt_msg[_U(tail[d])] = np.int64(k)
            tail[d] = np.int64(k)
        if pc < _U(last_i[c]):
            pc += _U(1)
            pos[c] = np.int64(pc)
            k2 = _U(order[pc])
            nxt = sent + float(m_sent[k2] - m_sent[k])
            if nxt > last:
                last = nxt
            _heap_replace(pq_k, pq_v, npq, nxt, np.int64(c))
        else:
            _r, _c, npq = _heap_pop(pq_k, pq_v, npq)
    for c in range(n_cores):   # the work after each core's last message
        if S[c] + shift[c] > last:
            last = S[c] + shift[c]
    return last


@njit(cache=True, nogil=True)
def _partial_sums(npt, p_core, p_dest, p_count, S, F, shift, core_tx, core_ty, lat_ew, lat_ns,
                  out_cycles, proc, pf, pi):
    """Partial sums after the spike messages: chunk core c sends its p_count messages one
    after the other once it is done (max of its sender and receiver times); each costs its
    destination `proc`, received in order of sending (a k-way merge of the chunks' evenly
    spaced sends; ties: the earlier chunk tile first). Returns the last event time. pf
    (float64, >= n_cores + 3 (npt + 1)) and pi (int64, >= 3 (npt + 1)) are work arrays.

    The merge: tiles that have not sent yet wait in order of (first send, tile); the others
    form a queue in order of (next send, tile), where a tile that has just sent is placed by
    comparison from the back (sends are `out_cycles` apart, so it is nearly always last):
    messages leave in exactly the order of their (time, tile) pairs."""
    n_cores = S.shape[0]
    P = (pi.shape[0]) // 3
    clock = pf[:n_cores]
    base = pf[n_cores:n_cores + P]
    lat = pf[n_cores + P:n_cores + 2 * P]
    qk = pf[n_cores + 2 * P:n_cores + 3 * P]   # the queue (a ring of P): next send, tile
    qv = pi[:P]
    sent_n = pi[P:2 * P]
    wait = pi[2 * P:3 * P]                     # tiles not yet sent, by first send
    for c in range(n_cores):
        clock[c] = -1.0
    last = 0.0
    for i in range(npt):
        c = p_core[i]
        if clock[c] < 0:
            clock[c] = max(S[c] + shift[c], F[c])
        d = p_dest[i]
        base[i] = clock[c]
        lat[i] = abs(core_tx[c] - core_tx[d]) * lat_ew + abs(core_ty[c] - core_ty[d]) * lat_ns
        clock[c] += out_cycles * p_count[i]
        if clock[c] > last:
            last = clock[c]
    for i in range(npt):         # base[i] becomes tile i's first send; wait sorted by it
        sent_n[i] = 0
        key = base[i] + out_cycles
        base[i] = key
        m = i
        while m > 0 and base[wait[m - 1]] > key:
            wait[m] = wait[m - 1]
            m -= 1
        wait[m] = i
    nw = 0                       # tiles of `wait` taken
    qh = 0                       # queue head and length
    qn = 0
    dc = -1                      # F[dc] is held in fd while dc's messages arrive
    fd = 0.0
    while True:
        if qn > 0 and (nw == npt or qk[qh] < base[wait[nw]]
                       or (qk[qh] == base[wait[nw]] and qv[qh] < wait[nw])):
            sent = qk[qh]
            i = qv[qh]
            qh = qh + 1 if qh + 1 < P else 0
            qn -= 1
        elif nw < npt:
            i = wait[nw]
            sent = base[i]
            nw += 1
        else:
            break
        d = p_dest[i]
        if d != dc:
            if dc >= 0:
                F[dc] = fd
            dc = d
            fd = F[d]
        n = p_count[i]
        k = sent_n[i]
        if qn == 0 and nw == npt:   # the only tile left: the rest of its sends in order
            while True:
                a = sent + lat[i]
                fd = (fd if fd > a else a) + proc
                k += 1
                if k == n:
                    break
                sent = sent + out_cycles
            break
        a = sent + lat[i]
        fd = (fd if fd > a else a) + proc
        sent_n[i] = k + 1
        if k + 1 < n:            # to the queue's back, past any later (time, tile)
            key = sent + out_cycles
            m = qh + qn
            if m >= P:
                m -= P
            for _ in range(qn):
                pm = m - 1 if m > 0 else P - 1
                if qk[pm] < key or (qk[pm] == key and qv[pm] < i):
                    break
                qk[m] = qk[pm]
                qv[m] = qv[pm]
                m = pm
            qk[m] = key
            qv[m] = i
            qn += 1
    F[dc] = fd
    for i in range(npt):         # F only grows: its largest values are the last ones
        if F[p_dest[i]] > last:
            last = F[p_dest[i]]
    return last


@njit(cache=True, nogil=True)
def run_network(x, pop_off, core_of, w_flat, w_off, d_in, d_out, scale_flat, o_off, rows,
                ch_off, ct_ptr, t_c0, t_c1, t_core, t_ncore, fan_off, fan_flat,
                kind, dv, du, thr, sub, refr, bias, q, delay, fixed, eflag, ep, wr_flat, wr_off,
                wr_scale, xb, has_xb, core_tx, core_ty, core_k, ntx, nlink, lanes, tm, lat_ew,
                lat_ns, buf, sync, parallel, max_msgs, acc, v, i_, r, p, sp, out_s, out_v, lc,
                core_busy, step_cycles):
    """Run T steps (module docstring). tm = (message_in, synapse, neuron_access,
    neuron_update, spike_out, message_out) cycles; max_msgs bounds the messages of one step;
    acc is the accumulator work array (int32 where the caller has shown that no sum can
    overflow it, else int64; length >= every layer's width).
    State v, i_, r, p (per neuron of layers, offset pop_off[l + 1] - pop_off[1]) advance in
    place; out_s (T, d_last) int8 spikes and out_v (T, d_last) potentials of the last layer
    (out_v of 0 rows: potentials not wanted);
    lc (L, N_LC) and core_busy (n_cores,) are added to; step_cycles (T,) is overwritten.
    EulerNeuron / LeakyIntegrator layers (kind KIND_EULER / KIND_LI): eflag (L, 2) = (reset,
    current), ep (n_state, N_EP) their per-neuron parameters, sp (n_state,) int8 the previous
    step's spikes; a recurrent layer (wr_off[l] >= 0) stores its (d, d) integer recurrent
    weights input-major at wr_flat[wr_off[l]:] with the row scales wr_scale (n_state,), on
    the cores of its own tiles: its spikes go there in the step they fire (one message per
    tile, d synapses per message there) and reach the potentials at the next step. A layer
    with an input bias (has_xb[l]) adds xb (n_state,) to its synaptic currents, x + xb, and
    a neuron with a non-zero xb is active every step."""
    T = x.shape[0]
    L = d_in.shape[0]
    n_cores = core_tx.shape[0]
    base = pop_off[1]
    S = np.zeros(n_cores, np.float64)         # sender timelines (neurons, messages out)
    F = np.zeros(n_cores, np.float64)         # receiver timelines (messages in, synapses)
    shift = np.zeros(n_cores, np.float64)
    n_tiles = 1
    for c in range(n_cores):
        n_tiles = max(n_tiles, (core_ty[c] * ntx + core_tx[c]) + 1)
    dens = np.zeros(n_tiles * nlink, np.float64)
    wi, wf = schedule_workspace(n_cores, max_msgs)
    m_src = np.zeros(max_msgs, np.int64)
    m_sent = np.zeros(max_msgs, np.int64)
    m_dest = np.zeros(max_msgs, np.int64)
    m_proc = np.zeros(max_msgs, np.int64)
    n_pt = 0
    for l in range(L):
        n_pt += ct_ptr[ch_off[l + 1]] - ct_ptr[ch_off[l]]
    p_core = np.zeros(n_pt + 1, np.int64)
    p_dest = np.zeros(n_pt + 1, np.int64)
    p_count = np.zeros(n_pt + 1, np.int64)
    pf = np.zeros(n_cores + 3 * (n_pt + 1), np.float64)
    pi = np.zeros(3 * (n_pt + 1), np.int64)
    Si = np.zeros(n_cores, np.int64)          # nominal sender clocks (integer cycles)
    width = 1
    for l in range(L):
        width = max(width, d_in[l], d_out[l])
    prev = np.zeros(width, np.int64)          # spikes of the population sending this stage
    nz = np.zeros(width, np.int64)            # the indices of its nnz non-zero entries
    ident = np.arange(width)                  # 0, 1, ...: a layer's senders are all its neurons
    pact = np.zeros(width, np.int8)           # its activity (for the neuron cycles)
    part = np.zeros(acc.shape[0], acc.dtype)   # a chunk's partial sums (bounded as acc)
    cur = np.zeros(width, np.float64)
    s8 = np.zeros(width, np.int8)
    act = np.zeros(width, np.int8)
    got = np.zeros(L, np.int64)               # did the layer's input carry events (delayed)
    racc = np.zeros(width, np.int64)          # a recurrent layer's integer sums
    rec = np.zeros(width, np.float64)
    for t in range(T):
        Si[:] = 0
        F[:] = 0.0
        shift[:] = 0.0
        total = 0.0
        nm = 0
        npt = 0
        nnz = 0                   # the inputs' non-zero entries (prev is read only there)
        xt = x[t]
        for j in range(_U(d_in[0])):     # nz: the spiking inputs, compacted without branches
            xj = xt[j]
            prev[j] = xj
            nz[nnz] = j
            nnz += xj != 0
        for l in range(L + 1):
            # -- sender timeline of population l: its neurons, then its messages -----------
            n_src = pop_off[l + 1] - pop_off[l]
            src0 = pop_off[l]
            busy_n = 0
            rl = l - 1 if l > 0 and wr_off[l - 1] >= 0 else -1   # a recurrent layer's own
            t_next = (0, 0, 0, 0, 0)   # `_send` tallies: messages to layer l's synapses,
            t_own = (0, 0, 0, 0, 0)    # to layer l - 1's own recurrent ones
            c = -1                # the sending core; its clock and busy cycles kept local
            si = 0
            cb = 0
            idx = ident if l > 0 else nz           # inputs: only those that spike
            for jj in range(n_src if l > 0 else nnz):
                j = _U(idx[jj])
                cj = core_of[_U(src0) + j]
                if cj != c:
                    if c >= 0:
                        Si[c] = si
                        core_busy[c] += cb
                    c = cj
                    si = Si[c]
                    cb = 0
                pj = prev[j]
                if l > 0:
                    lat = tm[2] + tm[3] * pact[j] + (tm[4] if pj != 0 else 0)
                    si += lat
                    cb += lat
                    busy_n += lat
                if pj == 0 or (l == L and rl < 0):
                    continue
                m = abs(pj)
                out_m = tm[5] * m
                if rl >= 0:                        # to the layer's own recurrent synapses
                    ch = ch_off[rl]
                    for tt in range(_U(ct_ptr[ch]), _U(ct_ptr[ch + 1])):
                        f = t_c1[tt] - t_c0[tt]
                        dest = t_core[tt]
                        si += out_m
                        cb += out_m
                        t_own = _send(c, dest, m, f, si, nm, lanes, tm, core_tx, core_ty,
                                      m_src, m_sent, m_dest, m_proc, core_busy, t_own)
                        nm += 1
                if l == L:
                    continue
                cq = j // _U(rows[l])                # the input's chunk
                ch = ch_off[l] + np.int64(cq)
                jr = j - cq * _U(rows[l])
                for tt in range(_U(ct_ptr[ch]), _U(ct_ptr[ch + 1])):
                    if fan_off[tt] >= 0:          # a sparse layer: the synapses j has here
                        f = fan_flat[fan_off[tt] + jr]
                        if f == 0:
                            continue
                    else:
                        f = t_c1[tt] - t_c0[tt]
                    dest = t_core[tt]
                    si += out_m
                    cb += out_m
                    t_next = _send(c, dest, m, f, si, nm, lanes, tm, core_tx, core_ty, m_src,
                                   m_sent, m_dest, m_proc, core_busy, t_next)
                    nm += 1
            if c >= 0:
                Si[c] = si
                core_busy[c] += cb
            if l > 0:
                lc[l - 1, LC_BUSY] += busy_n
                _count_sent(lc, l - 1, t_own)
            if l < L:
                _count_sent(lc, l, t_next)
            if l == L:
                break
            # -- the layer's arithmetic: integer currents --------------------------------------
            di = d_in[l]
            do = d_out[l]
            w0 = w_off[l]
            for o in range(do):
                acc[o] = 0
            n_in_spk = 0
            n_ch = ch_off[l + 1] - ch_off[l]
            jn = 0                        # the next of the nnz spiking inputs (nz, in order)
            for cc in range(n_ch):
                # chunk cc's partial sums (the whole layer when it has one chunk); the
                # tiles of a chunk cover every output column
                lo = cc * rows[l]
                hi = min(lo + rows[l], di)
                tgt = acc if n_ch == 1 else part
                if n_ch > 1:
                    for o in range(do):
                        part[o] = 0
                while jn < nnz and nz[jn] < hi:
                    j = nz[jn]
                    jn += 1
                    sj = prev[j]
                    n_in_spk += abs(sj)
                    wrow = w_flat[w0 + j * do:w0 + (j + 1) * do]
                    if sj == 1:
                        for o in range(do):
                            tgt[o] += wrow[o]
                    else:
                        for o in range(do):
                            tgt[o] += sj * wrow[o]
                if n_ch == 1:
                    break
                for o in range(do):
                    acc[o] += part[o]
                if cc == 0:
                    continue
                ch = ch_off[l] + cc       # chunk tiles send their non-zero sums home
                for tt in range(ct_ptr[ch], ct_ptr[ch + 1]):
                    c = t_core[tt]
                    dest = t_ncore[tt]
                    k = 0
                    for o in range(t_c0[tt], t_c1[tt]):
                        if part[o] != 0:
                            k += 1
                    if k > 0:
                        p_core[npt] = c
                        p_dest[npt] = dest
                        p_count[npt] = k
                        npt += 1
                        lc[l, LC_MSGS] += k
                        lc[l, LC_HOPS] += k * (abs(core_tx[c] - core_tx[dest])
                                               + abs(core_ty[c] - core_ty[dest]))
                        lc[l, LC_HOPS_NS] += k * abs(core_ty[c] - core_ty[dest])
                        lc[l, LC_ACS] += k
                        lc[l, LC_BUSY] += k * (tm[5] + tm[0] + tm[1])
                        core_busy[c] += k * tm[5]
                        core_busy[dest] += k * (tm[0] + tm[1])
            lc[l, LC_IN_SPIKES] += n_in_spk
            if not parallel:   # a zero-delay chain: this layer's stage ends before the next
                for c in range(n_cores):
                    S[c] = Si[c]
                end = schedule(nm, m_src, m_sent, m_dest, m_proc, S, F, shift, core_tx, core_ty,
                               core_k, ntx, nlink, lat_ew, lat_ns, buf, dens, wi, wf)
                if npt > 0:
                    end = max(end, _partial_sums(npt, p_core, p_dest, p_count, S, F, shift,
                                                 core_tx, core_ty, lat_ew, lat_ns, tm[5],
                                                 tm[0] + tm[1], pf, pi))
                total += end
                nm = 0
                npt = 0
                Si[:] = 0
                F[:] = 0.0
                shift[:] = 0.0
            # -- the layer's neurons ---------------------------------------------------------
            nb = pop_off[l + 1] - base
            for o in range(do):
                cur[o] = scale_flat[o_off[l] + o] * float(acc[o])
            if has_xb[l]:
                for o in range(do):
                    cur[o] = cur[o] + xb[nb + o]
            vs = v[nb:nb + do]
            g = got[l]
            if delay[l]:
                got[l] = 1 if n_in_spk > 0 else 0
            else:
                g = 1 if n_in_spk > 0 else 0
            if kind[l] >= KIND_EULER:
                ro = wr_off[l]
                if ro >= 0:                        # the previous step's own spikes
                    for o in range(do):
                        racc[o] = 0
                    for j in range(do):
                        if sp[nb + j] != 0:
                            g = 1
                            wrow = wr_flat[ro + j * do:ro + (j + 1) * do]
                            for o in range(do):
                                racc[o] += wrow[o]
                    for o in range(do):
                        rec[o] = float(racc[o]) * wr_scale[nb + o]
                active = euler_step(1 if kind[l] == KIND_EULER else 0, eflag[l, 0],
                                    eflag[l, 1], 1 if ro >= 0 else 0, ep[nb:nb + do], g,
                                    cur[:do], rec[:do], vs, i_[nb:nb + do], sp[nb:nb + do],
                                    s8[:do], act[:do])
            else:
                active = neuron_step(kind[l], dv[l], du[l], thr[l], sub[l], refr[l], bias[l],
                                     q[l], delay[l], fixed[l], g, cur[:do], vs, i_[nb:nb + do],
                                     r[nb:nb + do], p[nb:nb + do], s8[:do], act[:do])
            if has_xb[l]:
                for o in range(do):
                    if act[o] == 0 and xb[nb + o] != 0.0:
                        act[o] = 1
                        active += 1
            nspk = 0
            for o in range(do):
                nspk += s8[o]
                prev[o] = s8[o]
                pact[o] = act[o]
            nnz = 0
            if l + 1 < L:                 # the next layer's arithmetic reads nz
                for o in range(do):
                    nz[nnz] = o
                    nnz += s8[o] != 0
            lc[l, LC_ACCESS] += do
            lc[l, LC_UPDATES] += active
            lc[l, LC_SPIKES] += nspk
            if l == L - 1:
                unit = 2.0 ** q[l] if fixed[l] else 1.0     # a power of two: exact
                for o in range(do):
                    out_s[t, o] = s8[o]
                if out_v.shape[0] > 0:
                    for o in range(do):
                        out_v[t, o] = vs[o] / unit
        for c in range(n_cores):
            S[c] = Si[c]
        end = schedule(nm, m_src, m_sent, m_dest, m_proc, S, F, shift, core_tx, core_ty,
                       core_k, ntx, nlink, lat_ew, lat_ns, buf, dens, wi, wf)
        if npt > 0:
            end = max(end, _partial_sums(npt, p_core, p_dest, p_count, S, F, shift, core_tx,
                                         core_ty, lat_ew, lat_ns, tm[5], tm[0] + tm[1], pf, pi))
        step_cycles[t] = np.int64(math.ceil(total + end)) + sync


def neuron_step_ref(kind, dv, du, thr, sub, refr, bias, q, delay, fixed, got, x, v, i_, r, p):
    """NumPy twin of `neuron_step` (vectorised); returns (spikes int8, act int8)."""
    scale = 2.0 ** q
    if delay:
        xe = p.copy()
        p[:] = x
    else:
        xe = x.copy()
    act = (v != 0) | bool(got) | (bias != 0)
    if kind == KIND_CUBA:
        act |= i_ != 0
    if fixed:
        def dec(z, d):
            a = np.abs(z).astype(np.int64)
            m = ((a * (4096 - d)) >> 12).astype(np.float64)
            return np.where(z < 0, -m, m)
        X = xe * scale
        if kind == KIND_CUBA:
            i_[:] = np.clip(dec(i_, du) + X, -SAT, SAT)
            c = i_.copy()
        else:
            c = X
        vd = dec(v, dv)
        vn = np.clip(vd + bias * scale + c, -SAT, SAT)
        th = thr * scale
    else:
        if kind == KIND_CUBA:
            ci = ((4096 - du) / 4096.0) * i_
            if q > 0:
                ci = np.trunc(ci * scale) / scale
            i_[:] = ci + xe
            c = i_.copy()
        else:
            c = xe
        vd = ((4096 - dv) / 4096.0) * v
        if q > 0:
            vd = np.trunc(vd * scale) / scale
        vn = (vd + bias) + c
        th = thr
    refractory = (r > 0) if refr > 0 else np.zeros(v.shape, bool)
    fire = (vn > th) & ~refractory
    vn = np.where(fire, (vn - th) if sub else 0.0, vn)
    vn = np.where(refractory, 0.0, vn)
    r[:] = np.where(refractory, r - 1, np.where(fire, refr, r))
    v[:] = vn
    return fire.astype(np.int8), act.astype(np.int8)


def schedule_ref(msgs, S, F, shift, core_tx, core_ty, core_k, ntx, lat_ew, lat_ns, buf):
    """Twin of `schedule` on a list of (source, nominal sent, destination, cycles) messages,
    with Python heaps; returns the last event time."""
    by_core: dict[int, list[int]] = {}
    for k, m in enumerate(msgs):
        by_core.setdefault(int(m[0]), []).append(k)
    pq = [(float(msgs[ks[0]][1]), c) for c, ks in sorted(by_core.items())]
    heapq.heapify(pq)
    pos = {c: 0 for c in by_core}
    dens: dict[int, float] = {}
    flight: list[tuple[float, int]] = []        # (start, message) of each destination's head
    queue: dict[int, list[int]] = {}           # each destination's messages in flight
    last, psum, in_noc = 0.0, 0, 0
    starts: dict[int, float] = {}

    def route(a, b):
        x, y = int(core_tx[a]), int(core_ty[a])
        out = [(y * ntx + x, 4 + int(core_k[a]))]
        while x != int(core_tx[b]):
            step = 1 if core_tx[b] > x else -1
            x += step
            out.append((y * ntx + x, 1 if step > 0 else 3))
        while y != int(core_ty[b]):
            step = 1 if core_ty[b] > y else -1
            y += step
            out.append((y * ntx + x, 2 if step > 0 else 0))
        return out

    while pq:
        sent, c = heapq.heappop(pq)
        last = max(last, sent)
        while flight and flight[0][0] <= sent:
            _r, j = heapq.heappop(flight)
            q = queue[msgs[j][2]]
            q.pop(0)
            if q:
                heapq.heappush(flight, (starts[q[0]], q[0]))
            rt = route(msgs[j][0], msgs[j][2])
            for li in rt:
                dens[li] -= 1.0 / (len(rt) + 1)
            psum -= int(msgs[j][3])
            in_noc -= 1
        k = by_core[c][pos[c]]
        _src, _ns, d, proc = msgs[k]
        net = float(abs(int(core_tx[c]) - int(core_tx[d])) * lat_ew
                    + abs(int(core_ty[c]) - int(core_ty[d])) * lat_ns)
        if buf > 0:
            rt = route(c, d)
            if in_noc > 0:
                along = sum(dens.get(li, 0.0) for li in rt)
                cap = float(buf * len(rt))
                if along > cap:
                    stall = (along - cap) * float(psum) / float(in_noc)
                    sent += stall
                    shift[c] += stall
                net = max(net, along * float(psum) / float(in_noc * len(rt)))
        start = max(F[d], sent + net)
        F[d] = start + proc
        last = max(last, F[d])
        if buf > 0:
            for li in rt:
                dens[li] = dens.get(li, 0.0) + 1.0 / (len(rt) + 1)
            psum += int(proc)
            in_noc += 1
            starts[k] = start
            q = queue.setdefault(d, [])
            q.append(k)
            if len(q) == 1:
                heapq.heappush(flight, (start, k))
        if pos[c] + 1 < len(by_core[c]):
            pos[c] += 1
            k2 = by_core[c][pos[c]]
            nxt = sent + float(msgs[k2][1] - msgs[k][1])
            last = max(last, nxt)
            heapq.heappush(pq, (nxt, c))
    return max([last] + [float(S[c] + shift[c]) for c in range(len(S))])


def partial_sums_ref(parts, S, F, shift, core_tx, core_ty, lat_ew, lat_ns, out_cycles, proc):
    """Twin of `_partial_sums` on a list of (core, destination, count)."""
    clock: dict[int, float] = {}
    msgs = []
    last = 0.0
    for c, d, count in parts:
        clock.setdefault(c, max(float(S[c] + shift[c]), float(F[c])))
        lat = abs(int(core_tx[c]) - int(core_tx[d])) * lat_ew + \
            abs(int(core_ty[c]) - int(core_ty[d])) * lat_ns
        for _ in range(count):
            clock[c] += out_cycles
            msgs.append((clock[c], clock[c] + lat, d))
        last = max(last, clock[c])
    for _sent, arr, d in sorted(msgs, key=lambda m: m[0]):
        F[d] = max(F[d], arr) + proc
        last = max(last, F[d])
    return last


def euler_step_ref(spiking, reset, current, recurrent, ep, got, x, rec, v, i_, sp):
    """NumPy twin of `euler_step` (vectorised); returns (spikes int8, act int8)."""
    act = (v != 0) | bool(got) | (ep[:, EP_BV] != 0)
    if current:
        act |= i_ != 0
        i_[:] = ep[:, EP_AI] * i_ + ep[:, EP_GI] * x
        c = i_.copy()
    else:
        c = x
    vn = (ep[:, EP_AV] * v + ep[:, EP_BV]) + ep[:, EP_G] * c
    if not spiking:
        v[:] = vn
        return np.zeros(v.shape, np.int8), act.astype(np.int8)
    th = ep[:, EP_THR]
    if recurrent:
        vn = vn + (rec + ep[:, EP_BREC])
    if reset == RESET_SUB_NEXT:
        vn = vn - th * sp.astype(np.float64)
    fire = vn > th
    if reset == RESET_VALUE:
        vn = np.where(fire, ep[:, EP_VR], vn)
    elif reset == RESET_SUB:
        vn = np.where(fire, vn - th, vn)
    sp[:] = fire
    v[:] = vn
    return fire.astype(np.int8), act.astype(np.int8)


def run_network_ref(x, pop_off, core_of, w_flat, w_off, d_in, d_out, scale_flat, o_off, rows,
                    ch_off, ct_ptr, t_c0, t_c1, t_core, t_ncore, fan_off, fan_flat,
                    kind, dv, du, thr, sub, refr, bias, q, delay, fixed, eflag, ep, wr_flat,
                    wr_off, wr_scale, xb, has_xb, core_tx, core_ty, core_k, ntx, nlink, lanes,
                    tm, lat_ew, lat_ns, buf, sync, parallel, max_msgs, acc, v, i_, r, p, sp,
                    out_s, out_v, lc, core_busy, step_cycles):
    """Twin of `run_network` (same arguments and outputs): currents as one integer matrix
    product per layer and step, neurons vectorised, the messages as Python lists scheduled
    by `schedule_ref`."""
    T = x.shape[0]
    L = d_in.shape[0]
    n_cores = core_tx.shape[0]
    base = int(pop_off[1])
    got = [0] * L
    tm = [int(v_) for v_ in tm]

    def hops(a, b):
        return abs(int(core_tx[a]) - int(core_tx[b])) + abs(int(core_ty[a]) - int(core_ty[b]))

    def hops_ns(a, b):
        return abs(int(core_ty[a]) - int(core_ty[b]))

    def send(layer, c, m, dest, f):
        """m messages from core c to the f synapses of `layer` on core dest."""
        S[c] += tm[5] * m
        core_busy[c] += tm[5] * m
        proc = m * (tm[0] + tm[1] * ((f + lanes - 1) // lanes))
        msgs.append((c, int(S[c]), dest, proc))
        core_busy[dest] += proc
        lc[layer, LC_BUSY] += proc
        lc[layer, LC_MSGS] += m
        lc[layer, LC_HOPS] += m * hops(c, dest)
        lc[layer, LC_HOPS_NS] += m * hops_ns(c, dest)
        lc[layer, LC_ACS] += m * f

    for t in range(T):
        S = np.zeros(n_cores, np.int64)
        F = np.zeros(n_cores, np.float64)
        shift = np.zeros(n_cores, np.float64)
        total = 0.0
        msgs: list = []
        parts: list = []
        prev = x[t].astype(np.int64)
        pact = np.zeros(len(prev), np.int8)
        for l in range(L + 1):
            src = core_of[pop_off[l]:pop_off[l + 1]]
            rl = l - 1 if l > 0 and wr_off[l - 1] >= 0 else -1
            for j, c in enumerate(src):
                c = int(c)
                if l > 0:
                    lat = tm[2] + tm[3] * int(pact[j]) + tm[4] * int(prev[j] != 0)
                    S[c] += lat
                    core_busy[c] += lat
                    lc[l - 1, LC_BUSY] += lat
                if prev[j] == 0 or (l == L and rl < 0):
                    continue
                m = abs(int(prev[j]))
                if rl >= 0:                  # to the layer's own recurrent synapses
                    g = int(ch_off[rl])
                    for tt in range(ct_ptr[g], ct_ptr[g + 1]):
                        send(rl, c, m, int(t_core[tt]), int(t_c1[tt] - t_c0[tt]))
                if l == L:
                    continue
                g = int(ch_off[l]) + j // int(rows[l])
                jr = j - (g - int(ch_off[l])) * int(rows[l])
                for tt in range(ct_ptr[g], ct_ptr[g + 1]):
                    f = int(t_c1[tt] - t_c0[tt])
                    if fan_off[tt] >= 0:
                        f = int(fan_flat[fan_off[tt] + jr])
                        if f == 0:
                            continue
                    send(l, c, m, int(t_core[tt]), f)
            if l == L:
                break
            di, do = int(d_in[l]), int(d_out[l])
            W = w_flat[w_off[l]:w_off[l] + di * do].reshape(di, do).astype(np.int64)
            n_in_spk = int(np.abs(prev[:di]).sum())
            lc[l, LC_IN_SPIKES] += n_in_spk
            n_chunks = int(ch_off[l + 1] - ch_off[l])
            for ch in range(1, n_chunks):
                lo, hi = ch * int(rows[l]), min((ch + 1) * int(rows[l]), di)
                g = int(ch_off[l]) + ch
                for tt in range(ct_ptr[g], ct_ptr[g + 1]):
                    c, home = int(t_core[tt]), int(t_ncore[tt])
                    k = int(np.count_nonzero(prev[lo:hi] @ W[lo:hi, t_c0[tt]:t_c1[tt]]))
                    if k:
                        parts.append((c, home, k))
                        lc[l, LC_MSGS] += k
                        lc[l, LC_HOPS] += k * hops(c, home)
                        lc[l, LC_HOPS_NS] += k * hops_ns(c, home)
                        lc[l, LC_ACS] += k
                        lc[l, LC_BUSY] += k * (tm[5] + tm[0] + tm[1])
                        core_busy[c] += k * tm[5]
                        core_busy[home] += k * (tm[0] + tm[1])
            if not parallel:
                end = schedule_ref(msgs, S, F, shift, core_tx, core_ty, core_k, ntx, lat_ew,
                                   lat_ns, buf)
                if parts:
                    end = max(end, partial_sums_ref(parts, S, F, shift, core_tx, core_ty,
                                                    lat_ew, lat_ns, tm[5], tm[0] + tm[1]))
                total += end
                msgs, parts = [], []
                S[:] = 0
                F[:] = 0.0
                shift[:] = 0.0
            acc = prev[:di] @ W
            cur = scale_flat[o_off[l]:o_off[l] + do] * acc.astype(np.float64)
            nb = int(pop_off[l + 1]) - base
            sl = slice(nb, nb + do)
            if has_xb[l]:
                cur = cur + xb[sl]
            vs, is_, rs, ps = v[sl], i_[sl], r[sl], p[sl]
            gflag = got[l]
            if delay[l]:
                got[l] = int(n_in_spk > 0)
            else:
                gflag = int(n_in_spk > 0)
            if kind[l] >= KIND_EULER:
                sps = sp[sl]
                rec = np.zeros(do)
                if wr_off[l] >= 0:
                    Wr = wr_flat[wr_off[l]:wr_off[l] + do * do].reshape(do, do).astype(np.int64)
                    rec = sps.astype(np.int64) @ Wr * wr_scale[sl]
                    gflag = int(gflag or sps.any())
                s8, act = euler_step_ref(int(kind[l] == KIND_EULER), int(eflag[l, 0]),
                                         int(eflag[l, 1]), int(wr_off[l] >= 0), ep[sl], gflag,
                                         cur, rec, vs, is_, sps)
                sp[sl] = sps
            else:
                s8, act = neuron_step_ref(int(kind[l]), int(dv[l]), int(du[l]), float(thr[l]),
                                          int(sub[l]), int(refr[l]), float(bias[l]), int(q[l]),
                                          int(delay[l]), int(fixed[l]), gflag, cur, vs, is_, rs,
                                          ps)
            v[sl], i_[sl], r[sl], p[sl] = vs, is_, rs, ps
            if has_xb[l]:
                act = (act.astype(bool) | (xb[sl] != 0)).astype(np.int8)
            lc[l, LC_ACCESS] += do
            lc[l, LC_UPDATES] += int(act.sum())
            lc[l, LC_SPIKES] += int(s8.sum())
            if l == L - 1:
                out_s[t] = s8
                if out_v.shape[0] > 0:
                    out_v[t] = v[sl] / (2.0 ** q[l]) if fixed[l] else v[sl]
            prev = s8.astype(np.int64)
            pact = act
        end = schedule_ref(msgs, S, F, shift, core_tx, core_ty, core_k, ntx, lat_ew, lat_ns, buf)
        if parts:
            end = max(end, partial_sums_ref(parts, S, F, shift, core_tx, core_ty, lat_ew,
                                            lat_ns, tm[5], tm[0] + tm[1]))
        step_cycles[t] = int(math.ceil(total + end)) + sync
