"""The simulator equals the reference interpreter on the same lowered (quantized) program:
integer accumulators bit for bit, logits within 1e-5, identical greedy continuations; counters
deterministic and consistent with the IR's accounting."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from snncompile.backends.accum import AccumBackend, HardwareSpec, Program
from snncompile.backends.reference import ReferenceInterpreter
from snncompile.errors import SimulationError
from snncompile.frontend import build_graph
from snncompile.frontend.synthetic import random_state_dict
from snncompile.models.config import NeuronConfig, SpikingMambaConfig
from snncompile.simulator import (LAYER_KEYS, Simulator, read_sim_doc, read_sim_json, run,
                                  sim_json, write_sim_json)
from snncompile.simulator.counters import K, KC

ROOT = Path(__file__).resolve().parents[1]
TINY = dataclasses.replace(HardwareSpec.load("default"), cores=64, mesh=(8, 8),
                           neurons_per_core=48, axons_per_core=24, weight_sram_bytes=900)
PER_CORE = dataclasses.replace(TINY, dense_placement="per_core")
CONFIGS = {
    "silif": SpikingMambaConfig(d_model=32, n_layer=2, vocab_size=64, d_state=8, headdim=16,
                                spiking=True, neuron=NeuronConfig(theta=0.5)),
    "mixed": SpikingMambaConfig(d_model=32, n_layer=2, vocab_size=64, d_state=8, headdim=16,
                                ngroups=2, spiking=True,
                                layer_neurons=(NeuronConfig("ilif", D=3, theta=0.4),
                                               NeuronConfig("lif", theta=0.5))),
}
TOKENS = [3, 17, 42, 5, 63, 0]


def _program(kind="silif", hw=TINY, seed=0):
    cfg = CONFIGS[kind]
    return AccumBackend().lower(build_graph(cfg, random_state_dict(cfg, seed)), hw)


@pytest.mark.parametrize("kind, hw", [("silif", TINY), ("mixed", PER_CORE),
                                      ("silif", HardwareSpec.load("default"))])
def test_matches_reference_bit_for_bit(kind, hw):
    prog = _program(kind, hw)
    sim = Simulator(prog)
    ref = ReferenceInterpreter(prog.graph, device="cpu")
    state = ref.init_state()
    total_spikes = 0
    for t in TOKENS:
        logits = sim.step(t, keep_values=True)
        ref_logits, c = ref.step(t, state, keep_values=True)
        np.testing.assert_allclose(logits, ref_logits.numpy(), rtol=0, atol=1e-5)
        assert np.abs(logits - ref_logits.numpy()).max() < 1e-9  # in practice ~1e-15
        for n in prog.graph.nodes:
            if n.op_type == "SpikedLinear":
                np.testing.assert_array_equal(sim.values[f"{n.name}.acc"],
                                              ref.values[f"{n.name}.acc"].numpy())
            if n.op_type == "SpikeEncode":
                s_ref = ref.values[n.outputs[0]].numpy()
                np.testing.assert_array_equal(sim.values[n.outputs[0]], s_ref)
                frames = sim.values[f"{n.name}.frames"]
                np.testing.assert_array_equal(frames.astype(np.int64).sum(axis=0), s_ref)
                total_spikes += int(np.abs(s_ref).sum())
    assert total_spikes > 0
    # counters: spikes and ACs are the reference's accounting (binary encoding)
    _, cref, _ = ReferenceInterpreter(prog.graph, device="cpu").run(TOKENS)
    for n in prog.graph.nodes:
        row = sim.counters.node(n.name)
        if n.op_type == "SpikeEncode":
            assert row.spikes == cref.node(n.name).spikes
            assert row.neuron_updates == cref.node(n.name).neuron_updates
        if n.op_type == "SpikedLinear":
            assert row.acs == cref.node(n.name).acs
        assert row.macs == cref.node(n.name).macs
        assert row.dense_macs == cref.node(n.name).dense_macs


def test_greedy_continuation_identical():
    prog = _program("silif", TINY, seed=3)
    new_sim = Simulator(prog).generate([1, 2, 3], 12)
    new_ref = ReferenceInterpreter(prog.graph, device="cpu").generate([1, 2, 3], 12).tokens
    assert new_sim == new_ref and len(new_sim) == 12


def test_counters_deterministic_and_consistent():
    prog = _program("mixed", PER_CORE, seed=1)
    a, b = Simulator(prog), Simulator(prog)
    a.run(TOKENS)
    b.run(TOKENS[:2])
    b.reset()
    b.run(TOKENS)
    np.testing.assert_array_equal(a.tally.layers, b.tally.layers)
    np.testing.assert_array_equal(a.tally.cores, b.tally.cores)
    assert a.counters == b.counters
    c = a.tally
    assert c.tokens == len(TOKENS) and (c.layers >= 0).all()
    sl = [i for i, op in enumerate(c.ops) if op == "SpikedLinear"]
    # per-core ACs add up to the layers' ACs; messages = deliveries + partial-sum read-outs
    assert c.cores[:, KC["acs"]].sum() == c.layers[sl, K["acs"]].sum()
    assert c.cores[:, KC["weight_bytes_read"]].sum() == c.layers[sl, K["weight_bytes_read"]].sum()
    readouts = sum(lm.d_out * lm.R for lm in prog.mapping.layers) * len(TOKENS)
    assert (c.cores[:, KC["messages_received"]].sum() + readouts
            == c.layers[sl, K["spike_messages"]].sum())
    busy = c.cores[:, KC["busy_cycles"]]
    assert busy.sum() > 0 and set(np.flatnonzero(busy)) <= {
        t for lm in prog.mapping.layers for t in lm.tile_cores}
    # per-core dense units: values cross hosts, and those messages are counted
    assert len(set(prog.mapping.hosts.values())) > 1
    dense_rows = [i for i, op in enumerate(c.ops) if op not in ("SpikedLinear",)]
    assert c.layers[dense_rows, K["spike_messages"]].sum() > 0


def test_binary_and_graded_agree_on_values():
    prog = _program("silif", TINY, seed=2)
    res_b = run(prog, TOKENS, encoding="binary")
    res_g = run(prog, TOKENS, encoding="graded")
    for x, y in zip(res_b.logits, res_g.logits):
        np.testing.assert_array_equal(x, y)  # identical integer accumulators -> identical floats
    tb, tg = res_b.counters.totals(), res_g.counters.totals()
    assert tb.acs == tg.acs > 0                  # same arithmetic (|s| adds per event)
    assert tg.spikes < tb.spikes                 # one event per non-zero neuron
    assert tg.spike_messages < tb.spike_messages
    assert tg.weight_bytes_read < tb.weight_bytes_read
    assert tg.cycles < tb.cycles                 # one barrier instead of D
    assert tg.neuron_updates * 4 == tb.neuron_updates


def test_mapping_changes_costs_not_values():
    a = run(_program("silif", TINY, seed=4), TOKENS)
    b = run(_program("silif", HardwareSpec.load("default"), seed=4), TOKENS)
    for x, y in zip(a.logits, b.logits):
        np.testing.assert_array_equal(x, y)
    ta, tb = a.counters.totals(), b.counters.totals()
    assert ta.acs == tb.acs and ta.macs == tb.macs and ta.spikes == tb.spikes
    assert ta.spike_messages != tb.spike_messages  # more tiles -> more read-outs


def test_sim_json_round_trip(tmp_path):
    prog = _program("silif", TINY)
    sim = Simulator(prog)
    new = sim.generate([1, 2], 3)
    doc = sim_json(sim.counters, prompt="ab", continuation="c", token_ids=new, wall_time_s=0.1)
    path = write_sim_json(tmp_path / "sim.json", doc)
    back = read_sim_doc(path)
    assert back["format"] == "snncompile-sim/2" and back["tokens"] == 2 + len(new) - 1
    assert back["token_ids"] == list(new)
    assert {k: back["total"][k] for k in LAYER_KEYS} == {
        k: getattr(sim.counters.totals(), k) for k in LAYER_KEYS}
    assert back["total"]["cycles"] == sim.counters.total("cycles")
    assert read_sim_json(path).nodes == sim.counters.nodes  # the record, dense twin included
    assert back["total"]["time_s"] == pytest.approx(back["total"]["cycles"]
                                                     / prog.hardware.clock_hz)
    assert HardwareSpec.from_dict(back["hardware"]) == prog.hardware
    names = [layer["name"] for layer in back["nodes"]]
    assert names == [n.name for n in prog.graph.nodes]
    assert {layer["block"] for layer in back["nodes"]} == {None, 0, 1}
    back["total"]["acs"] += 1
    (tmp_path / "bad.json").write_text(json.dumps(back))
    with pytest.raises(SimulationError, match="total.acs"):
        read_sim_json(tmp_path / "bad.json")


def test_dense_model_and_payload_width():
    """A dense teacher (no spiked projection) lowers and runs on the dense unit only; a
    graded payload too narrow for the spike levels is refused."""
    cfg = dataclasses.replace(CONFIGS["silif"], spiking=False)
    prog = AccumBackend().lower(build_graph(cfg, random_state_dict(cfg, 0)), "default")
    assert prog.mapping.layers == ()
    sim = Simulator(prog)
    ref = ReferenceInterpreter(prog.graph, device="cpu")
    np.testing.assert_allclose(sim.step(4), ref.step(4, ref.init_state())[0].numpy(), atol=1e-9)
    assert sim.counters.totals().acs == 2 * cfg.d_model  # the residual adds only
    narrow = dataclasses.replace(TINY, payload_bits=2)
    prog = _program("silif", narrow)
    with pytest.raises(SimulationError, match="payload_bits"):
        Simulator(prog, encoding="graded")
    Simulator(prog, encoding="binary")


def test_bad_token_names_the_node():
    sim = Simulator(_program("silif", TINY))
    with pytest.raises(SimulationError, match="embedding"):
        sim.step(10_000)
    with pytest.raises(SimulationError, match="outside"):
        sim.step(-1)
    with pytest.raises(SimulationError, match="token"):
        sim.step(1.5)  # type: ignore[arg-type]


BUNDLED_STUDENT = ROOT / "examples" / "models" / "student"


def test_bundled_model_matches_reference(tmp_path):
    from snncompile.data.tokenizer import encode
    from snncompile.models.checkpoint import load_checkpoint

    model = load_checkpoint(BUNDLED_STUDENT)
    assert model.config.spiking
    graph = build_graph(model.config, model.state_dict())
    prog = AccumBackend().lower(graph, "large")
    prog = Program.load(prog.save(tmp_path / "prog"))
    ids = encode("def add(a, b):")
    sim = Simulator(prog)
    ref = ReferenceInterpreter(prog.graph, device="cpu")
    assert sim.generate(ids, 8) == ref.generate(ids, 8).tokens
    sim.reset()
    state = ref.init_state()
    for t in ids[:4]:
        lg = sim.step(t, keep_values=True)
        lr, c = ref.step(t, state, keep_values=True)
        np.testing.assert_allclose(lg, lr.numpy(), rtol=0, atol=1e-5)
        for n in prog.graph.nodes:
            if n.op_type == "SpikedLinear":
                np.testing.assert_array_equal(sim.values[f"{n.name}.acc"],
                                              ref.values[f"{n.name}.acc"].numpy())
