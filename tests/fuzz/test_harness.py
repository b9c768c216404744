"""The fuzz harness itself: the oracle classifies each outcome, the time limit ends a hang,
and a seed replays the same mutation."""

from __future__ import annotations

import random
import time

import onnx
import pytest

from snncompile.errors import IRError

from .mutators import mutate_bytes, mutate_json_doc, mutate_model
from .oracle import Mismatch, Tally, check_tally, run_case, same_logits, time_limit


def test_oracle_classifies_each_outcome(monkeypatch):
    t = Tally("self-test")
    assert run_case(t, 1, lambda: "ok", lambda: None) == "equal"
    assert run_case(t, 2, lambda: "typed", lambda: (_ for _ in ()).throw(IRError("x"))) == "typed"

    def boom():
        raise ValueError("untyped")
    assert run_case(t, 3, lambda: "untyped", boom) == "other"

    def wrong():
        same_logits([[1.0, 2.0]], [[1.0, 2.0 + 1e-6]])
    assert run_case(t, 4, lambda: "wrong", wrong) == "other"
    assert (t.tried, t.typed, t.equal, t.other) == (4, 1, 1, 2)
    with pytest.raises(AssertionError, match=r"seed=3 mutation=untyped[\s\S]*ValueError"):
        check_tally(t)


def test_time_limit_ends_a_hang():
    t = Tally("self-test")
    t0 = time.perf_counter()

    def spin():
        with time_limit(0.2):
            while True:
                pass
    assert run_case(t, 5, lambda: "spin", spin) == "other"
    assert time.perf_counter() - t0 < 5
    assert "Hang" in t.failures[0]


def test_same_logits_tolerance():
    same_logits([[1.0, 2.0]], [[1.0, 2.0 + 1e-12]])
    with pytest.raises(Mismatch):
        same_logits([[float("nan")]], [[0.0]])
    with pytest.raises(Mismatch):
        same_logits([[1.0]], [[1.0], [2.0]])


def test_a_seed_replays_the_same_mutation(tiny_model_file):
    data = tiny_model_file.read_bytes()
    model = onnx.load(str(tiny_model_file))
    for seed in range(20):
        a = mutate_bytes(random.Random(seed), data)
        b = mutate_bytes(random.Random(seed), data)
        assert a == b
        a = mutate_model(random.Random(seed), model, n=2)
        b = mutate_model(random.Random(seed), model, n=2)
        assert a == b
        doc = {"a": [1, 2, {"b": 3.0}], "c": "x"}
        assert mutate_json_doc(random.Random(seed), doc) == mutate_json_doc(random.Random(seed),
                                                                           doc)
