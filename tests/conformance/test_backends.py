"""Backend conformance: every registered backend lowers every example graph, its program
survives save and load, and what it executes equals the reference bit for bit.

The expectation is the reference interpreter on the backend's own lowered graph (quantized
where the backend quantizes): its integer accumulators (`<node>.acc`), its spike levels and
its logits. What a backend executes:

  reference   the whole graph, in PyTorch (the definition);
  accum       the whole graph, through the cycle-counting simulator (Numba kernels on the
              cores for the spiking ops, the NumPy executor for the rest): accumulators and
              spike levels equal, outputs to 1e-9;
  loihi       the spiking projections, in real lava-nc (the .venv-lava that `make test`
              creates; missing, these tests fail): every accumulation equal (open-loop
              replay, `run_in_lava(check=True)` compares, and so does this suite).

Adding a backend: one package, one registry line, one entry in `EXECUTES` below.
"""

from __future__ import annotations

import numpy as np
import pytest

from snncompile.backends import BACKENDS, get_backend, load_program
from snncompile.backends.base import Program
from snncompile.backends.reference import ReferenceInterpreter
from snncompile.ir.examples import EXAMPLES, covered_op_types
from snncompile.ir.ops import OPS

TOKENS = [3, 11, 0, 15, 3, 7]


def _reference(program: Program):
    """Per token: (output, {value or `<node>.acc`: array}) of the reference on the lowered graph."""
    ref = ReferenceInterpreter(program.graph, device="cpu")
    state = ref.init_state()
    out = []
    for t in TOKENS:
        y, _ = ref.step(t, state, keep_values=True)
        out.append((y.numpy(), {k: v.numpy() for k, v in ref.values.items()}))
    return out


def _exact_values(graph) -> list[str]:
    """The integer values a backend must reproduce: spike levels and accumulators."""
    names = [n.outputs[0] for n in graph.neurons()]
    names += [f"{n.name}.acc" for n, _src in graph.spiked_projections()
              if n.op.param_shapes()["weight"][1] == ("int8",)]
    return names


def _run_reference(program, expected):
    interp = ReferenceInterpreter(program.graph, device="cpu")
    state = interp.init_state()
    for t, (y_want, vals) in zip(TOKENS, expected):
        y, _ = interp.step(t, state, keep_values=True)
        for name in _exact_values(program.graph):
            assert np.array_equal(interp.values[name].numpy(), vals[name]), name
        assert np.array_equal(y.numpy(), y_want)


def _run_accum(program, expected):
    from snncompile.simulator import Simulator
    sim = Simulator(program)
    for t, (y_want, vals) in zip(TOKENS, expected):
        y = sim.step(t, keep_values=True)
        for name in _exact_values(program.graph):
            assert np.array_equal(np.asarray(sim.values[name], np.int64), vals[name]), name
        np.testing.assert_allclose(y, y_want, rtol=0, atol=1e-9)
    assert sim.counters.tokens == len(TOKENS)


def _run_loihi(program, expected):
    from snncompile.backends.loihi import run_in_lava
    if not program.layers:
        return  # nothing runs on the neurocores: every node is host work
    result = run_in_lava(program, TOKENS, check=True)
    assert result.tokens == TOKENS and result.run.lava_version
    for lp in program.layers:
        want = np.stack([vals[f"{lp.name}.acc"] for _y, vals in expected])
        assert np.array_equal(result.replay.acc[lp.name], want), lp.name
        got = result.run.layers[lp.name].acc
        assert np.array_equal(got, want), lp.name


EXECUTES = {"reference": _run_reference, "accum": _run_accum, "loihi": _run_loihi}


def test_every_backend_is_in_the_suite():
    assert set(EXECUTES) == set(BACKENDS)


def test_examples_cover_every_op():
    assert covered_op_types() == set(OPS)


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_failed_save_leaves_the_old_folder(backend, tmp_path, monkeypatch):
    """Program folders are published atomically: a save that fails part-way leaves the old
    folder as it was and no new or temporary folder behind."""
    from snncompile.ir import serde
    program = get_backend(backend).lower(EXAMPLES["spiked_linear"]())
    out = program.save(tmp_path / "prog")
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def boom(*a, **k):
        raise RuntimeError("disk full")
    monkeypatch.setattr(serde, "save", boom)
    with pytest.raises(RuntimeError):
        program.save(out)
    with pytest.raises(RuntimeError):
        program.save(tmp_path / "other")
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["prog"]
    assert type(load_program(out)) is type(program)


@pytest.mark.parametrize("backend", sorted(BACKENDS))
@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_conformance(backend, example, tmp_path):
    graph = EXAMPLES[example]()
    program = get_backend(backend).lower(graph)
    assert isinstance(program, Program) and program.backend == backend
    program.graph.verify()
    back = load_program(program.save(tmp_path / "prog"))
    assert type(back) is type(program)
    assert [n.name for n in back.graph.nodes] == [n.name for n in program.graph.nodes]
    for name, arr in program.graph.params.items():
        assert np.array_equal(back.graph.params[name], arr), name
    expected = _reference(back)
    EXECUTES[backend](back, expected)
    # the program's own `run` protocol gives the reference's outputs on the lowered graph
    for y, (y_want, _vals) in zip(back.run(TOKENS), expected):
        np.testing.assert_allclose(np.asarray(y, np.float64), y_want, rtol=0, atol=1e-9)
