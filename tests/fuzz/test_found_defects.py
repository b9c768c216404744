"""Findings of the fuzz suite, one minimal reproducer each, kept as regression tests. Each test
states the oracle it broke; the fuzzer, seed and example that found it are in its docstring.
All were found (SNNCOMPILE_FUZZ_SEED=0..4) and fixed at their root while issue 13 was being
worked on; each failed before its fix.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from snncompile.cli import main
from snncompile.errors import ConfigError

LONG = "a" * 300  # one path component past NAME_MAX (255): stat() raises ENAMETOOLONG


def _one_error_line(r) -> None:
    assert r.exit_code == 2, (r.exit_code, r.exception, r.output[-400:])
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr


def test_sweep_spec_theta_of_wrong_type_is_a_config_error(tmp_path):
    """sweep-spec fuzzer, seed 0 example 114: `model.neuron.theta = []` (or a list, or a string)
    raises TypeError from NeuronConfig.__post_init__ (`self.theta > 0`), not ConfigError."""
    import tomllib
    from pathlib import Path

    from snncompile.sweep.spec import parse_spec
    root = Path(__file__).resolve().parents[2]
    for theta in ([], [1.0, 2.0], "0.5"):
        doc = tomllib.loads((root / "examples/sweeps/lanes_vs_encoding.toml").read_text())
        doc["model"]["neuron"]["theta"] = theta
        with pytest.raises(ConfigError):
            parse_spec(doc, base_dir=tmp_path)


def test_inspect_fire_rate_nan_is_rejected(tiny_model_file):
    """cli-arguments fuzzer, seed 0 example 0: `inspect MODEL --fire-rate nan` exits 0 and
    prints `nan` counts (click.FloatRange(0, 1) lets NaN through: every comparison is False)."""
    r = CliRunner().invoke(main, ["inspect", str(tiny_model_file), "--fire-rate", "nan"])
    _one_error_line(r)


def test_run_tiny_temperature_is_not_a_crash(tiny_model_file):
    """cli-arguments fuzzer, seed 0 example 85: `run MODEL --temperature 1e-320` raises
    RuntimeError from torch.multinomial (logits / 1e-320 overflow to inf, softmax gives NaN),
    exit 1 with a traceback."""
    r = CliRunner().invoke(main, ["run", str(tiny_model_file), "--prompt", "hi", "--tokens",
                                  "2", "--temperature", "1e-320"])
    assert r.exit_code in (0, 2), (r.exit_code, r.exception)
    if r.exit_code == 2:
        _one_error_line(r)


@pytest.mark.parametrize("args", [
    ["hw", "show", LONG],
    ["energy", "--config", "mamba2-130m", "--fire-rate", "0.1", "--preset", LONG],
    ["energy", "--config", LONG, "--fire-rate", "0.1"],
    ["lower", "MODEL", "--hw", LONG, "-o", "OUT"],
    ["inspect", LONG],
    ["simulate", LONG, "--prompt", "x"],
    ["run", LONG, "--prompt", "x"],
    ["inspect", ""],
], ids=["hw-show", "energy-preset", "energy-config", "lower-hw", "inspect", "simulate", "run",
        "inspect-empty"])
def test_overlong_path_argument_is_one_error_line(args, tiny_model_file, tmp_path):
    """cli-arguments fuzzer, seed 0 examples 5, 28, 29 (seed 1: 12, 396, 737; seed 2: 30, 363):
    a path or preset name of 300 characters makes pathlib's exists()/is_file()/is_dir() raise
    OSError (ENAMETOOLONG; pathlib swallows only ENOENT, ENOTDIR, EBADF, ELOOP), exit 1 with a
    traceback. Seed 2 example 175: `inspect ''` raises ValueError (PosixPath('.') has an
    empty name), exit 1."""
    args = [str(tiny_model_file) if a == "MODEL" else str(tmp_path / "p") if a == "OUT" else a
            for a in args]
    _one_error_line(CliRunner().invoke(main, args))


def _example_file(tmp_path, name: str, edit):
    """Example graph `name` saved by serde, its ModelProto changed by `edit(model)`."""
    import onnx

    from snncompile.ir import serde
    from snncompile.ir.examples import example_graphs
    path = tmp_path / f"{name}.onnx"
    serde.save(example_graphs()[name], path)
    model = onnx.load(str(path))
    edit(model)
    path.write_bytes(model.SerializeToString())
    return path


def test_spike_levels_past_the_int64_counters_are_refused(tmp_path):
    """ir-proto fuzzer, SNNCOMPILE_FUZZ_SEED=1 seeds 1508380 and 1507504: SpikeEncode D = 2**62
    (or 2**63 - 1) loads, verifies, runs on the reference and lowers for accum; then
    `Simulator(program)` raises OverflowError in simulator/engine.py `_setup_encoder`
    (`row[K["neuron_updates"]] = op.d * S`: the neuron-update counter overflows int64)."""
    from snncompile.backends import get_backend
    from snncompile.backends.accum.hardware import HardwareSpec
    from snncompile.backends.reference import ReferenceInterpreter
    from snncompile.errors import SnnCompileError
    from snncompile.ir import serde
    from snncompile.simulator import Simulator

    from .oracle import same_logits

    def big_d(model):
        for nd in model.graph.node:
            for a in nd.attribute:
                if nd.op_type == "SpikeEncode" and a.name == "D":
                    a.i = 2**62
    path = _example_file(tmp_path, "spike_encode", big_d)
    try:
        prog = get_backend("accum").lower(serde.load(path), HardwareSpec.load("default"))
        got = Simulator(prog).run([1, 2])
    except SnnCompileError:
        return  # refused with a typed error: what the oracle asks
    want = [x.double().numpy() for x in
            ReferenceInterpreter(prog.graph, device="cpu").run([1, 2])[0]]
    same_logits(got, want)


def test_finite_weights_that_overflow_to_nan_are_not_a_result(tmp_path):
    """ir-proto fuzzer, SNNCOMPILE_FUZZ_SEED=1 seed 1503417: the `ssm_scan` example with its
    `dtb` initializer x 1e4 and `A_log[2]` = 1e38 (all weights finite, so load accepts them)
    runs on the reference interpreter and returns NaN outputs (exp(A_log) overflows) instead of
    a typed error."""
    import numpy as np
    from onnx import numpy_helper

    from snncompile.backends.reference import ReferenceInterpreter
    from snncompile.errors import SnnCompileError
    from snncompile.ir import serde

    def overflow(model):
        for t in model.graph.initializer:
            arr = numpy_helper.to_array(t).copy()
            if t.name == "dtb":
                arr = arr * np.float32(1e4)
            elif t.name == "A_log":
                arr.reshape(-1)[2] = 1e38
            else:
                continue
            t.CopyFrom(numpy_helper.from_array(arr.astype(np.float32), t.name))
    path = _example_file(tmp_path, "ssm_scan", overflow)
    try:
        logits, _c, _s = ReferenceInterpreter(serde.load(path), device="cpu").run([1, 2])
    except SnnCompileError:
        return
    for x in logits:
        assert np.isfinite(x.double().numpy()).all(), "non-finite output, exit-0 style"


def test_finite_attribute_that_overflows_to_inf_is_not_a_result(tmp_path):
    """ir-proto fuzzer, SNNCOMPILE_FUZZ_SEED=4 seed 4503874: the `spiked_linear_q8` example with
    its SpikedLinear `input_scale` attribute = 1e308 (finite, accepted by load) returns
    non-finite outputs on the reference interpreter (the same class as above)."""
    import numpy as np
    from onnx import numpy_helper

    from snncompile.backends.reference import ReferenceInterpreter
    from snncompile.errors import SnnCompileError
    from snncompile.ir import serde

    def huge_scale(model):
        for nd in model.graph.node:
            for a in nd.attribute:
                if a.name == "input_scale":
                    a.t.CopyFrom(numpy_helper.from_array(np.array(1e308, np.float64)))
    path = _example_file(tmp_path, "spiked_linear_q8", huge_scale)
    try:
        logits, _c, _s = ReferenceInterpreter(serde.load(path), device="cpu").run([1, 2])
    except SnnCompileError:
        return
    for x in logits:
        assert np.isfinite(x.double().numpy()).all(), "non-finite output, exit-0 style"
