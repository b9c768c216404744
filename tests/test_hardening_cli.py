"""Issue 13, classes 6-8: CLI errors, outputs that destroy inputs, atomicity.

Every reproducer of the issue is here: click usage errors as one `error:` line (exit 2), a
non-UTF-8 prompt, a 2^70 seed, `export -o` under a file or /proc, the three commands that
overwrote their own input, a SIGKILLed `lower` that left `.prog.tmp-*` behind, and a crash
between the two renames of a folder swap.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from snncompile.atomic import (atomic_files, atomic_path, check_outputs, recover,
                               write_text_atomic)
from snncompile.cli import main
from snncompile.errors import ConfigError, OutputError
from snncompile.frontend import build_graph
from snncompile.frontend.synthetic import random_state_dict
from snncompile.ir import serde
from snncompile.models.checkpoint import save_checkpoint
from snncompile.models.config import NeuronConfig, SpikingMambaConfig
from snncompile.models.lm import SpikingMambaLM

ROOT = Path(__file__).resolve().parents[1]
CFG = SpikingMambaConfig(d_model=32, n_layer=2, vocab_size=256, d_state=8, headdim=16,
                         spiking=True, neuron=NeuronConfig(theta=0.5))


def _one_error_line(res) -> str:
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output and "Usage:" not in res.output, res.output
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    return lines[0]


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A checkpoint folder, its verified export, and an accum program lowered from a graph."""
    tmp = tmp_path_factory.mktemp("hard")
    torch.manual_seed(0)
    save_checkpoint(SpikingMambaLM(CFG), tmp / "ckpt")
    model = tmp / "model.onnx"
    serde.save(build_graph(CFG, random_state_dict(CFG, 0)), model)
    res = CliRunner().invoke(main, ["lower", str(model), "-o", str(tmp / "prog")])
    assert res.exit_code == 0, res.output
    return tmp


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------------------ 6. CLI
@pytest.mark.parametrize("args, needle", [
    (["--bogus"], "No such option '--bogus'"),
    (["nosuch"], "No such command 'nosuch'"),
    (["lower"], "Missing argument 'MODEL'"),
    (["lower", "m.onnx", "--bogus"], "No such option '--bogus'"),
    (["simulate", "prog"], "Missing option '--prompt'"),
    (["export", "ck", "-o", "x.onnx", "--tokens", "0"], "Invalid value for '--tokens'"),
    (["hw", "show", "--bogus"], "hw show --help')"),
    (["energy", "--tokens", "many"], "'many' is not a valid integer"),
])
def test_usage_errors_are_one_error_line_exit_2(args, needle):
    line = _one_error_line(CliRunner().invoke(main, args))
    assert needle in line


def test_help_is_unchanged():
    for args in (["--help"], ["lower", "--help"], ["hw", "--help"]):
        res = CliRunner().invoke(main, args)
        assert res.exit_code == 0 and res.stdout.startswith("Usage: "), res.output
        assert "Options:" in res.stdout
    bare = CliRunner().invoke(main, [])
    assert bare.exit_code == 0 and bare.stdout.startswith("Usage: ") and "Commands:" in bare.stdout


@pytest.mark.parametrize("cmd", [
    ["run", "m.onnx", "--prompt", "a"],
    ["evaluate", "ck"],
    ["distill", "-o", "out", "--stage", "teacher"],
])
def test_huge_seed_is_a_usage_error(cmd):
    line = _one_error_line(CliRunner().invoke(main, [*cmd, "--seed", str(2**70)]))
    assert "--seed" in line and "4294967295" in line


@pytest.mark.parametrize("option", ["--d-model", "--n-layer", "--batch", "--seq-len",
                                    "--chunk-size", "--D", "--ckpt-every", "--threads"])
def test_distill_sizes_have_ranges(option, tmp_path):
    for bad in ("0", str(2**70)):
        res = CliRunner().invoke(main, ["distill", "-o", str(tmp_path), "--stage", "teacher",
                                        option, bad])
        assert option in _one_error_line(res)


def test_non_utf8_prompt_is_one_line_error_from_the_tokenizer():
    from snncompile.data.tokenizer import encode
    with pytest.raises(ConfigError, match="byte 0xff at position 2"):
        encode(b"ab\xff".decode("utf-8", "surrogateescape"))
    with pytest.raises(ConfigError, match="character U\\+D800"):
        encode("\ud800")
    assert encode("é") == [0xC3, 0xA9]


def test_non_utf8_prompt_through_a_real_argv(files):
    env = dict(os.environ, LC_ALL="C.UTF-8", PYTHONUTF8="1")
    res = subprocess.run([sys.executable, "-m", "snncompile.cli", "simulate",
                          str(files / "prog"), "--prompt", b"hi\xff"],
                         capture_output=True, env=env, timeout=120)
    assert res.returncode == 2, res.stderr
    assert res.stderr.decode() == ("error: the prompt is not valid UTF-8 text: byte 0xff at "
                                   "position 2\n")


@pytest.mark.parametrize("where", ["file", "proc"])
def test_export_under_a_file_or_proc_is_output_error(files, tmp_path, where):
    (tmp_path / "afile").write_text("x")
    out = tmp_path / "afile" / "m.onnx" if where == "file" else Path("/proc/nope/m.onnx")
    res = CliRunner().invoke(main, ["export", str(files / "ckpt"), "-o", str(out),
                                    "--no-verify"])
    assert str(out) in _one_error_line(res)
    assert (tmp_path / "afile").read_text() == "x"


def test_atomic_helpers_turn_every_os_error_into_output_error(tmp_path):
    (tmp_path / "afile").write_text("x")
    for target in (tmp_path / "afile" / "m.onnx", Path("/proc/nope/m.onnx"),
                   Path("/proc/version")):
        with pytest.raises(OutputError, match=str(target)):
            with atomic_files(target) as stage:
                (stage / target.name).write_text("y")
        with pytest.raises(OutputError, match=str(target)):
            with atomic_path(target, directory=True) as tmp:
                (tmp / "f").write_text("y")
    (tmp_path / "adir").mkdir()
    with pytest.raises(OutputError, match="adir"):  # a file does not replace a folder ...
        with atomic_files(tmp_path / "adir") as stage:
            (stage / "adir").write_text("y")
    with pytest.raises(OutputError, match="afile"):  # ... nor a folder a file
        with atomic_path(tmp_path / "afile", directory=True) as tmp:
            (tmp / "f").write_text("y")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir", "afile"]


def test_export_uses_the_shared_helper_and_publishes_model_with_its_data(files, tmp_path):
    from snncompile.export import export_checkpoint
    out = tmp_path / "m.onnx"
    serde.data_path(out).write_text("stale")
    rep = export_checkpoint(files / "ckpt", out, verify=False, external_data=True)
    assert rep.external_data and serde.data_path(out).stat().st_size > 100
    serde.load(out)
    export_checkpoint(files / "ckpt", out, verify=False, external_data=False)
    assert not serde.data_path(out).exists()  # the embedded export drops the old weights
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]
    src = (ROOT / "snncompile" / "export.py").read_text()
    assert "tempfile" not in src and "atomic_files" in src


# ------------------------------------------------------------------ 7. outputs vs inputs
def test_simulate_json_onto_the_program_is_refused(files):
    before = _tree(files / "prog")
    res = CliRunner().invoke(main, ["simulate", str(files / "prog"), "--prompt", "hi",
                                    "--tokens", "1", "--json", str(files / "prog" / "graph.onnx")])
    assert "inside the input" in _one_error_line(res)
    assert _tree(files / "prog") == before


def test_export_into_the_checkpoint_is_refused(files):
    before = _tree(files / "ckpt")
    for name in ("model.safetensors", "model.onnx"):
        res = CliRunner().invoke(main, ["export", str(files / "ckpt"), "-o",
                                        str(files / "ckpt" / name)])
        assert "inside the input" in _one_error_line(res)
    assert _tree(files / "ckpt") == before


def test_energy_csv_onto_its_own_input_is_refused(tmp_path):
    sim = tmp_path / "s.json"
    sim.write_text("{}")
    for opt in ("--csv", "--png", "--json"):
        res = CliRunner().invoke(main, ["energy", "--from", str(sim), opt, str(sim)])
        assert "is the input" in _one_error_line(res)
    assert sim.read_text() == "{}"


def test_lower_onto_its_model_or_around_it_is_refused(files):
    model = files / "model.onnx"
    before = model.read_bytes()
    for out in (model, files, files / ".."):  # the model itself; folders that contain it
        res = CliRunner().invoke(main, ["lower", str(model), "-o", str(out)])
        line = _one_error_line(res)
        assert "contains the input" in line or "is a file" in line
    assert model.read_bytes() == before


def test_other_writers_are_checked(files, tmp_path):
    ck = str(files / "ckpt")
    spec = tmp_path / "spec.toml"
    spec.write_text("x = 1\n")
    for args in (["demo", "--checkpoint", ck, "-o", ck],
                 ["sweep", str(spec), "-o", str(tmp_path)],
                 ["evaluate", ck, "--save", str(files / "ckpt" / "config.json")],
                 ["distill", "--stage", "student", "--teacher", str(tmp_path / "o" / "student"),
                  "-o", str(tmp_path / "o")]):
        (tmp_path / "o" / "student").mkdir(parents=True, exist_ok=True)
        res = CliRunner().invoke(main, args)
        assert "input" in _one_error_line(res), args
    assert spec.read_text() == "x = 1\n"


def test_json_and_toml_files_are_checked_in_every_command(files, tmp_path):
    model, prog = str(files / "model.onnx"), str(files / "prog")
    before = (_tree(files / "prog"), (files / "model.onnx").read_bytes())
    hw = tmp_path / "hw.toml"
    assert CliRunner().invoke(main, ["hw", "show", "--toml", str(hw)]).exit_code == 0
    hw_text = hw.read_text()
    for args in (["inspect", model, "--json", model],
                 ["run", model, "--prompt", "a", "--tokens", "1", "--json", model],
                 ["run", prog, "--prompt", "a", "--tokens", "1", "--json", prog + "/x.json"],
                 ["lower", model, "-o", str(tmp_path / "p2"), "--json", model],
                 ["hw", "show", str(hw), "--toml", str(hw)],
                 ["hw", "show", str(hw), "--json", str(hw)]):
        res = CliRunner().invoke(main, args)
        assert "input" in _one_error_line(res), args
    assert (_tree(files / "prog"), (files / "model.onnx").read_bytes()) == before
    assert hw.read_text() == hw_text and not (tmp_path / "p2").exists()


def test_check_outputs_rules(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_text("a")
    os.link(tmp_path / "in" / "a.txt", tmp_path / "hard.txt")
    os.symlink(tmp_path / "in", tmp_path / "link")
    ok = [(["-", None, tmp_path / "out.json"], [tmp_path / "in"]),
          ([tmp_path / "x"], ["mamba2-130m", tmp_path / "missing"]),
          ([tmp_path / "o1", tmp_path / "o2"], [tmp_path / "in" / "a.txt"])]
    for outs, ins in ok:
        check_outputs(outs, ins)
    bad = [([tmp_path / "in" / "a.txt"], [tmp_path / "in" / "a.txt"], "is the input"),
           ([tmp_path / "hard.txt"], [tmp_path / "in" / "a.txt"], "is the input"),
           ([tmp_path / "link" / "b"], [tmp_path / "in"], "inside the input"),
           ([tmp_path], [tmp_path / "in" / "a.txt"], "contains the input"),
           ([tmp_path / "a", tmp_path / "." / "a"], [], "same output")]
    for outs, ins, msg in bad:
        with pytest.raises(OutputError, match=msg):
            check_outputs(outs, ins)
    os.symlink(tmp_path / "loop1", tmp_path / "loop2")
    os.symlink(tmp_path / "loop2", tmp_path / "loop1")
    for odd in ("a\x00b", tmp_path / "loop1" / "x"):  # typed errors, not ValueError/RuntimeError
        with pytest.raises(OutputError, match="cannot use the path"):
            check_outputs([odd], [])
    with pytest.raises(OutputError, match="cannot write"):
        write_text_atomic(tmp_path / "a\x00b", "x")


# ---------------------------------------------------------------------------- 8. atomicity
def test_stale_temporaries_of_dead_processes_are_removed(tmp_path):
    target = tmp_path / "prog"
    dead, live = _dead_pid(), os.getppid()
    for name in (f".prog.tmp-{dead}-0a1b2c3d", f".prog.old-{dead}-0a1b2c3e"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "half").write_text("x")
    (tmp_path / f".prog.tmp-{dead}-00ff00ff").write_text("file")
    keep = [f".prog.tmp-{live}-0a1b2c3d", f".other.tmp-{dead}-0a1b2c3d", ".prog.tmp-x"]
    for name in keep:
        (tmp_path / name).mkdir()
    target.mkdir()
    with atomic_path(target, directory=True) as tmp:
        (tmp / "new").write_text("y")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["prog", *keep])
    assert _tree(target) == {"new": b"y"}


def test_swap_error_between_the_renames_keeps_the_old_folder(tmp_path, monkeypatch):
    target = tmp_path / "prog"
    target.mkdir()
    (target / "old").write_text("1")
    real, calls = os.replace, []

    def flaky(a, b):
        calls.append((a, b))
        if len(calls) == 2:
            raise OSError(5, "Input/output error")
        return real(a, b)

    monkeypatch.setattr(os, "replace", flaky)
    with pytest.raises(OutputError, match="prog"):
        with atomic_path(target, directory=True) as tmp:
            (tmp / "new").write_text("2")
    monkeypatch.setattr(os, "replace", real)
    assert _tree(target) == {"old": b"1"}
    assert [p.name for p in tmp_path.iterdir()] == ["prog"]


_CRASH = """
import os, sys
from snncompile.atomic import atomic_path
real, n = os.replace, []
def crash(a, b):
    n.append(1)
    if len(n) == 2:
        os._exit(9)          # the process dies between the two renames
    return real(a, b)
os.replace = crash
with atomic_path(sys.argv[1], directory=True) as tmp:
    (tmp / "new").write_text("2")
"""


@pytest.mark.parametrize("then", ["recover", "write"])
def test_crash_between_the_renames_recovers_on_the_next_run(tmp_path, then):
    target = tmp_path / "prog"
    target.mkdir()
    (target / "old").write_text("1")
    res = subprocess.run([sys.executable, "-c", _CRASH, str(target)], timeout=60)
    assert res.returncode == 9
    assert not target.exists()  # the crash left the destination missing ...
    assert any(p.name.startswith(".prog.old-") for p in tmp_path.iterdir())
    if then == "recover":
        recover(target)  # ... and the next run puts the old folder back
        assert _tree(target) == {"old": b"1"}
    else:
        with atomic_path(target, directory=True) as tmp:
            (tmp / "newer").write_text("3")
        assert _tree(target) == {"newer": b"3"}
    assert [p.name for p in tmp_path.iterdir()] == ["prog"]


def test_sigkill_during_lower_leaves_nothing_after_the_next_run(tmp_path):
    big = CFG.replace(d_model=256, n_layer=6)
    model = tmp_path / "model.onnx"
    serde.save(build_graph(big, random_state_dict(big, 0)), model)
    out = tmp_path / "prog"
    cmd = [sys.executable, "-m", "snncompile.cli", "lower", str(model), "-o", str(out)]
    killed = False
    for _ in range(5):
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            if any(n.startswith(".prog.tmp-") for n in os.listdir(tmp_path)):
                os.kill(proc.pid, signal.SIGKILL)
                killed = True
                break
        proc.wait()
        if killed:
            break
    assert killed, "lower never showed its temporary folder"
    assert any(n.startswith(".prog.tmp-") for n in os.listdir(tmp_path))
    res = subprocess.run(cmd, capture_output=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert sorted(os.listdir(tmp_path)) == ["model.onnx", "prog"]
    from snncompile.backends import load_program
    load_program(out)


@pytest.mark.parametrize("args", [
    ["run", "m.onnx", "--prompt", "a", "--temperature", "nan"],
    ["lower", "m.onnx", "-o", "p", "--rate", "nan"],
    ["lava", "m.onnx", "--prompt", "a", "--timeout", "inf"],
    ["evaluate", "ck", "--temperature", "nan"],
    ["energy", "--config", "mamba2-130m", "--fire-rate", "nan"],
    ["distill", "-o", "out", "--lr", "inf"],
])
def test_non_finite_float_options_are_usage_errors(args, tmp_path, monkeypatch):
    """Every float option refuses NaN and infinities before any work (one line, exit 2)."""
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "finite" in lines[0]
    assert list(tmp_path.iterdir()) == []
