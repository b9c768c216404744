"""`snncompile lower --hw auto`: the smallest bundled accum preset a model fits (ordered by
total weight memory, then cores, then name), a one-line refusal when none fits."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from snncompile.backends.accum.autoselect import presets_by_size, size_key
from snncompile.backends.accum.hardware import HardwareSpec, preset_names
from snncompile.backends.accum.program import Program
from snncompile.cli import main
from snncompile.frontend import build_graph
from snncompile.frontend.synthetic import random_state_dict
from snncompile.ir import serde
from snncompile.models.config import SpikingMambaConfig
from snncompile.passes import quantize_weights


def _cfg(d_model: int, n_layer: int) -> SpikingMambaConfig:
    return SpikingMambaConfig(d_model=d_model, n_layer=n_layer, vocab_size=256, d_state=8,
                              headdim=8, spiking=True)


def _model(tmp_path, d_model, n_layer, name="model.onnx", bits=None):
    cfg = _cfg(d_model, n_layer)
    g = build_graph(cfg, random_state_dict(cfg, 0))
    if bits is not None:
        g = quantize_weights.run(g, bits=bits).graph
    path = tmp_path / name
    serde.save(g, path)
    return path


def lower(*args):
    return CliRunner().invoke(main, ["lower", *map(str, args)])


def test_presets_are_ordered_by_weight_memory_then_cores():
    ordered = presets_by_size()
    assert sorted(n for n, _ in ordered) == preset_names()
    keys = [size_key(n, hw) for n, hw in ordered]
    assert keys == sorted(keys)
    assert all(k[0] == hw.cores * hw.weight_sram_bytes for k, (_, hw) in zip(keys, ordered))


def test_auto_picks_the_smallest_preset_that_fits(tmp_path):
    tiny = _model(tmp_path, 16, 1, "tiny.onnx")
    res = lower(tiny, "--hw", "auto", "-o", tmp_path / "p1", "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    first = presets_by_size()[0][0]
    assert doc["hardware_preset"] == first
    assert Program.load(tmp_path / "p1").hardware == HardwareSpec.load(first)

    # a model the smallest preset refuses goes to the next one that takes it, and every
    # smaller preset really refuses it
    bigger = _model(tmp_path, 32, 2, "bigger.onnx")
    res = lower(bigger, "--hw", "auto", "-o", tmp_path / "p2", "--json")
    assert res.exit_code == 0, res.output
    chosen = json.loads(res.stdout)["hardware_preset"]
    assert chosen != first
    names = [n for n, _ in presets_by_size()]
    for name in names[:names.index(chosen)]:
        refused = lower(bigger, "--hw", name, "-o", tmp_path / f"no-{name}")
        assert refused.exit_code == 2, name
        assert refused.output.startswith("error:") and "fit" in refused.output, refused.output
        assert not (tmp_path / f"no-{name}").exists()
    # the same program as naming the preset
    lower(bigger, "--hw", chosen, "-o", tmp_path / "p3")
    assert (tmp_path / "p2" / "graph.onnx").read_bytes() == \
        (tmp_path / "p3" / "graph.onnx").read_bytes()
    # lowering options go with it
    res = lower(bigger, "--hw", "auto", "--encoding", "graded", "--rate", "0.5", "-o",
                tmp_path / "p5")
    assert res.exit_code == 0, res.output
    prog = Program.load(tmp_path / "p5")
    assert prog.hardware.spike_encoding == "graded" and prog.mapping.rate == 0.5
    # the terminal form says what it chose
    res = lower(bigger, "--hw", "auto", "-o", tmp_path / "p4")
    assert res.exit_code == 0 and f"--hw auto: {chosen}" in res.output


@pytest.mark.parametrize("args, needle", [
    (["--hw", "auto"], "no bundled preset fits"),
    (["--hw", "auto", "--backend", "loihi"], "accum presets"),
])
def test_auto_refuses_with_one_line(tmp_path, args, needle):
    # weights already quantized to a width no bundled preset stores: none fits
    widths = {hw.weight_bits for _, hw in presets_by_size()}
    model = _model(tmp_path, 16, 1, bits=next(b for b in (4, 3, 5, 6, 7, 2) if b not in widths))
    out = tmp_path / "p"
    res = lower(model, *args, "-o", out)
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0]
    assert not out.exists()
