"""`snncompile demo` end to end on a small calibrated student: every file, exact simulation."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from snncompile.models.checkpoint import save_checkpoint
from snncompile.models.config import NeuronConfig


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory, calibrated_student) -> Path:
    student = calibrated_student(0, NeuronConfig(kind="silif", D=4))
    folder = tmp_path_factory.mktemp("ckpt") / "student"
    save_checkpoint(student, folder)
    return folder


def test_demo_writes_every_file_and_matches(student_dir, tmp_path):
    out = tmp_path / "demo"
    exe = Path(sys.executable).parent / "snncompile"
    proc = subprocess.run([str(exe), "demo", "--checkpoint", str(student_dir), "-o", str(out),
                           "--prompt", "import os", "--tokens", "6", "--json"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["simulator_matches_reference"] is True
    assert summary["continuation"] == summary["continuation_reference"]
    assert summary["new_tokens"] == len(summary["token_ids"]) == 6
    assert summary["per_token"]["acs"] > 0 and summary["per_token"]["cycles"] > 0
    assert 0 < summary["firing_rate"] < 1
    names = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    for f in ("model.onnx", "prog/program.json", "mapping.json", "sim.json", "summary.json",
              "energy-paper-45nm.json", "energy-paper-45nm.csv", "energy-paper-45nm.png",
              "energy-horowitz-45nm.json", "energy-horowitz-45nm.png"):
        assert f in names, f
    assert (out / "energy-paper-45nm.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    by_preset = {e["preset"]: e for e in summary["energy"]}
    # paper-style ratio: arithmetic only, so the SNN must beat the dense model when ACs < MACs
    assert by_preset["paper-45nm"]["ratio"] > 1
    # memory-aware table adds weight/state traffic: more energy per token than arithmetic only
    assert (by_preset["horowitz-45nm"]["per_token"]["snn_j"]["total"]
            > by_preset["paper-45nm"]["per_token"]["snn_j"]["total"])
    assert json.loads((out / "summary.json").read_text()) == summary


def test_demo_bad_checkpoint_exit_2_and_no_output(tmp_path):
    exe = Path(sys.executable).parent / "snncompile"
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text("{not json")
    out = tmp_path / "demo"
    proc = subprocess.run([str(exe), "demo", "--checkpoint", str(bad), "-o", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error:") and len(proc.stderr.strip().splitlines()) == 1
    assert not out.exists()
