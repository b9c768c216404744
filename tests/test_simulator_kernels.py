"""Every @njit kernel against its NumPy `_ref` twin: outputs, spike trains, cycle counts."""

from __future__ import annotations

import numpy as np
import pytest

from snncompile.simulator import dense, kernels, timing


def _case(seed, d_in=37, d_out=29, D=4, lo=None, R=3):
    rng = np.random.default_rng(seed)
    lo = -D if lo is None else lo
    WT = rng.integers(-127, 128, (d_in, d_out), dtype=np.int8)
    s = rng.integers(lo, D + 1, d_in).astype(np.int32)
    s[rng.random(d_in) < 0.4] = 0
    cuts = np.sort(rng.choice(np.arange(1, d_in), R - 1, replace=False))
    row_block = np.repeat(np.arange(R, dtype=np.int32), np.diff(np.r_[0, cuts, d_in]))
    return WT, s, row_block


@pytest.mark.parametrize("seed, D, lo", [(0, 4, None), (1, 1, 0), (2, 3, 0), (3, 7, None)])
def test_accumulate_binary_parity(seed, D, lo):
    WT, s, rb = _case(seed, D=D, lo=lo)
    R = int(rb.max()) + 1
    acc = np.empty(WT.shape[1], np.int32)
    counts = np.full((D, R), -1, np.int64)
    abs_sum = np.full(R, -1, np.int64)
    kernels.accumulate_binary(WT, s, rb, D, acc, counts, abs_sum)
    acc_r, counts_r, abs_r = kernels.accumulate_binary_ref(WT, s, rb, D, R)
    np.testing.assert_array_equal(acc, acc_r)
    np.testing.assert_array_equal(counts, counts_r)
    np.testing.assert_array_equal(abs_sum, abs_r)
    # exact integer result W^T s, and counts = the spike train's spikes per row block
    np.testing.assert_array_equal(acc, s.astype(np.int64) @ WT.astype(np.int64))
    frames = kernels.spike_frames(s, D)
    for k in range(D):
        np.testing.assert_array_equal(counts[k], np.bincount(rb, frames[k] != 0, R))
    assert counts.sum() == np.abs(s).sum()


@pytest.mark.parametrize("seed", [0, 5])
def test_accumulate_graded_parity(seed):
    WT, s, rb = _case(seed)
    R = int(rb.max()) + 1
    acc = np.empty(WT.shape[1], np.int32)
    counts = np.empty((1, R), np.int64)
    abs_sum = np.empty(R, np.int64)
    kernels.accumulate_graded(WT, s, rb, acc, counts, abs_sum)
    acc_r, counts_r, abs_r = kernels.accumulate_graded_ref(WT, s, rb, R)
    np.testing.assert_array_equal(acc, acc_r)
    np.testing.assert_array_equal(counts, counts_r)
    np.testing.assert_array_equal(abs_sum, abs_r)
    assert counts.sum() == np.count_nonzero(s)


@pytest.mark.parametrize("D", [1, 2, 4, 8])
def test_binary_microsteps_equal_graded_exhaustively(D):
    """Every level in {-D..D} on every input: D binary micro-steps == one graded event."""
    levels = np.arange(-D, D + 1, dtype=np.int32)
    rng = np.random.default_rng(D)
    d_out = 33
    WT = rng.integers(-127, 128, (len(levels), d_out), dtype=np.int8)
    rb = np.zeros(len(levels), np.int32)
    a_bin, a_gr = np.empty(d_out, np.int32), np.empty(d_out, np.int32)
    cb, ab = np.empty((D, 1), np.int64), np.empty(1, np.int64)
    cg, ag = np.empty((1, 1), np.int64), np.empty(1, np.int64)
    kernels.accumulate_binary(WT, levels, rb, D, a_bin, cb, ab)
    kernels.accumulate_graded(WT, levels, rb, a_gr, cg, ag)
    np.testing.assert_array_equal(a_bin, a_gr)
    assert ab[0] == ag[0] == np.abs(levels).sum()
    # and one input at a time: each level alone
    for lv in levels:
        one = np.zeros(len(levels), np.int32)
        one[0] = lv
        kernels.accumulate_binary(WT, one, rb, D, a_bin, cb, ab)
        np.testing.assert_array_equal(a_bin, int(lv) * WT[0].astype(np.int32))
        frames = kernels.spike_frames(one, D)[:, 0]
        assert frames.sum() == lv and np.count_nonzero(frames) == abs(lv)
        assert list(np.flatnonzero(frames)) == list(range(abs(int(lv))))  # first |s| steps


def test_spike_frames_and_encode_parity():
    rng = np.random.default_rng(7)
    s = rng.integers(-5, 6, 50).astype(np.int32)
    np.testing.assert_array_equal(kernels.spike_frames(s, 5), kernels.spike_frames_ref(s, 5))
    x = np.r_[rng.standard_normal(200) * 3, [0.5, 1.5, 2.5, -0.5, -1.5, 100.0, -100.0]]
    for theta, lo, hi in ((0.7, -4, 4), (1.0, 0, 4), (1.0, 0, 1)):
        out = np.empty(len(x), np.int32)
        kernels.encode_levels(x, theta, lo, hi, out)
        np.testing.assert_array_equal(out, kernels.encode_levels_ref(x, theta, lo, hi))
    out = np.empty(4, np.int32)
    kernels.encode_levels(np.array([0.5, 1.5, 2.5, -2.5]), 1.0, -4, 4, out)
    assert out.tolist() == [0, 2, 2, -2]  # round half to even


def _layout(seed, R=3, C=4, n_slots=5, n_cores=9):
    rng = np.random.default_rng(seed)
    tile_rb = np.repeat(np.arange(R), C).astype(np.int64)
    tile_slot = rng.integers(0, n_slots, R * C).astype(np.int64)
    tile_slot[:n_slots] = np.arange(n_slots)
    tile_cols = rng.integers(1, 40, R * C).astype(np.int64)
    lanes = 4
    pairs = sorted({(int(r), int(c)) for r, c in zip(tile_rb, tile_slot)})
    slot_core = rng.choice(n_cores, n_slots, replace=False).astype(np.int64)
    return dict(
        tile_rb=tile_rb, tile_slot=tile_slot, tile_cols=tile_cols,
        tile_passes=-(-tile_cols // lanes), tile_row_bytes=tile_cols.copy(),
        tile_out_hops=rng.integers(0, 6, R * C).astype(np.int64),
        pair_rb=np.array([p[0] for p in pairs], np.int64),
        pair_hops=rng.integers(0, 6, len(pairs)).astype(np.int64), n_slots=n_slots,
        pair_hops_ns=rng.integers(0, 3, len(pairs)).astype(np.int64),
        tile_out_hops_ns=rng.integers(0, 3, R * C).astype(np.int64),
        slot_core=slot_core, pair_slot=np.array([p[1] for p in pairs], np.int64)), n_cores


@pytest.mark.parametrize("seed, S, mult", [(0, 4, 1), (1, 1, 3), (2, 8, 1)])
def test_spiked_layer_cost_parity(seed, S, mult):
    lay, n_cores = _layout(seed)
    rng = np.random.default_rng(100 + seed)
    counts = rng.integers(0, 6, (S, 3)).astype(np.int64)
    counts[rng.random((S, 3)) < 0.3] = 0
    abs_sum = counts.sum(axis=0) + rng.integers(0, 3, 3)
    kw = dict(mult=mult, pipeline_depth=4, hop_latency=5, barrier_cycles=113, state_bytes=3)
    cores = [np.full(n_cores, 7, np.int64) for _ in range(4)]  # accumulated into (+=)
    totals = np.empty(timing.N_TOTALS, np.int64)
    timing.spiked_layer_cost(counts, abs_sum, lay["tile_rb"], lay["tile_slot"],
                             lay["tile_cols"], lay["tile_passes"], lay["tile_row_bytes"],
                             lay["tile_out_hops"], lay["pair_rb"], lay["pair_hops"],
                             lay["n_slots"], kw["mult"], kw["pipeline_depth"], kw["hop_latency"],
                             kw["barrier_cycles"], kw["state_bytes"], lay["slot_core"],
                             *cores, lay["pair_slot"], lay["pair_hops_ns"],
                             lay["tile_out_hops_ns"], totals)
    ref = timing.spiked_layer_cost_ref(counts, abs_sum, lay["tile_rb"], lay["tile_slot"],
                                       lay["tile_cols"], lay["tile_passes"],
                                       lay["tile_row_bytes"], lay["tile_out_hops"],
                                       lay["pair_rb"], lay["pair_hops"], lay["n_slots"],
                                       kw["mult"], kw["pipeline_depth"], kw["hop_latency"],
                                       kw["barrier_cycles"], kw["state_bytes"],
                                       lay["slot_core"], n_cores, lay["pair_slot"],
                                       lay["pair_hops_ns"], lay["tile_out_hops_ns"])
    np.testing.assert_array_equal(totals, ref[0])
    for got, want in zip(cores, ref[1:]):
        np.testing.assert_array_equal(got - 7, want)


def test_spiked_layer_cost_by_hand():
    """One tile of 10 columns on one core 3 hops from the host, 4 lanes, D = 2 micro-steps,
    2 spikes in step 1 and 1 in step 2 (|s| sum 3)."""
    one = np.array([0], np.int64)
    counts = np.array([[2], [1]], np.int64)
    totals = np.empty(timing.N_TOTALS, np.int64)
    z = [np.zeros(1, np.int64) for _ in range(4)]
    timing.spiked_layer_cost(counts, np.array([3], np.int64), one, one, np.array([10]),
                             np.array([3]), np.array([10]), np.array([3]), one, np.array([3]),
                             1, 1, 4, 5, 100, 3, one, *z, one, np.array([1]), np.array([1]),
                             totals)
    # step k: n_k * passes + pipeline, + 5 * 3 hops + 100 barrier; read-out: 3 passes + 15
    assert totals[timing.T_CYCLES] == (2 * 3 + 4 + 15 + 100) + (1 * 3 + 4 + 15 + 100) + (3 + 15)
    assert totals[timing.T_ACS] == 30
    assert totals[timing.T_WBYTES] == 30
    assert totals[timing.T_MSGS] == 3 + 10 and totals[timing.T_HOPS] == 3 * 3 + 10 * 3
    assert totals[timing.T_HOPS_NS] == 3 * 1 + 10 * 1      # 1 of the 3 hops north-south
    assert totals[timing.T_SREAD] == totals[timing.T_SWRITE] == 3 * (30 + 10)
    assert z[0][0] == 30 and z[3][0] == 3  # core acs, messages received


def test_dense_cycle_equations():
    assert timing.dense_cycles(0, 64, 8) == 0
    assert timing.dense_cycles(1, 64, 8) == 9
    assert timing.dense_cycles(129, 64, 8, 5, 2) == 3 + 8 + 10
    assert timing.encode_cycles(100, 4, 64, 8) == 4 * 2 + 8


def test_dense_kernels_parity():
    rng = np.random.default_rng(3)
    W = rng.standard_normal((50, 33)).astype(np.float32)
    x = rng.standard_normal(33)
    out = np.empty(50)
    dense.matvec_f64(W, x, out)
    np.testing.assert_allclose(out, dense.matvec_f64_ref(W, x), rtol=1e-12, atol=1e-12)
    C, K = 12, 4
    st = rng.standard_normal((C, K - 1))
    w, b, xc = rng.standard_normal((C, K)), rng.standard_normal(C), rng.standard_normal(C)
    y_ref, st_ref = dense.conv_step_ref(st, xc, w, b)
    y = np.empty(C)
    dense.conv_step(st, xc, w, b, True, y)
    np.testing.assert_allclose(y, y_ref, rtol=1e-13)
    np.testing.assert_array_equal(st, st_ref)
    H, P, N, G = 4, 3, 5, 2
    h = rng.standard_normal((H, P, N))
    args = (rng.standard_normal(H * P), rng.uniform(0.01, 0.1, H), rng.standard_normal(G * N),
            rng.standard_normal(G * N), np.log(rng.uniform(1, 16, H)), rng.standard_normal(H))
    y_ref, h_ref = dense.ssm_step_ref(h.copy(), *args, G)
    y = np.empty(H * P)
    dense.ssm_step(h, *args, G, y)
    np.testing.assert_allclose(y, y_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(h, h_ref, rtol=1e-12, atol=1e-12)
