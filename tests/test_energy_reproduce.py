"""The paper reproduction: the affine shortcut equals the full pipeline, bisection finds the
rate, infeasible targets are reported, and the 1.3B figures match a hand calculation."""

from __future__ import annotations

import csv
import io

import pytest

from snncompile.energy import reproduce as rp


@pytest.fixture(scope="module")
def m13():
    return {lm: rp.RatioModel("mamba2-1.3b", "paper-45nm", lm_head=lm) for lm in (True, False)}


@pytest.mark.parametrize("table,reads", [("paper-45nm", "per-spike"),
                                         ("horowitz-45nm", "per-spike"),
                                         ("horowitz-45nm", "per-active")])
def test_affine_ratio_equals_the_full_pipeline(table, reads):
    from snncompile.energy.analytic import spiking_graph
    from snncompile.models.config import PUBLIC_CONFIGS

    g = spiking_graph(PUBLIC_CONFIGS["mamba2-130m"])
    for lm in (True, False):
        m = rp.RatioModel("mamba2-130m", table, lm_head=lm, weight_reads=reads, graph=g)
        for R in (0.013, 0.1213, 0.37, 0.9):
            rep = m.report(R)
            assert m.ratio(R) == pytest.approx(rep.ratio, rel=1e-10)
            ann, snn = m.energies(R)
            assert snn == pytest.approx(rep.snn.total, rel=1e-10)
            assert ann == pytest.approx(rep.ann.total, rel=1e-12)


def _hand_ratio(R: float, lm_head: bool, D: int = 4) -> float:
    """Paper-style ratio of mamba2-1.3b from the formulas (independent of the code)."""
    d, di, H, P, N, K, L, V = 2048, 4096, 64, 64, 128, 4, 48, 50288
    C, dp = di + 2 * N, 2 * di + 2 * N + H
    rest = L * (2 * d + C * K + C + H + 3 * H * P * N + 2 * H * P + 3 * di) + 2 * d
    rest += V * d if lm_head else 0
    proj = L * (d * dp + di * d)
    adds = L * d
    ann = 4.6 * (rest + proj) + 0.9 * adds
    snn = 4.6 * rest + 0.9 * (adds + R * D * proj)   # ACs = d_out * R * d_in * D = R*D*MACs
    return ann / snn


def test_solve_1p3b_for_the_paper_ratio(m13):
    for lm in (True, False):
        s = rp.solve_rate(m13[lm].ratio, rp.PAPER_RATIO)
        assert s.feasible
        assert _hand_ratio(s.rate, lm) == pytest.approx(rp.PAPER_RATIO, rel=1e-6)
        assert s.mean_spikes == pytest.approx(4 * s.rate)
        assert s.cap == pytest.approx(_hand_ratio(0.0, lm), rel=1e-9)
    on = rp.solve_rate(m13[True].ratio, rp.PAPER_RATIO)
    off = rp.solve_rate(m13[False].ratio, rp.PAPER_RATIO)
    assert 0.11 < on.rate < 0.13 and 0.19 < off.rate < 0.22
    assert 7.8 < on.cap < 7.95 and 16.5 < off.cap < 17.5


def test_infeasible_targets(m13):
    s = rp.solve_rate(m13[True].ratio, 9.8)          # above the LM-head cap
    assert not s.feasible and s.rate is None and s.cap < 9.8
    s = rp.solve_rate(m13[True].ratio, 1.01)         # below the ratio at R = 1
    assert not s.feasible and s.ratio_at_full_rate > 1.01


def test_solve_rate_on_a_known_function():
    s = rp.solve_rate(lambda r: 10.0 / (1.0 + 9.0 * r), 4.0, D=2, tol=1e-12)
    assert s.rate == pytest.approx(1.0 / 6.0, abs=1e-9) and s.mean_spikes == pytest.approx(1 / 3)


def test_small_reproduction_writes_consistent_outputs(tmp_path):
    rep = rp.reproduce(configs=("mamba2-130m", "mamba2-1.3b"), rates=rp.default_rates(5))
    rows = list(csv.DictReader(io.StringIO(rp.curves_csv(rep))))
    assert len(rows) == 2 * len(rp.MODELS) * 2 * 5
    r0 = next(r for r in rows if r["config"] == "mamba2-1.3b" and r["model"] == "paper"
              and r["lm_head"] == "1" and float(r["fire_rate"]) == 0.125)
    assert float(r0["ratio"]) == pytest.approx(_hand_ratio(0.125, True), rel=1e-5)
    summary = list(csv.DictReader(io.StringIO(rp.summary_csv(rep))))
    assert any(r["config"] == "mamba2-130m" and r["lm_head"] == "1" and r["target"] == "4.76"
               and r["feasible"] == "0" for r in summary)  # 130m with its LM head caps ~2.7x
    md = rp.markdown(rep)
    s = rep.solutions[("mamba2-1.3b", "paper", True, rp.PAPER_RATIO)]
    assert f"R = {s.rate:.4f}" in md
    assert "memory-aware ratio" in md
    # memory lowers the 1.3B ratio at the paper-style rate (per-spike weight reads)
    assert rep.at_paper_rate[(True, "memory-per-spike")] < rp.PAPER_RATIO
    rp.plot(rep, tmp_path / "r.png")
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"
