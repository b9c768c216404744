"""The neuron ops LIF, IF and CubaLIF (snncompile/ir/neuron_ops.py): their equations against a
plain-Python loop per neuron (float and fixed point, both executors), fixed == float * 2^q,
24-bit saturation, refractory periods, resets, the op's checks and facts, ONNX round trip."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snncompile.backends.reference import ReferenceInterpreter
from snncompile.errors import IRError, SimulationError
from snncompile.ir import ops, serde
from snncompile.ir.examples import lif_network
from snncompile.ir.ops import make_op
from snncompile.simulator.executor import NumpyExecutor

SAT = 2 ** 23 - 1


# -- the equations, one neuron at a time, in plain Python --------------------------------------
def loop_neuron(kind: str, a: dict, xs: list[float]) -> tuple[list[int], list[float]]:
    """Spikes and potentials of one neuron over the currents xs (docs/neurons.md)."""
    q, fixed = a["quant_bits"], a["fixed_point"]
    dv = 0 if kind == "if" else a["dv"]
    v = i = r = p = 0
    spikes, vs = [], []
    for x in xs:
        if fixed:
            X = x * 2 ** q
            assert X == int(X)
            x = int(X)
        if a["delay"]:
            xe, p = p, x
        else:
            xe = x
        if fixed:
            def dec(z, d):
                return (1 if z > 0 else -1 if z < 0 else 0) * ((abs(z) * (4096 - d)) >> 12)

            def sat(z):
                return max(-SAT, min(SAT, z))
            c = xe
            if kind == "cubalif":
                i = sat(dec(i, a["du"]) + xe)
                c = i
            v = sat(dec(v, dv) + int(a["bias"] * 2 ** q) + c)
            th = a["threshold"] * 2 ** q
        else:
            def Q(z):
                return z if q == 0 else math.trunc(z * 2 ** q) / 2 ** q
            c = xe
            if kind == "cubalif":
                i = Q((4096 - a["du"]) / 4096 * i) + xe
                c = i
            v = (Q((4096 - dv) / 4096 * v) + a["bias"]) + c
            th = a["threshold"]
        if a["refractory"] > 0 and r > 0:
            r, v, s = r - 1, 0, 0
        else:
            s = int(v > th)
            if s:
                v = 0 if a["reset"] == "zero" else v - int(th) if fixed else v - th
                r = a["refractory"]
        spikes.append(s)
        vs.append(v / 2 ** q if fixed else float(v))
    return spikes, vs


def diag_network(kind: str, a: dict, w: np.ndarray):
    """input spikes -> x_j = w_j * s_j (a diagonal float synapse) -> one neuron layer."""
    spec = {"kind": kind, **{k: v for k, v in a.items() if not (kind == "if" and k == "dv")
                            and not (kind != "cubalif" and k == "du")}}
    return lif_network([np.diag(w).astype(np.float64)], spec, output="both")


def random_attrs(r: np.random.Generator, fixed: bool) -> dict:
    q = int(r.integers(1 if fixed else 0, 9))
    step = 2.0 ** -q if fixed else None
    reset = str(r.choice(["zero", "subtract"]))
    thr = float(r.integers(1, 40)) * step if fixed else float(r.uniform(0.2, 3.0))
    bias = float(r.integers(-3, 4)) * step if fixed else float(r.uniform(-0.2, 0.3))
    return {"dv": int(r.integers(0, 4097)), "du": int(r.integers(0, 4097)), "threshold": thr,
            "reset": reset, "refractory": int(r.choice([0, 0, 1, 3])), "bias": bias,
            "quant_bits": q, "delay": int(r.integers(0, 2)), "fixed_point": fixed}


@pytest.mark.parametrize("fixed", [False, True], ids=["float", "fixed"])
@pytest.mark.parametrize("kind", ["lif", "if", "cubalif"])
def test_equations_match_a_plain_loop(kind, fixed):
    """Random parameters and currents: both executors equal the per-neuron loop exactly."""
    r = np.random.default_rng(7 + fixed)
    total = 0
    for _trial in range(6):
        a = random_attrs(r, fixed)
        d, T = 5, 60
        q = a["quant_bits"]
        w = (r.integers(-12, 16, d) / 2 ** q if fixed else r.normal(0.4, 0.8, d))
        g = diag_network(kind, a, w)
        x = r.integers(0, 3, (T, d))
        cur = 1.0 * (np.diag(w).astype(np.float64) @ x.T.astype(np.float64)).T   # (T, d)
        for ex in (NumpyExecutor(g), ReferenceInterpreter(g, device="cpu")):
            s, v = ex.run_steps(x).outputs
            for j in range(d):
                want_s, want_v = loop_neuron(kind, a, [float(c) for c in cur[:, j]])
                assert s[:, j].tolist() == want_s, (type(ex).__name__, a, j)
                assert v[:, j].tolist() == want_v, (type(ex).__name__, a, j)
        total += int(s.sum())
    assert 0 < total < 6 * 60 * 5      # the trials fire, and not always


@settings(max_examples=40, deadline=None, derandomize=True)
@given(kind=st.sampled_from(["lif", "if", "cubalif"]), q=st.integers(1, 10),
       dv=st.integers(0, 4096), du=st.integers(0, 4096), thr=st.integers(1, 200),
       bias=st.integers(-5, 5), reset=st.sampled_from(["zero", "subtract"]),
       refractory=st.integers(0, 3), delay=st.integers(0, 1), seed=st.integers(0, 2 ** 16))
def test_fixed_point_equals_float_times_2q(kind, q, dv, du, thr, bias, reset, refractory,
                                           delay, seed):
    """Without saturation the fixed form is the float form in units of 2^-q, exactly."""
    a = {"dv": dv, "du": du, "threshold": thr / 2 ** q, "reset": reset,
         "refractory": refractory, "bias": bias / 2 ** q, "quant_bits": q, "delay": delay}
    r = np.random.default_rng(seed)
    w = r.integers(-40, 60, 4) / 2 ** q
    x = r.integers(0, 3, (30, 4))
    outs = [NumpyExecutor(diag_network(kind, {**a, "fixed_point": fp}, w)).run_steps(x).outputs
            for fp in (False, True)]
    assert np.abs(outs[0][1]).max() * 2 ** q < SAT          # no saturation in this range
    assert np.array_equal(outs[0][0], outs[1][0])
    assert np.array_equal(outs[0][1], outs[1][1])
    assert np.array_equal(outs[0][1] * 2 ** q, np.trunc(outs[0][1] * 2 ** q))


def _one(kind: str, T: int, w: float = 1.0, **attrs) -> tuple[np.ndarray, np.ndarray]:
    """Spikes and potentials of one neuron driven by the constant current w for T steps,
    both executors (asserted equal)."""
    a = {"reset": "zero", "refractory": 0, "bias": 0.0, "quant_bits": 0, "delay": 0,
         "fixed_point": False, **attrs}
    g = diag_network(kind, a, np.array([w]))
    got = [ex.run_steps(np.ones((T, 1), np.int64)).outputs
           for ex in (NumpyExecutor(g), ReferenceInterpreter(g, device="cpu"))]
    assert all(np.array_equal(p, q) for p, q in zip(*got))
    return got[0][0][:, 0], got[0][1][:, 0]


def test_saturation_at_24_bits():
    """Fixed point: V and I clip at +-(2^23 - 1); the float form does not."""
    q = 1
    w = np.array([-2.0 ** 21, 2.0 ** 21])
    x = np.ones((4, 2), np.int64)
    base = {"reset": "zero", "refractory": 0, "bias": 0.0, "quant_bits": q, "delay": 0,
            "threshold": (SAT - 1) / 2}
    fx = NumpyExecutor(diag_network("if", {**base, "fixed_point": True}, w)).run_steps(x)
    fl = NumpyExecutor(diag_network("if", {**base, "fixed_point": False}, w)).run_steps(x)
    # V: -2^22, -2^23 -> -(2^23 - 1) (clipped), ...; the positive one spikes at the clip
    assert fx.outputs[1][:, 0].tolist() == [-2.0 ** 21, -SAT / 2, -SAT / 2, -SAT / 2]
    assert fl.outputs[1][:, 0].tolist() == [-2.0 ** 21, -2.0 ** 22, -1.5 * 2 ** 22, -2.0 ** 23]
    assert fx.outputs[0][:, 1].tolist() == [0, 1, 0, 1]
    cuba = NumpyExecutor(diag_network("cubalif", {**base, "fixed_point": True, "dv": 4096,
                                                  "du": 0}, w)).run_steps(x)
    # I integrates and clips; with dv = 4096 V = I each step
    assert cuba.outputs[1][:, 0].tolist() == [-2.0 ** 21, -SAT / 2, -SAT / 2, -SAT / 2]


def test_refractory_holds_at_reset():
    s, v = _one("lif", 10, threshold=0.5, dv=0, refractory=3)
    assert s.tolist() == [1, 0, 0, 0, 1, 0, 0, 0, 1, 0]
    assert v.tolist() == [0.0] * 10
    s, v = _one("lif", 6, threshold=1.5, dv=0, refractory=1)
    # 1, 2 -> spike (reset 0), held (input dropped), 1, 2 -> spike, held
    assert s.tolist() == [0, 1, 0, 0, 1, 0]
    assert v.tolist() == [1.0, 0.0, 0.0, 1.0, 0.0, 0.0]
    s, v = _one("lif", 6, threshold=1.5, dv=0, refractory=0)
    assert s.tolist() == [0, 1, 0, 1, 0, 1]


def test_subtract_and_zero_reset_strict_threshold():
    g = diag_network("if", {"threshold": 1.0, "reset": "subtract", "refractory": 0,
                            "bias": 0.0, "quant_bits": 0, "delay": 0, "fixed_point": False},
                     np.array([0.75]))
    s, v = NumpyExecutor(g).run_steps(np.ones((5, 1), np.int64)).outputs
    # 0.75, 1.5 -> 0.5, 1.25 -> 0.25, 1.0 (not > 1: no spike), 1.75 -> 0.75
    assert s[:, 0].tolist() == [0, 1, 1, 0, 1]
    assert v[:, 0].tolist() == [0.75, 0.5, 0.25, 1.0, 0.75]
    s, v = _one("if", 4, threshold=1.0, reset="zero")
    assert s.tolist() == [0, 1, 0, 1] and v.tolist() == [1.0, 0.0, 1.0, 0.0]
    s, v = _one("if", 3, w=0.5, threshold=1.0, reset="zero", bias=0.5)
    assert s.tolist() == [0, 1, 0] and v.tolist() == [1.0, 0.0, 1.0]


def test_leak_and_quantised_decay():
    """v <- Q(alpha_v v) + x: dv = 2048 halves, q = 2 truncates toward zero."""
    g = diag_network("lif", {"threshold": 100.0, "reset": "zero", "refractory": 0, "dv": 2048,
                             "bias": 0.0, "quant_bits": 2, "delay": 0, "fixed_point": False},
                     np.array([1.0, -1.0]))
    x = np.array([[3, 3], [0, 0], [0, 0], [0, 0]])
    v = NumpyExecutor(g).run_steps(x).outputs[1]
    assert v[:, 0].tolist() == [3.0, 1.5, 0.75, 0.25]      # 0.375 -> 0.25
    assert v[:, 1].tolist() == [-3.0, -1.5, -0.75, -0.25]  # toward zero


def test_fixed_point_input_must_be_representable():
    g = diag_network("lif", {"threshold": 1.0, "reset": "zero", "refractory": 0, "dv": 10,
                             "bias": 0.0, "quant_bits": 2, "delay": 0, "fixed_point": True},
                     np.array([0.3]))
    for ex in (NumpyExecutor(g), ReferenceInterpreter(g, device="cpu")):
        with pytest.raises(SimulationError, match=r"layers\.0\.neuron.*integer-valued"):
            ex.run_steps(np.ones((2, 1), np.int64))


# -- the op's checks and facts -----------------------------------------------------------------
@pytest.mark.parametrize("op_type, attrs, field", [
    ("LIF", {"dv": 4097}, "dv"),
    ("LIF", {"dv": -1}, "dv"),
    ("CubaLIF", {"dv": 1, "du": 4097}, "du"),
    ("LIF", {"dv": 1, "reset": "hard"}, "reset"),
    ("IF", {"quant_bits": 25}, "quant_bits"),
    ("IF", {"quant_bits": -1}, "quant_bits"),
    ("IF", {"refractory": 2 ** 16 + 1}, "refractory"),
    ("IF", {"delay": 2}, "delay"),
    ("IF", {"threshold": 0.0}, "threshold"),
    ("IF", {"threshold": float("inf")}, "threshold"),
    ("IF", {"d": 0}, "d"),
    ("IF", {"fixed_point": 1}, "fixed_point"),
    ("IF", {"fixed_point": True, "quant_bits": 0}, "quant_bits"),
    ("IF", {"fixed_point": True, "quant_bits": 2, "bias": 0.3}, "bias"),
    ("IF", {"fixed_point": True, "quant_bits": 2, "bias": 2.0 ** 22}, "bias"),
    ("IF", {"fixed_point": True, "quant_bits": 2, "threshold": 0.3, "reset": "subtract"},
     "threshold"),
    ("IF", {"fixed_point": True, "quant_bits": 2, "threshold": 2.0 ** 21}, "threshold"),
])
def test_verify_names_the_field(op_type, attrs, field):
    with pytest.raises(IRError, match=rf"{op_type}\.{field}"):
        make_op(op_type, {"d": 4, "threshold": 1.0, **attrs})


def test_fixed_point_threshold_may_be_fractional_with_zero_reset():
    make_op("IF", {"d": 2, "threshold": 0.3, "quant_bits": 2, "fixed_point": True})


def test_facts_state_and_counts():
    lif = ops.LIF(d=5, threshold=1.0, dv=1)
    assert lif.stateful and lif.emits_spikes and lif.output_kinds() == ("spike", "float")
    assert lif.state_shapes() == {"v": (5,)} and lif.neuron_updates() == 5
    assert lif.dense_work() == 0 and lif.counts() == ops.Counts() and lif.param_shapes() == {}
    full = ops.CubaLIF(d=3, threshold=1.0, du=1, dv=1, refractory=2, delay=1)
    assert full.state_shapes() == {"v": (3,), "i": (3,), "r": (3,), "p": (3,)}
    assert full.state_elements() == 12
    assert ops.IF(d=2, threshold=1.0).decay_v == 0 and full.decay_i == 1


def test_counts_per_step_through_the_walk():
    """Spikes and neuron updates counted by the walk; no ACs in the neuron node."""
    g = diag_network("if", {"threshold": 1.5, "reset": "zero", "refractory": 0, "bias": 0.0,
                            "quant_bits": 0, "delay": 0, "fixed_point": False}, np.ones(3))
    res = NumpyExecutor(g).run_steps(np.ones((6, 3), np.int64))
    c = res.counters
    n = c.node("layers.0.neuron").counts
    assert (n.spikes, n.neuron_updates, n.acs, n.macs) == (9, 18, 0, 0)
    assert int(res.outputs[0].sum()) == 9
    assert c.node("layers.0.synapse").counts.acs == 3 * 18 and c.tokens == 6


@pytest.mark.parametrize("op", [
    ops.LIF(d=3, threshold=0.75, dv=4096, reset="subtract", refractory=65536, bias=-0.25,
            quant_bits=24, delay=1, fixed_point=False),
    ops.IF(d=2, threshold=1.5, fixed_point=True, quant_bits=3, bias=0.125),
    ops.CubaLIF(d=4, threshold=0.1, du=0, dv=17, delay=0, quant_bits=0),
])
def test_onnx_round_trip_of_every_attribute(op, tmp_path):
    g = lif_network([np.eye(op.d, dtype=np.int8)], {"kind": type(op).__name__.lower(), **{
        k: v for k, v in op.attributes().items() if k != "d"}}, output="both")
    path = serde.save(g, tmp_path / "n.onnx")
    back = serde.load(path)
    assert back.node("layers.0.neuron").op == op
    assert {k: type(v) for k, v in back.node("layers.0.neuron").op.attributes().items()} == \
        {k: type(v) for k, v in op.attributes().items()}
    assert back.metadata == g.metadata and back.input_specs() == {"spikes": ("spike", (op.d,))}
