"""The Loihi-2-style backend run in real Lava (lava-nc 0.10.0 in the .venv-lava subprocess).

Lava is not optional here: `make test` creates .venv-lava; when it is missing these tests FAIL
(MissingDependencyError says to run `make install-lava`), they never skip.
Checked: our int8 -> Lava Dense encoding reproduces W @ s exactly (-128 and 127 included,
several blocks per layer), binary micro-steps equal graded payloads, a calibrated tiny
SpikingMamba's spiked layers in Lava equal the reference's integer accumulators bit for bit,
a corrupted weight is caught naming layer and token, a missing interpreter is a clear error.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from snncompile.backends import get_backend
from snncompile.backends.loihi import (LayerJob, LoihiBackend, LoihiSpec, find_lava_python,
                                       replay, run_in_lava, run_layers)
from snncompile.backends.loihi.execute import ENV_PYTHON
from snncompile.backends.loihi.tiling import split_layer
from snncompile.errors import HardwareFitError, MissingDependencyError, SimulationError
from snncompile.frontend import build_graph
from snncompile.ir import serde

PROMPT = [105, 109, 112]   # "imp"


@pytest.fixture(scope="module")
def graph(calibrated_student):
    """A tiny SpikingMamba student calibrated from a random teacher, as an IR graph."""
    student = calibrated_student(0)
    return build_graph(student.config, student.state_dict())


@pytest.fixture(scope="module")
def random_layer():
    """Random int8 weights with full rows of -128 and 127, levels in {-D..D} with the
    extremes, split 2 x 2 by a small spec."""
    rng = np.random.default_rng(7)
    D, T, d_in, d_out = 4, 4, 40, 24
    w = rng.integers(-128, 128, (d_out, d_in)).astype(np.int8)
    w[0], w[1], w[2, ::2] = -128, 127, -128
    levels = rng.integers(-D, D + 1, (T, d_in))
    levels[0], levels[1] = D, -D
    spec = LoihiSpec(fan_in_per_core=20, weight_bytes_per_core=20 * 12)
    rows, cols = split_layer("rand", d_in, d_out, D, spec)
    assert (len(rows), len(cols)) == (2, 2)
    return LayerJob("rand", w, levels, D, rows, cols)


@pytest.fixture(scope="module")
def graded_random(random_layer):
    return run_layers([random_layer], "graded")


# -- the encoding in Lava ---------------------------------------------------------------------
def test_lava_dense_reproduces_int8_matmul_exactly(random_layer, graded_random):
    want = random_layer.levels @ random_layer.weight.T.astype(np.int64)
    got = graded_random.layers["rand"].acc
    np.testing.assert_array_equal(got, want)
    assert np.abs(want).max() > 10000          # large sums, both signs, really exercised
    assert graded_random.lava_version == "0.10.0"
    assert graded_random.networks == 2 and graded_random.layers["rand"].dense_processes == 4
    r = graded_random.layers["rand"]
    nnz = int(np.count_nonzero(random_layer.levels))
    assert (r.time_steps, r.messages, r.synaptic_ops) == (5, 2 * nnz, 24 * nnz)


def test_binary_microsteps_equal_graded(random_layer, graded_random):
    binary = run_layers([random_layer], "binary")
    np.testing.assert_array_equal(binary.layers["rand"].acc, graded_random.layers["rand"].acc)
    b = binary.layers["rand"]
    spikes = int(np.abs(random_layer.levels).sum())
    assert b.time_steps == 4 * 4 + 1 and b.dense_processes == 8
    assert b.synaptic_ops == b.acs == 24 * spikes and b.messages == 2 * spikes


def test_lava_timeout_stops_the_run(random_layer):
    with pytest.raises(SimulationError, match="did not finish within"):
        run_layers([random_layer], "graded", timeout=0.3)


# -- a calibrated model, replayed through Lava --------------------------------------------------
@pytest.mark.parametrize("encoding", ["graded", "binary"])
def test_tiny_model_matches_reference_bit_for_bit(graph, encoding):
    program = LoihiBackend().lower(graph, encoding=encoding)
    result = run_in_lava(program, PROMPT, generate=2)
    assert result.matches and result.tokens == PROMPT + result.generated[:1]
    assert len(result.generated) == 2
    T = len(result.tokens)
    spt = 1 if encoding == "graded" else 4
    total_spikes = 0
    for lp in program.layers:
        r, ref = result.run.layers[lp.name], result.replay.acc[lp.name]
        np.testing.assert_array_equal(r.acc, ref)
        assert r.acc.shape == (T, lp.d_out) and np.abs(ref).max() > 0
        spikes = int(np.abs(result.replay.levels[lp.name]).sum())
        assert spikes > 0 and r.acs == lp.d_out * spikes and r.time_steps == T * spt + 1
        total_spikes += spikes
    rep = program.report()
    assert rep["dense_processes"] == rep["virtual_cores"] == 4 * (1 if encoding == "graded" else 2)
    assert rep["chips"] == 1 and result.run.totals()["acs"] > 0


def test_corrupted_weight_is_caught_naming_layer_and_token(graph):
    program = LoihiBackend().lower(graph)
    target = program.layers[1].name
    rep = replay(program, PROMPT[:2])
    j = int(np.flatnonzero(rep.levels[target][0])[0])       # an input that spikes at token 0
    bad = program.weight(target).copy()
    bad[3, j] = bad[3, j] - 1 if bad[3, j] > -128 else bad[3, j] + 1
    original = program.weight
    program.weight = lambda name: bad if name == target else original(name)   # Lava's copy only
    with pytest.raises(SimulationError) as info:
        run_in_lava(program, PROMPT[:2])
    msg = str(info.value)
    assert f"layer {target!r} token 0 (id 105)" in msg and "output 3" in msg


def test_missing_lava_interpreter_is_a_clear_error(graph, monkeypatch, tmp_path):
    program = LoihiBackend().lower(graph)
    monkeypatch.setenv(ENV_PYTHON, str(tmp_path / "no-such-python"))
    with pytest.raises(MissingDependencyError, match="make install-lava"):
        run_in_lava(program, PROMPT)
    monkeypatch.setenv(ENV_PYTHON, sys.executable)           # runs, but cannot import lava
    with pytest.raises(MissingDependencyError, match="install-lava"):
        run_in_lava(program, PROMPT[:1])


def test_lava_interpreter_is_installed():
    """`make test` installs .venv-lava first; a checkout without it fails here, loudly."""
    assert find_lava_python().is_file()


# -- lowering -----------------------------------------------------------------------------------
def test_lowering_places_and_quantizes(graph):
    assert isinstance(get_backend("loihi"), LoihiBackend)
    program = LoihiBackend().lower(graph)
    spiked = [n.name for n in program.graph.nodes if n.op_type == "SpikedLinear"]
    assert [lp.name for lp in program.layers] == spiked and len(spiked) == 4
    for n in program.graph.nodes:
        assert program.placement[n.name] == ("neurocores" if n.op_type == "SpikedLinear"
                                             else "host")
        if n.op_type == "SpikedLinear":
            assert n.op.weight_bits == 8 and program.weight(n.name).dtype == np.int8
    rep = program.report()
    assert rep["host_nodes"] == len(program.graph.nodes) - 4
    assert rep["host_ops"]["SpikeEncode"] == 4 and rep["lava_steps_per_token"] == 1
    many = LoihiBackend().lower(graph, LoihiSpec(weight_bytes_per_core=64))
    rep = many.report()
    assert rep["virtual_cores"] > 120 and rep["chips"] == -(-rep["virtual_cores"] // 120)


def test_blocks_stay_within_core_limits():
    spec = LoihiSpec()
    for d_in, d_out, D in [(8192, 10000, 4), (1536, 3352, 4), (5000, 7, 32), (3, 9000, 1)]:
        rows, cols = split_layer("x", d_in, d_out, D, spec)
        assert rows[0][0] == cols[0][0] == 0 and rows[-1][1] == d_out and cols[-1][1] == d_in
        for r0, r1 in rows:
            for c0, c1 in cols:
                r, c = r1 - r0, c1 - c0
                assert c <= spec.fan_in_per_core and r <= spec.outputs_per_core
                assert r * c <= spec.weight_bytes_per_core
                assert 128 * D * c <= 2 ** 23 - 1                # 24-bit partial sums
    assert split_layer("x", 5000, 7, 32, spec)[1][0][1] <= 2047   # width-limited fan-in
    with pytest.raises(HardwareFitError, match="'x'"):
        split_layer("x", 10, 10, 1 << 16, spec)


# -- the CLI command ----------------------------------------------------------------------------
def test_cli_lava_json(graph, tmp_path):
    from snncompile.cli.lava_cmd import lava

    path = tmp_path / "tiny.onnx"
    serde.save(graph, path)
    res = CliRunner().invoke(lava, [str(path), "--prompt", "im", "--tokens", "1", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["format"] == "snncompile-lava/2" and doc["matches_reference"] is True
    assert doc["tokens"] == 2 and len(doc["nodes"]) == 4 and doc["prompt"] == "im"
    assert doc["lowering"]["virtual_cores"] == 4 and len(doc["token_ids"]) == 1
