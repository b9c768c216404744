"""The bundled teacher and student (examples/models) load with the project's loader and reach
the validation bpb they state.

Stated figures live in each folder's train_summary.json ("val": bpb and firing rates on the
first `options.eval_bytes` = 32 KiB of the validation split, windows of `eval_seq_len`), and in
examples/models/README.md. This test re-evaluates on that same subset (the whole split takes
longer than this test should on 2 shared cores; evaluate.json holds the whole-split figures).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from snncompile.data.corpus import CORPUS_SHA256, load_split
from snncompile.models.checkpoint import load_checkpoint
from snncompile.training.distill import read_summary
from snncompile.training.evaluate import evaluate

MODELS = Path(__file__).resolve().parents[1] / "examples" / "models"


@pytest.fixture(scope="module")
def bundled():
    out = {}
    for name in ("teacher", "student"):
        folder = MODELS / name
        summary = read_summary(folder)
        model = load_checkpoint(folder)
        opts = summary["options"]
        ev = evaluate(model, load_split().val, opts["eval_seq_len"], opts["batch"],
                      opts["eval_bytes"])
        out[name] = (model, summary, ev)
    return out


def test_bundled_files_are_small_safetensors():
    for name in ("teacher", "student"):
        folder = MODELS / name
        weights = folder / "model.safetensors"
        assert weights.is_file() and (folder / "config.json").is_file()
        assert weights.stat().st_size < 5_000_000
        assert not (folder / "pytorch_model.bin").exists()


def test_configs_are_the_documented_ones(bundled):
    teacher, _, _ = bundled["teacher"]
    student, summary, _ = bundled["student"]
    assert not teacher.config.spiking
    assert student.config.spiking and student.config.neuron.kind == "silif"
    assert student.config.neuron.D == 4
    assert student.config.vocab_size == 256 and student.config.padded_vocab_size == 256
    for f in ("d_model", "n_layer", "d_state", "headdim"):
        assert getattr(student.config, f) == getattr(teacher.config, f)
    assert summary["corpus_sha256"] == CORPUS_SHA256


@pytest.mark.parametrize("name", ["teacher", "student"])
def test_stated_bpb_is_reached_within_one_percent(bundled, name):
    _, summary, ev = bundled[name]
    assert ev.bpb == pytest.approx(summary["val"]["bpb"], rel=0.01)
    assert ev.n_bytes == summary["val"]["n_bytes"]


def test_student_within_ten_percent_of_teacher_and_fires_sparsely(bundled):
    _, _, t_ev = bundled["teacher"]
    _, summary, s_ev = bundled["student"]
    assert s_ev.bpb <= 1.10 * t_ev.bpb
    assert summary["bpb_ratio"] <= 1.10
    stated = summary["val"]["layer_firing_rates"]
    assert set(stated) == {str(i) for i in range(len(s_ev.layer_rates))}
    for layer, rate in s_ev.layer_rates.items():
        assert 0.0 < rate < 0.5
        assert rate == pytest.approx(stated[str(layer)], rel=0.01)


def test_readme_states_the_same_figures():
    readme = (MODELS / "README.md").read_text()
    for name in ("teacher", "student"):
        summary = read_summary(MODELS / name)
        assert f"{summary['val']['bpb']:.4f}" in readme, name
        full = json.loads((MODELS / name / "evaluate.json").read_text())
        assert full["eval_bytes"] is None  # the whole validation split
        assert f"{full['bpb']:.4f}" in readme, name
    assert re.search(r"examples/train_default\.sh", readme)


def test_neuron_comparison_script_writes_csv_png_md(tmp_path):
    import csv
    import importlib.util
    import torch

    path = MODELS.parent / "neuron_comparison.py"
    spec = importlib.util.spec_from_file_location("neuron_comparison", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    threads = torch.get_num_threads()
    try:
        assert mod.main(["--steps", "2", "--batch", "2", "--seq-len", "32", "--eval-bytes",
                         "2048", "--threads", "1", "--out", str(tmp_path)]) == 0
    finally:
        torch.set_num_threads(threads)
    rows = list(csv.DictReader((tmp_path / "neuron_comparison.csv").open()))
    assert [(r["neuron"], r["D"], r["sgc"]) for r in rows] == [
        ("lif", "1", "1"), ("lif", "1", "0"), ("ilif", "4", "1"), ("ilif", "4", "0"),
        ("silif", "4", "1"), ("silif", "4", "0")]
    energy_cols = ["energy_ratio_paper", "energy_ratio_paper_no_lm_head", "energy_ratio_horowitz"]
    assert list(rows[0]) == mod.CSV_COLUMNS + energy_cols
    assert all(float(r[c]) > 0 for r in rows for c in energy_cols)
    for r in rows:
        assert float(r["bpb_gap"]) == pytest.approx(
            float(r["student_bpb"]) - float(r["teacher_bpb"]), abs=2e-5)
        assert len(r["layer_firing_rates"].split()) == 3
    assert (tmp_path / "neuron_comparison.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (tmp_path / "neuron_comparison.md").read_text()
    assert "--steps 2 --batch 2 --seq-len 32 --eval-bytes 2048" in md
    assert "| silif | 4 | off |" in md
    assert "## Energy at the measured firing rates" in md


def test_committed_comparison_matches_its_csv():
    res = MODELS.parent / "results"
    rows = (res / "neuron_comparison.csv").read_text().splitlines()
    assert rows[0].startswith("neuron,D,sgc,") and len(rows) == 7
    md = (res / "neuron_comparison.md").read_text()
    assert ".venv/bin/python examples/neuron_comparison.py`" in md
    for line in rows[1:]:
        assert f"| {float(line.split(',')[7]):.4f} |" in md  # every student bpb is in the table


def test_committed_energy_column_recomputes():
    import csv
    import importlib.util
    import json

    from snncompile.models.config import SpikingMambaConfig

    path = MODELS.parent / "neuron_comparison_energy.py"
    spec = importlib.util.spec_from_file_location("neuron_comparison_energy", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    config = SpikingMambaConfig.from_mamba_ssm_dict(
        json.loads((MODELS / "teacher" / "config.json").read_text()))
    rows = list(csv.DictReader((MODELS.parent / "results" / "neuron_comparison.csv").open()))
    for r in rows:
        got = mod.ratios(config, r["neuron"], int(r["D"]), float(r["in_proj_firing_rate"]),
                         float(r["out_proj_firing_rate"]))
        assert got == {c: pytest.approx(float(r[c]), abs=1e-4) for c in mod.COLUMNS}
    # fewer levels, fewer ACs: the binary LIF student has the highest paper-style ratio
    by = {(r["neuron"], r["sgc"]): float(r["energy_ratio_paper"]) for r in rows}
    assert by[("lif", "1")] > by[("silif", "1")]
