"""Mutation fuzzer for IR files: byte flips, truncation and ModelProto field mutations of the
example graphs (snncompile.ir.examples) and a tiny exported SpikingMamba, written by
snncompile.ir.serde.

Oracle: `serde.load` raises a typed error, or returns a graph that verifies and that the
reference interpreter runs (typed error, or finite logits). One case in four is also lowered
for the accum core (default hardware) and simulated: a typed error (e.g. HardwareFitError), or
outputs equal to the reference interpreter on the lowered graph to 1e-9. One case in four goes
through the CLI instead (`inspect`, `run`): exit 2 with one `error:` line, or exit 0 printing
no NaN.
"""

from __future__ import annotations

import random

import onnx
import pytest
from click.testing import CliRunner

from snncompile.cli import main
from snncompile.ir import serde
from snncompile.ir.examples import example_graphs

from .mutators import mutate_bytes, mutate_model
from .oracle import BASE_SEED, CASES, check_tally, cli_outcome, finite, run_case, same_logits, tally


@pytest.fixture(scope="module")
def seeds_files(tiny_model_file, fuzz_root):
    """[(name, path, ModelProto)]: every example graph and the tiny SpikingMamba."""
    out = []
    for name, g in example_graphs().items():
        p = fuzz_root / f"ex-{name}.onnx"
        serde.save(g, p)
        out.append((name, p, onnx.load(str(p))))
    out.append(("spiking_mamba", tiny_model_file, onnx.load(str(tiny_model_file))))
    return out


def _check_loaded(path, lower: bool) -> None:
    """Load, verify, run the reference; with `lower`, also lower for the accum core (default
    hardware) and check the simulator against the reference on the lowered graph."""
    from snncompile.backends.reference import ReferenceInterpreter
    g = serde.load(path)
    g.verify()
    logits, _c, _s = ReferenceInterpreter(g, device="cpu").run([1, 2])
    finite("reference logits", [x.double().numpy() for x in logits])
    if lower:
        from snncompile.backends import get_backend
        from snncompile.backends.accum.hardware import HardwareSpec
        from snncompile.simulator import Simulator
        prog = get_backend("accum").lower(g, HardwareSpec.load("default"))
        want = [x.double().numpy() for x in
                ReferenceInterpreter(prog.graph, device="cpu").run([1, 2])[0]]
        same_logits(Simulator(prog).run([1, 2]), want)


def _check_cli(path, seed: int) -> None:
    runner = CliRunner()
    if seed % 2:
        r = runner.invoke(main, ["inspect", str(path)])
        cli_outcome(r, what="inspect")
    else:
        r = runner.invoke(main, ["run", str(path), "--prompt", "hi", "--tokens", "2"])
        cli_outcome(r, what="run")


@pytest.mark.parametrize("level", ["bytes", "proto"])
def test_ir_file_fuzzer(level, seeds_files, tmp_path):
    t = tally(f"ir-{level}")
    for k in range(CASES):
        seed = BASE_SEED * 1_000_003 + k + (0 if level == "bytes" else 500_000)
        rng = random.Random(seed)
        name, src, model = seeds_files[rng.randrange(len(seeds_files))]
        if level == "bytes":
            data, what = mutate_bytes(rng, src.read_bytes())
        else:
            data, what = mutate_model(rng, model, n=rng.choice([1, 1, 2, 3]))
        suffix = rng.choice([".onnx", ".onnx", ".onnx", ".json", ".textproto", ""])
        path = tmp_path / f"case{k}{suffix}"
        path.write_bytes(data)
        cli = k % 4 == 0
        lower = k % 4 == 1
        desc = lambda: (f"{name}: {what} (file {path.name}"
                        f"{', via CLI' if cli else ', lowered and simulated' if lower else ''})")

        def case():
            if cli:
                _check_cli(path, seed)
            else:
                _check_loaded(path, lower)
        run_case(t, seed, desc, case)
        path.unlink()
    check_tally(t)


def test_unmutated_files_run(seeds_files):
    """The seeds themselves load and run (else every mutation would be a typed error)."""
    for name, path, _m in seeds_files:
        _check_loaded(path, lower=True)
