"""The bundled student through the CLI: export -> run (== PyTorch), lower -> simulate (== run on
the lowered program), and an oversized model refused by a small chip with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from snncompile.cli import main
from snncompile.data.tokenizer import decode, encode
from snncompile.models.checkpoint import load_checkpoint

STUDENT = Path(__file__).resolve().parents[1] / "examples" / "models" / "student"
PROMPT = "def read(path):\n    \"\"\"Return the"
N = 12


def invoke(*args: str):
    res = CliRunner().invoke(main, list(args))
    assert res.exit_code == 0, res.output
    return res


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bundled") / "model.onnx"
    invoke("export", str(STUDENT), "-o", str(out))
    return out


def pytorch_greedy(model, ids: list[int], n: int) -> list[int]:
    """Greedy decoding with the PyTorch model's own recurrent step (float32, as trained)."""
    model.eval()
    state = model.allocate_state(1)
    with torch.no_grad():
        for t in ids:
            logits = model.step(torch.tensor([t]), state)
        new = []
        for _ in range(n):
            nxt = int(torch.argmax(logits[0, : model.config.vocab_size]))
            new.append(nxt)
            logits = model.step(torch.tensor([nxt]), state)
    return new


def test_run_reproduces_pytorch_greedy_continuation(exported):
    model = load_checkpoint(STUDENT)
    expected = pytorch_greedy(model, encode(PROMPT), N)
    res = invoke("run", str(exported), "--prompt", PROMPT, "--tokens", str(N), "--json")
    assert json.loads(res.stdout)["token_ids"] == expected


def test_lower_simulate_equals_run_on_the_program(exported, tmp_path):
    prog = tmp_path / "prog"
    invoke("lower", str(exported), "--backend", "accum", "--hw", "default", "-o", str(prog))
    sim_json = tmp_path / "sim.json"
    sim = invoke("simulate", str(prog), "--prompt", PROMPT, "--tokens", str(N),
                 "--json", str(sim_json))
    ran = json.loads(invoke("run", str(prog), "--prompt", PROMPT, "--tokens", str(N),
                            "--json").stdout)
    doc = json.loads(sim_json.read_text())
    assert doc["continuation"] == ran["continuation"] == decode(ran["token_ids"])
    assert doc["token_ids"] == ran["token_ids"]
    assert ran["continuation"] in sim.stdout
    assert doc["total"]["cycles"] > 0 and doc["total"]["acs"] > 0 and doc["total"]["noc_hops"] > 0
    assert 0 <= doc["total"]["noc_hops_ns"] <= doc["total"]["noc_hops"]
    assert doc["tokens"] == len(encode(PROMPT)) + N - 1


def test_bundled_model_does_not_fit_the_small_chip(exported, tmp_path):
    res = CliRunner().invoke(main, ["lower", str(exported), "--hw", "small", "-o",
                                    str(tmp_path / "p")])
    assert res.exit_code == 2
    assert "does not fit" in res.output or "needs" in res.output
    assert not (tmp_path / "p").exists()
