"""Cost tables: the bundled files carry the spec's numbers with sources; a malformed table
raises CostTableError naming the field, and the CLI turns it into exit code 2."""

from __future__ import annotations

import textwrap

import pytest
from click.testing import CliRunner

from snncompile.cli import main
from snncompile.energy.table import PRICES, hardware_preset, list_tables, load_table, parse_table
from snncompile.errors import CostTableError

BUNDLED = ("paper-45nm", "horowitz-45nm", "horowitz-45nm-dram", "loihi1", "loihi1-sanafe", "accum")


def test_bundled_tables_load_and_every_constant_has_a_source():
    from snncompile.backends.accum.hardware import HardwareSpec

    assert set(BUNDLED) <= set(list_tables())
    for name in list_tables():
        preset = hardware_preset(name)
        t = load_table(name, hardware=HardwareSpec.load(preset).to_dict() if preset else None)
        assert t.name == name
        assert t.prices, name
        for c in t.constants.values():
            assert c.source.strip(), f"{name}: {c.name} has no source"
        for key, p in t.prices.items():
            assert key in PRICES
            assert p.constant in t.constants


def test_paper_table_is_exactly_e_mac_and_e_ac():
    t = load_table("paper-45nm")
    assert set(t.prices) == {"ac", "mac"}
    assert t.per_unit("ac") == 0.9
    assert t.per_unit("mac") == 4.6
    assert t.priced_components() == ("ac", "mac")


def test_horowitz_numbers_and_memory_per_byte():
    t = load_table("horowitz-45nm")
    c = {k: v.value for k, v in t.constants.items()}
    assert (c["int8_add"], c["int32_add"], c["int8_mult"], c["int32_mult"]) == (0.03, 0.1, 0.2, 3.1)
    assert (c["fp16_add"], c["fp32_add"], c["fp16_mult"], c["fp32_mult"]) == (0.4, 0.9, 1.1, 3.7)
    assert (c["sram_8kb_64b"], c["sram_32kb_64b"], c["sram_1mb_64b"]) == (10.0, 20.0, 100.0)
    assert (c["dram_64b_low"], c["dram_64b_high"]) == (1300.0, 2600.0)
    assert c["fp32_mac"] == 4.6  # sum_of, rounded to 12 significant digits
    assert t.per_unit("weight_read") == 100.0 / 8
    assert t.per_unit("state_read") == 20.0 / 8
    assert load_table("horowitz-45nm-dram").per_unit("weight_read") == 1300.0 / 8


def test_loihi_tables():
    t = load_table("loihi1")
    assert t.per_unit("ac") == 23.6
    assert t.per_unit("neuron_update") + t.per_unit("neuron_access") == 81.0   # active
    assert t.per_unit("neuron_access") == 52.0                                 # inactive
    assert t.per_unit("spike_message") == 1.7
    assert t.per_unit("noc_hop") == 3.0 and t.per_unit("noc_hop_ns") == 4.0   # by direction
    assert t.per_unit("weight_read") == 0.0
    s = load_table("loihi1-sanafe")
    assert s.per_unit("ac") == 35.5
    assert s.per_unit("neuron_access") == 51.2 and s.per_unit("neuron_update") == 21.6
    assert s.per_unit("spike_message") == 111.0
    assert s.per_unit("noc_hop") == 3.0 and s.per_unit("noc_hop_ns") == 4.2


def test_accum_table_reads_hop_energy_from_the_hardware_file():
    from snncompile.backends.accum.hardware import HardwareSpec

    # energy takes the hardware as data: the caller resolves the preset the table names
    assert hardware_preset("accum") == "default"
    assert hardware_preset("paper-45nm") is None
    with pytest.raises(CostTableError, match=r"need the hardware description.*'default'"):
        load_table("accum")
    hw = HardwareSpec.load("default").to_dict()
    assert load_table("accum", hardware=hw).per_unit("noc_hop") == hw["noc"]["hop_energy_pj"]
    hw2 = {**hw, "noc": {**hw["noc"], "hop_energy_pj": 7.25}}
    assert load_table("accum", hardware=hw2).per_unit("noc_hop") == 7.25
    with pytest.raises(CostTableError, match=r"constants\.noc_hop\.from_hardware"):
        load_table("accum", hardware={"noc": {}})


def test_user_table_by_path(tmp_path):
    p = tmp_path / "mine.toml"
    p.write_text(_GOOD)
    t = load_table(str(p))
    assert t.name == "mine" and t.per_unit("ac") == 2.0 and t.per_unit("weight_read") == 4.0
    assert t.per_unit("static_power") == 0.5
    with pytest.raises(CostTableError, match="does not exist"):
        load_table(str(tmp_path / "absent.toml"))
    with pytest.raises(CostTableError, match="unknown cost table 'nope'"):
        load_table("nope")


_GOOD = textwrap.dedent("""\
    format = "snncompile-cost/1"
    name = "mine"
    description = "test"
    [constants.add]
    pj = 2.0
    source = "s1"
    [constants.mem]
    pj = 32.0
    source = "s2"
    [constants.leak]
    watts = 0.5
    source = "s3"
    [prices]
    ac = "add"
    weight_read = { constant = "mem", bytes_per_access = 8 }
    static_power = "leak"
    """)


def _mutate(old: str, new: str) -> str:
    assert old in _GOOD
    return _GOOD.replace(old, new)


BAD = [
    (_mutate('pj = 2.0\n', 'pj = -1.0\n'), "constants.add.pj"),
    (_mutate('pj = 2.0\n', 'pj = "2"\n'), "constants.add.pj"),
    (_mutate('source = "s1"\n', ''), "constants.add.source"),
    (_mutate('source = "s1"\n', 'source = ""\n'), "constants.add.source"),
    (_mutate('pj = 2.0\n', 'pj = 2.0\nwatts = 1.0\n'), "constants.add"),
    (_mutate('pj = 2.0\n', 'pj = 2.0\nunit = "pJ"\n'), "constants.add.unit"),
    (_mutate('ac = "add"', 'ac = "missing"'), "prices.ac"),
    (_mutate('ac = "add"', 'acc = "add"'), "prices.acc"),
    (_mutate('ac = "add"', 'ac = "leak"'), "prices.ac"),
    (_mutate('{ constant = "mem", bytes_per_access = 8 }', '"mem"'), "prices.weight_read.bytes_per_access"),
    (_mutate('bytes_per_access = 8', 'bytes_per_access = 0'), "prices.weight_read.bytes_per_access"),
    (_mutate('ac = "add"', 'ac = { constant = "add", bytes_per_access = 8 }'), "prices.ac.bytes_per_access"),
    (_mutate('static_power = "leak"', 'static_power = "add"'), "prices.static_power"),
    (_mutate('format = "snncompile-cost/1"', 'format = "v0"'), "format"),
    (_mutate('name = "mine"\n', ''), "name"),
    (_mutate('pj = 32.0\n', 'sum_of = ["mem"]\n'), "constants.mem"),
    (_mutate('pj = 32.0\n', 'mean_of = ["leak"]\n'), "constants.mem.mean_of"),
    (_mutate('pj = 32.0\n', 'sum_of = []\n'), "constants.mem.sum_of"),
    (_mutate('[prices]', 'extra = 1\n[prices]'), "extra"),
]


@pytest.mark.parametrize("text,field", BAD, ids=[f for _, f in BAD])
def test_malformed_table_names_the_field(tmp_path, text, field):
    p = tmp_path / "bad.toml"
    p.write_text(text)
    with pytest.raises(CostTableError) as exc:
        load_table(str(p))
    msg = str(exc.value)
    assert "bad.toml" in msg
    assert field in msg, msg


def test_top_level_of_extra_field_is_named():
    # "extra" above sits inside [constants.leak]; a true top-level unknown key:
    import tomllib
    data = tomllib.loads('bogus = 1\n' + _GOOD)
    with pytest.raises(CostTableError, match="bogus is not a known field"):
        parse_table(data, where="x.toml")


def test_not_toml(tmp_path):
    p = tmp_path / "broken.toml"
    p.write_text("format = \n")
    with pytest.raises(CostTableError, match="broken.toml: not valid TOML"):
        load_table(str(p))


def test_cli_malformed_table_exit_2_names_field(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text(_mutate('pj = 2.0\n', 'pj = -3\n'))
    r = CliRunner().invoke(main, ["energy", "--config", "mamba2-130m", "--fire-rate", "0.1",
                                  "--preset", str(p)])
    assert r.exit_code == 2, r.output
    assert "constants.add.pj" in r.output
    assert "Traceback" not in r.output


def test_cli_list_presets():
    r = CliRunner().invoke(main, ["energy", "--list-presets"])
    assert r.exit_code == 0, r.output
    for name in BUNDLED:
        assert f"{name}:" in r.output
