"""HardwareSpec: presets, TOML round trip, validation naming the field, `hw show`."""

from __future__ import annotations

import copy
import json
import re
import tomllib

import pytest
from click.testing import CliRunner

from snncompile.backends.accum.hardware import PRESETS_DIR, SCHEMA, HardwareSpec, preset_names
from snncompile.cli import main
from snncompile.errors import HardwareSpecError


def test_presets_load_and_round_trip(tmp_path):
    assert {"default", "small", "large"} <= set(preset_names())
    for name in preset_names():
        spec = HardwareSpec.load(name)
        assert spec.mesh[0] * spec.mesh[1] == spec.cores
        assert HardwareSpec.from_dict(spec.to_dict()) == spec
        f = tmp_path / f"{name}.toml"
        f.write_text(spec.to_toml())
        assert HardwareSpec.from_toml(f) == spec
        assert HardwareSpec.load(str(f)) == spec
        json.dumps(spec.to_dict())  # the sim.json "hardware" entry


def test_default_preset_facts():
    """The default preset carries the cited Loihi figures (hardware-and-energy.md)."""
    s = HardwareSpec.load("default")
    assert (s.cores, s.neurons_per_core, s.axons_per_core) == (128, 1024, 4096)
    assert s.weight_sram_bytes == 128 * 1024 and s.weight_bits == 8 and s.state_bits == 24
    assert s.message_bits == 32 and s.spike_encoding == "binary"
    assert s.weights_per_core == 131072 and s.state_bytes == 3
    assert s.hops(s.core_id(0, 0), s.core_id(7, 15)) == 22


def test_every_preset_value_is_documented():
    """Each key line in a preset is preceded by a comment citing a source or an assumption."""
    for path in PRESETS_DIR.glob("*.toml"):
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            if re.match(r"^\w+\s*=", line):
                j = i - 1
                comment = []
                while j >= 0 and lines[j].startswith("#"):
                    comment.append(lines[j])
                    j -= 1
                text = " ".join(comment).lower()
                assert comment, f"{path.name}: {line!r} has no comment"
                sources = ("loihi", "assumption", "[derived]", "lava", "hala", "preset", "unused",
                           "horowitz", "spikingmamba", "davies", "sana-fe")
                assert any(w in text for w in sources), \
                    f"{path.name}: {line!r} cites no source"


def _default_dict():
    return copy.deepcopy(HardwareSpec.load("default").to_dict())


@pytest.mark.parametrize("edit, field", [
    (lambda d: d["core"].update(bogus=1), "core.bogus"),
    (lambda d: d.update(extra={"x": 1}), "[extra]"),
    (lambda d: d["core"].pop("ac_lanes"), "core.ac_lanes"),
    (lambda d: d.pop("noc"), "[noc]"),
    (lambda d: d["core"].update(neurons="1024"), "core.neurons"),
    (lambda d: d["core"].update(ac_lanes=0), "core.ac_lanes"),
    (lambda d: d["core"].update(weight_sram_bytes=-5), "core.weight_sram_bytes"),
    (lambda d: d["core"].update(neurons=True), "core.neurons"),
    (lambda d: d["chip"].update(clock_hz=0.0), "chip.clock_hz"),
    (lambda d: d["chip"].update(clock_hz=float("inf")), "chip.clock_hz"),
    (lambda d: d["chip"].update(mesh=[8, 8]), "chip.mesh"),
    (lambda d: d["chip"].update(mesh=[8]), "chip.mesh"),
    (lambda d: d["core"].update(weight_bits=9), "core.weight_bits"),
    (lambda d: d["spikes"].update(encoding="ternary"), "spikes.encoding"),
    (lambda d: d["dense_unit"].update(placement="everywhere"), "dense_unit.placement"),
    (lambda d: d["dense_unit"].update(position=[8, 0]), "dense_unit.position"),
    (lambda d: d["sync"].update(barrier_cycles=-1), "sync.barrier_cycles"),
    (lambda d: d["noc"].update(hop_energy_pj=-0.5), "noc.hop_energy_pj"),
])
def test_validation_names_the_field(edit, field):
    d = _default_dict()
    edit(d)
    with pytest.raises(HardwareSpecError) as exc:
        HardwareSpec.from_dict(d)
    assert field in str(exc.value)


def test_file_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[chip\nname = 1")
    with pytest.raises(HardwareSpecError, match="invalid TOML"):
        HardwareSpec.from_toml(bad)
    with pytest.raises(HardwareSpecError, match="cannot read"):
        HardwareSpec.from_toml(tmp_path / "missing.toml")
    with pytest.raises(HardwareSpecError, match="no hardware preset"):
        HardwareSpec.load("no-such-preset")
    # zero lanes in a file: the CLI prints one line and exits 2
    text = HardwareSpec.load("default").to_toml().replace("ac_lanes = 4", "ac_lanes = 0")
    bad.write_text(text)
    r = CliRunner().invoke(main, ["hw", "show", str(bad)])
    assert r.exit_code == 2 and "core.ac_lanes" in r.output and "Traceback" not in r.output


def test_hw_show_cli():
    r = CliRunner().invoke(main, ["hw", "show", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["format"] == "snncompile-hw/1"
    assert HardwareSpec.from_dict(d["hardware"]) == HardwareSpec.load("default")
    r = CliRunner().invoke(main, ["hw", "show", "small"])
    assert r.exit_code == 0, r.output
    assert "generic-small" in r.output and "core.weight_sram_bytes" in r.output
    assert "[rows, cols]" in r.output  # rich markup is escaped
    for f in SCHEMA:
        assert f"{f.section}.{f.key}" in r.output
    r = CliRunner().invoke(main, ["hw", "list"])
    assert r.exit_code == 0 and "large" in r.output


def test_toml_is_parsed_with_tomllib():
    d = tomllib.loads((PRESETS_DIR / "default.toml").read_text())
    assert d["chip"]["mesh"] == [8, 16]
