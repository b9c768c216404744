"""Analytic mode fed the simulator's measured firing rates gives the measured AC and MAC counts.

A real run: a calibrated tiny student -> build_graph -> accum lowering -> simulator -> sim.json
-> energy.parse_sim; then analytic_counters(program graph, rates=rates_from_counters(...))."""

from __future__ import annotations

import pytest

from snncompile.backends import get_backend
from snncompile.backends.accum.hardware import HardwareSpec
from snncompile.energy import analytic_counters, parse_sim, price, rates_from_counters
from snncompile.energy.table import load_table
from snncompile.frontend import build_graph
from snncompile.models.config import NeuronConfig
from snncompile.simulator import Simulator, sim_json


@pytest.fixture(scope="module")
def measured(calibrated_student):
    student = calibrated_student(1, NeuronConfig(kind="silif", D=3))
    graph = build_graph(student.config, student.state_dict())
    hw = HardwareSpec.load("default")
    program = get_backend("accum").lower(graph, hw)
    sim = Simulator(program)
    sim.run([ord(c) for c in "spiking mamba"])
    counters = sim.counters
    assert parse_sim(sim_json(counters, prompt="spiking mamba")).nodes == counters.nodes
    return program, counters


def test_analytic_with_measured_rates_equals_measured_counts(measured):
    program, counters = measured
    rates = rates_from_counters(program.graph, counters)
    assert rates and all(0 < r < 1 for r in rates.values())
    analytic = analytic_counters(program.graph, rates=rates, tokens=counters.tokens)
    a = {l.name: l for l in analytic.nodes}
    m = {l.name: l for l in counters.nodes}
    assert set(a) == set(m)
    for name in m:
        assert a[name].acs == pytest.approx(m[name].acs, rel=1e-12, abs=1e-9), name
        assert a[name].macs == pytest.approx(m[name].macs, rel=1e-12), name
        assert a[name].dense_macs == pytest.approx(m[name].dense_macs, rel=1e-12), name
    assert analytic.total("acs") == pytest.approx(counters.total("acs"))
    assert counters.total("acs") > 0


def test_paper_preset_prices_both_modes_equally(measured):
    program, counters = measured
    rates = rates_from_counters(program.graph, counters)
    analytic = analytic_counters(program.graph, rates=rates, tokens=counters.tokens)
    table = load_table("paper-45nm")
    ra, rm = price(analytic, table), price(counters, table)
    assert ra.ratio == pytest.approx(rm.ratio, rel=1e-9)
    assert ra.snn.total == pytest.approx(rm.snn.total, rel=1e-9)
