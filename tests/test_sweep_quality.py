"""Sweeps with quality per point (opt-in `[quality]`): a sweep over core.weight_bits records
bits per byte next to energy (results.json, results.csv, the terminal table); without the
table nothing changes; spec errors name the field."""

from __future__ import annotations

import csv
import io
import json
import math
import tomllib

import pytest
from click.testing import CliRunner

from snncompile.cli import main
from snncompile.errors import ConfigError
from snncompile.sweep import SerialExecutor, parse_spec, run_sweep
from snncompile.sweep.results import CSV_FIELDS, QUALITY_FIELDS, to_csv

BASE = """
[model]
config = { d_model = 32, n_layer = 2, vocab_size = 256, d_state = 8, headdim = 16 }
neuron = { kind = "silif", D = 4, theta = 0.5 }
seed = 0

[workload]
prompt = "hi"
tokens = 2

[hardware]
base = "default"

[axes]
"core.weight_bits" = [3, 8]

[energy]
presets = ["accum", "paper-45nm"]
"""
QUALITY = BASE + """
[quality]
bytes = 65
seq_len = 32
"""


@pytest.fixture(scope="module")
def quality_run(tmp_path_factory):
    spec_path = tmp_path_factory.mktemp("q") / "bits.toml"
    spec_path.write_text(QUALITY)
    out = spec_path.parent / "out"
    res = CliRunner().invoke(main, ["sweep", str(spec_path), "-o", str(out)])
    assert res.exit_code == 0, res.output
    return out, res.output


def test_quality_per_point_in_json_csv_and_table(quality_run):
    out, terminal = quality_run
    doc = json.loads((out / "results.json").read_text())
    assert doc["spec"]["quality"] == {"bytes": 65, "seq_len": 32}
    q = {p["axes"]["core.weight_bits"]: p["quality"] for p in doc["points"]}
    for bits, rec in q.items():
        assert rec["bytes"] == 65 and rec["seq_len"] == 32 and rec["n_bytes"] == 64
        assert math.isfinite(rec["bpb"]) and rec["perplexity"] == pytest.approx(2 ** rec["bpb"])
        assert 0 < rec["firing_rate"] < 1
    assert q[3]["bpb"] != q[8]["bpb"]   # 3-bit weights change the model's predictions
    rows = list(csv.DictReader(io.StringIO((out / "results.csv").read_text())))
    assert list(rows[0])[-len(QUALITY_FIELDS):] == list(QUALITY_FIELDS)
    for row in rows:
        assert float(row["bpb"]) == q[int(row["core.weight_bits"])]["bpb"]
        assert float(row["e_snn_total_j_per_token"]) > 0
    assert "bpb" in terminal


def test_point_quality_is_evaluate_on_the_points_program(quality_run, tmp_path):
    """The recorded figure is what `snncompile evaluate prog/` (simulator) reports for the
    point's lowered program over the same bytes and windows."""
    from snncompile.backends import get_backend
    from snncompile.backends.accum.hardware import HardwareSpec
    from snncompile.sweep.model import quantized_graph_for

    out, _ = quality_run
    doc = json.loads((out / "results.json").read_text())
    point = next(p for p in doc["points"] if p["axes"]["core.weight_bits"] == 8)
    spec = parse_spec(tomllib.loads(QUALITY))
    hw = HardwareSpec.load("default")
    prog = get_backend("accum").lower(quantized_graph_for(spec.model, 8), hw)
    prog.save(tmp_path / "prog")
    res = CliRunner().invoke(main, ["evaluate", str(tmp_path / "prog"), "--json", "--bytes",
                                    "65", "--seq-len", "32", "--tokens", "0"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["bpb"] == pytest.approx(point["quality"]["bpb"], rel=1e-12)


def test_without_quality_nothing_changes():
    spec = parse_spec(tomllib.loads(BASE))
    assert spec.quality_bytes == 0 and "quality" not in spec.to_dict()
    result = run_sweep(spec, SerialExecutor())
    assert all("quality" not in p for p in result.points)
    header = to_csv(result).splitlines()[0].split(",")
    assert header[-len(CSV_FIELDS):] == list(CSV_FIELDS)


@pytest.mark.parametrize("table, needle", [
    ("[quality]\nbytes = 1\n", "quality.bytes"),
    ("[quality]\nbytes = 4098\n", "quality.bytes"),
    ("[quality]\nbytes = 64\nseq_len = 64\n", "quality.seq_len"),
    ("[quality]\nbytes = 64\nwindow = 8\n", "quality.window"),
    ("[quality]\n", "quality.bytes"),
    ("quality = 3\n", "[quality]"),
])
def test_quality_spec_errors_name_the_field(table, needle):
    text = table + BASE if not table.startswith("[") else BASE + table
    with pytest.raises(ConfigError, match=needle.replace("[", r"\[").replace("]", r"\]")):
        parse_spec(tomllib.loads(text))


def test_quality_needs_the_byte_vocabulary():
    text = QUALITY.replace("vocab_size = 256", "vocab_size = 64").replace('"hi"', '"!"')
    with pytest.raises(ConfigError, match="vocab_size >= 256"):
        parse_spec(tomllib.loads(text))
