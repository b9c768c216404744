"""benchmarks/sanafe_agreement.py without SANA-FE: case-file validation, the random draw, the
threshold search and the one-line exit-2 errors (SANA-FE itself is never run here)."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "sanafe_agreement.py"
CASES = sorted((ROOT / "benchmarks" / "sanafe_cases").glob("*.json"))


@pytest.fixture(scope="module")
def sa():
    spec = importlib.util.spec_from_file_location("sanafe_agreement", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


GOOD = {"name": "g", "seed": 3, "steps": 20, "widths": [8, 6, 4], "input_rate": 0.3,
        "neuron": {"kind": "lif", "leak": 0.875, "threshold": 90.0, "reset": "subtract"}}


def test_example_case_files_parse(sa):
    assert len(CASES) >= 2
    names = {c["name"] for c in sa.BUILTIN}
    for path in CASES:
        case = sa.load_case(path)
        assert case["name"] in names                     # the files are built-in cases
        assert case == sa.parse_case(next(c for c in sa.BUILTIN if c["name"] == case["name"]))


def test_builtin_set_covers_the_required_shapes(sa):
    cases = [sa.parse_case(c) for c in sa.BUILTIN]
    assert len(cases) >= 8 and len({c["name"] for c in cases}) == len(cases)
    assert any(c["widths"][0] > 4096 for c in cases)             # fan-in beyond one core
    assert any(c["steps"] >= 10_000 for c in cases)              # long sparse run
    assert any(len(c["widths"]) >= 4 for c in cases)             # multi-layer
    assert any(c["neuron"]["kind"] == "integrator" for c in cases)
    assert any(c["neuron"]["reset"] == "subtract" for c in cases)


def test_good_file_normalises(sa, tmp_path):
    p = tmp_path / "g.json"
    case = dict(GOOD, neuron={"target_rate": 0.1})
    p.write_text(json.dumps(case))
    got = sa.load_case(p)
    assert got["neuron"] == {"kind": "lif", "leak": 1.0, "reset": "zero", "target_rate": 0.1}
    assert got["widths"] == [8, 6, 4]


BAD = [
    ("{not json", "not JSON"),
    (json.dumps([1, 2]), "JSON object"),
    (json.dumps(dict(GOOD, extra=1)), "unknown key"),
    (json.dumps({k: v for k, v in GOOD.items() if k != "seed"}), "missing key"),
    (json.dumps(dict(GOOD, steps=True)), "steps"),
    (json.dumps(dict(GOOD, steps=0)), "steps"),
    (json.dumps(dict(GOOD, widths=[8])), "widths"),
    (json.dumps(dict(GOOD, widths=[8, -1])), "widths[1]"),
    (json.dumps(dict(GOOD, input_rate=1.5)), "input_rate"),
    (json.dumps(dict(GOOD, neuron={"kind": "izhikevich", "threshold": 1.0})), "neuron.kind"),
    (json.dumps(dict(GOOD, neuron={"threshold": 1.0, "target_rate": 0.1})), "exactly one"),
    (json.dumps(dict(GOOD, neuron={"leak": 0.5})), "exactly one"),
    (json.dumps(dict(GOOD, neuron={"threshold": -3.0})), "neuron.threshold"),
    (json.dumps(dict(GOOD, neuron={"target_rate": 1.0})), "neuron.target_rate"),
    (json.dumps(dict(GOOD, neuron={"threshold": 1.0, "reset": "hard"})), "neuron.reset"),
    (json.dumps(dict(GOOD, neuron={"threshold": 1.0, "leak": 0.0})), "neuron.leak"),
    (json.dumps(dict(GOOD, neuron={"threshold": 1.0, "tau": 3})), "unknown key"),
]


@pytest.mark.parametrize("text,needle", BAD)
def test_bad_file_is_one_line_exit_2(sa, tmp_path, capsys, text, needle):
    p = tmp_path / "bad.json"
    p.write_text(text)
    assert sa.main(["--case", str(p)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("sanafe_agreement: case ")
    assert needle in err and str(p) in err


def test_missing_file_and_threads(sa, tmp_path, capsys):
    assert sa.main(["--case", str(tmp_path / "nope.json")]) == 2
    assert sa.main(["--threads", "0", "--case", str(CASES[0])]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and "cannot read" in err[0] and "--threads" in err[1]


def test_cli_exit_status(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(dict(GOOD, widths="8,4")))
    r = subprocess.run([sys.executable, str(SCRIPT), "--case", str(p)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and "widths" in r.stderr


def test_draw_order_and_decay(sa):
    case = sa.parse_case(GOOD)
    weights, x = sa.draw(case)
    rng = np.random.default_rng(3)                   # the documented order: weights, then x
    w0 = rng.integers(-127, 128, size=(6, 8), dtype=np.int8)
    w1 = rng.integers(-127, 128, size=(4, 6), dtype=np.int8)
    x_ref = (rng.random((20, 8)) < 0.3).astype(np.int32)
    assert np.array_equal(weights[0], w0) and np.array_equal(weights[1], w1)
    assert np.array_equal(x, x_ref) and x.dtype == np.int32
    assert all(w.dtype == np.int8 and w.min() >= -127 for w in weights)
    assert sa.decay_dv(0.875) == 512 and sa.decay_dv(1.0) == 0 and sa.decay_dv(0.9) == 410


def test_layer_params_thresholds(sa):
    case = sa.parse_case({"name": "r", "seed": 0, "steps": 400, "widths": [64, 64, 16],
                          "input_rate": 0.1,
                          "neuron": {"kind": "lif", "leak": 0.875, "target_rate": 0.1}})
    weights, x = sa.draw(case)
    params = sa.layer_params(case, weights, x)
    spikes = x.astype(bool)
    for W, p in zip(weights, params):
        assert p["threshold"] * 64 == int(p["threshold"] * 64)   # exact in float32
        assert p["dv"] == 512 and p["alpha"] == 0.875 and not p["subtract"]
        cur = np.zeros((spikes.shape[0], W.shape[0]))
        cur[1:] = spikes[:-1] @ W.T.astype(np.float64)
        spikes = sa.simulate_layer(cur, p["alpha"], p["threshold"], False)
        assert abs(spikes.mean() - 0.1) < 0.02
    integ = sa.parse_case(dict(case, neuron={"kind": "integrator", "leak": 0.875,
                                             "threshold": 50.0}))
    p = sa.layer_params(integ, weights, x)
    assert p[0]["threshold"] == 50.0 and p[0]["dv"] == 512
    assert p[1] == {"threshold": 1e9, "dv": 0, "alpha": 1.0, "subtract": False}


def test_simulate_layer_equations(sa):
    # v <- trunc(64 * alpha * v) / 64 + I; spike when v > threshold; zero or subtract reset
    cur = np.array([[0.0], [100.0], [100.0], [0.0]])
    s = sa.simulate_layer(cur, 0.9, 150.0, subtract=True)
    assert s[:, 0].tolist() == [False, False, True, False]   # 90 + 100 = 190 > 150
    s0 = sa.simulate_layer(np.array([[10.0], [0.0]]), 0.5, 100.0, subtract=False)
    assert not s0.any()


def test_sanafe_core_numbering(sa):
    from snncompile.backends.accum import HardwareSpec
    hw = HardwareSpec.load("loihi1")
    ids = [sa.sanafe_core(hw, c) for c in range(hw.cores)]
    assert sorted(ids) == list(range(128))
    for c in range(hw.cores):
        tx, ty, k = hw.core_tile(c)
        assert ids[c] // 4 // 4 == tx and ids[c] // 4 % 4 == ty and ids[c] % 4 == k
