"""`snncompile distill` and `snncompile evaluate` end to end (tiny models)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from snncompile.cli import main
from snncompile.models.checkpoint import load_checkpoint
from snncompile.training.distill import read_summary

TINY_ARGS = ["--d-model", "32", "--n-layer", "1", "--d-state", "8", "--headdim", "16",
             "--chunk-size", "16", "--batch", "4", "--seq-len", "32", "--warmup", "2",
             "--eval-bytes", "2048", "--threads", "1", "--no-progress"]


pytestmark = pytest.mark.usefixtures("restore_torch_threads")  # the CLI's --threads 1


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("distill")
    res = CliRunner().invoke(main, ["distill", "--stage", "both", "-o", str(out), "--steps", "6",
                                    "--student-steps", "4", "--ckpt-every", "3", "--neuron",
                                    "silif", "--D", "3", "--json", *TINY_ARGS])
    assert res.exit_code == 0, res.output
    return out, json.loads(res.output)


def test_distill_both_writes_loadable_models(trained):
    out, summary = trained
    assert set(summary) == {"format", "teacher", "student"}
    assert summary["format"] == "snncompile-distill/1"
    assert summary["student"]["folder"] == str(out / "student")
    teacher = load_checkpoint(out / "teacher")
    student = load_checkpoint(out / "student")
    assert not teacher.config.spiking and teacher.config.d_model == 32
    assert student.config.neuron.kind == "silif" and student.config.neuron.D == 3
    assert student.config.sgc
    s = read_summary(out / "student")
    assert s["steps"] == 4 and s["options"]["ckpt_every"] == 3
    assert s["bpb_ratio"] == pytest.approx(summary["student"]["bpb_ratio"])
    assert (out / "checkpoints" / "teacher" / "latest" / "meta.json").is_file()


def test_distill_student_stage_from_teacher_folder(trained, tmp_path):
    out, _ = trained
    res = CliRunner().invoke(main, ["distill", "--stage", "student", "--teacher",
                                    str(out / "teacher"), "-o", str(tmp_path), "--steps", "3",
                                    "--neuron", "lif", "--no-sgc", "--format", "bin",
                                    *TINY_ARGS])
    assert res.exit_code == 0, res.output
    assert "student" in res.output and "firing rates per layer" in res.output
    student = load_checkpoint(tmp_path / "student")
    assert student.config.neuron.kind == "lif" and student.config.neuron.D == 1
    assert not student.config.sgc
    assert (tmp_path / "student" / "pytorch_model.bin").is_file()
    # a rerun finds the finished checkpoint and resumes at the end (no steps left)
    again = CliRunner().invoke(main, ["distill", "--stage", "student", "--teacher",
                                      str(out / "teacher"), "-o", str(tmp_path), "--steps", "3",
                                      "--neuron", "lif", "--no-sgc", "--json", *TINY_ARGS])
    assert again.exit_code == 0, again.output
    assert json.loads(again.output)["student"]["resumed_from"] == 3


@pytest.mark.parametrize("args,message", [
    (["--stage", "student"], "--teacher"),
    (["--stage", "teacher", "--teacher", "x"], "only used with --stage student"),
    (["--stage", "teacher", "--steps", "0"], "steps"),
    (["--stage", "teacher", "--d-model", "30"], "headdim"),
    (["--stage", "student", "--teacher", "/nonexistent/teacher"], "does not exist"),
])
def test_distill_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
    res = CliRunner().invoke(main, ["distill", "-o", str(tmp_path), *TINY_ARGS, *args])
    assert res.exit_code == 2, res.output
    assert message in res.output
    assert "Traceback" not in res.output


def test_evaluate_json_reports_bpb_rates_and_samples(trained, tmp_path):
    out, summary = trained
    res = CliRunner().invoke(main, ["evaluate", str(out / "student"), "--json", "--eval-bytes",
                                    "2048", "--seq-len", "32", "--prompt", "The ", "--tokens",
                                    "12", "--temperature", "0.7", "--seed", "3", "--threads", "1",
                                    "--save", str(tmp_path / "ev.json")])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert json.loads((tmp_path / "ev.json").read_text()) == data
    assert data["bpb"] == pytest.approx(summary["student"]["val"]["bpb"], rel=1e-9)
    assert data["spiking"] is True and set(data["block_firing_rates"]) == {"0"}
    # neurons carry their IR node names, as in inspect, run, simulate and energy
    assert set(data["neuron_firing_rates"]) == {"layers.0.in_proj_spike",
                                                "layers.0.out_proj_spike"}
    assert set(data["samples"]) == {"greedy", "temperature=0.7"}
    assert all(len(t.encode("utf-8", "replace")) >= 1 for t in data["samples"].values())
    again = CliRunner().invoke(main, ["evaluate", str(out / "student"), "--json", "--eval-bytes",
                                      "2048", "--seq-len", "32", "--prompt", "The ", "--tokens",
                                      "12", "--temperature", "0.7", "--seed", "3"])
    assert json.loads(again.output)["samples"] == data["samples"]  # seeded sampling


def test_evaluate_table_and_errors(trained):
    out, _ = trained
    res = CliRunner().invoke(main, ["evaluate", str(out / "teacher"), "--eval-bytes", "2048",
                                    "--seq-len", "32", "--tokens", "5"])
    assert res.exit_code == 0, res.output
    assert "validation bpb" in res.output and "greedy" in res.output
    assert "firing rate" not in res.output  # dense teacher
    bad = CliRunner().invoke(main, ["evaluate", str(out / "nothing")])
    assert bad.exit_code == 2 and "does not exist" in bad.output
    bad = CliRunner().invoke(main, ["evaluate", str(out / "teacher"), "--temperature", "0"])
    assert bad.exit_code == 2 and "--temperature" in bad.output


def test_distill_interrupt_says_how_to_resume(tmp_path, monkeypatch):
    import snncompile.cli.distill_cmd as cmd

    def interrupted(**kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cmd, "run_distill", interrupted)
    res = CliRunner().invoke(main, ["distill", "--stage", "teacher", "-o", str(tmp_path),
                                    "--ckpt-dir", str(tmp_path / "ck"), *TINY_ARGS])
    assert res.exit_code == 130
    assert "rerun the same command to resume" in res.output and str(tmp_path / "ck") in res.output
