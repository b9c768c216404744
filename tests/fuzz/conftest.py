"""Fixtures of the fuzz suite and its figures.

Case counts: SNNCOMPILE_FUZZ_CASES per fuzzer (default 300: the whole package takes about
20 s here, well under CI's 90 s; `make fuzz` runs 10,000). SNNCOMPILE_FUZZ_SEED shifts every seed (default
0), SNNCOMPILE_FUZZ_TIMEOUT is the per-case time limit in seconds (default 20). At the end,
the figures per fuzzer (inputs tried, typed errors, results equal to the reference, anything
else) are printed, and written as JSON to SNNCOMPILE_FUZZ_REPORT when that is set.
"""

from __future__ import annotations

import json
import os

import pytest

from snncompile.models.config import NeuronConfig, SpikingMambaConfig

from .oracle import BASE_SEED, CASES, TALLIES, TIME_LIMIT_S

# The tiny SpikingMamba every program fuzzer lowers (byte vocabulary, so prompts are text).
TINY = SpikingMambaConfig(d_model=16, n_layer=1, vocab_size=256, d_state=8, headdim=8,
                          spiking=True, neuron=NeuronConfig(theta=0.5))


@pytest.fixture(scope="session")
def tiny_graph():
    from snncompile.frontend import build_graph
    from snncompile.frontend.synthetic import random_state_dict
    return build_graph(TINY, random_state_dict(TINY, 0))


@pytest.fixture(scope="session")
def fuzz_root(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="session")
def tiny_model_file(tiny_graph, fuzz_root):
    from snncompile.ir import serde
    path = fuzz_root / "tiny.onnx"
    serde.save(tiny_graph, path)
    return path


@pytest.fixture(scope="session")
def program_folders(tiny_model_file, fuzz_root):
    """{"accum": folder, "loihi": folder}: the tiny model lowered by `snncompile lower`."""
    from click.testing import CliRunner

    from snncompile.cli import main
    out = {}
    for backend, extra in (("accum", ["--hw", "default"]), ("loihi", [])):
        folder = fuzz_root / f"prog-{backend}"
        r = CliRunner().invoke(main, ["lower", str(tiny_model_file), "--backend", backend,
                                      *extra, "-o", str(folder)])
        assert r.exit_code == 0, r.output
        out[backend] = folder
    return out


def pytest_terminal_summary(terminalreporter):
    if not TALLIES:
        return
    tr = terminalreporter
    tr.section(f"fuzz figures ({CASES} cases per fuzzer, seed {BASE_SEED}, "
               f"{TIME_LIMIT_S:g} s per case)")
    for t in TALLIES.values():
        tr.write_line(t.row())
    total = [sum(getattr(t, k) for t in TALLIES.values()) for k in ("tried", "typed", "equal",
                                                                    "other")]
    tr.write_line(f"{'all':<28} tried {total[0]:>6}  typed errors {total[1]:>6}  "
                  f"equal to reference {total[2]:>6}  other {total[3]:>4}")
    path = os.environ.get("SNNCOMPILE_FUZZ_REPORT")
    if path:
        with open(path, "w") as f:
            json.dump({"cases": CASES, "seed": BASE_SEED,
                       "fuzzers": {n: {"tried": t.tried, "typed": t.typed, "equal": t.equal,
                                       "other": t.other, "typed_by_class": dict(t.kinds),
                                       "failures": t.failures}
                                   for n, t in TALLIES.items()}}, f, indent=1)
