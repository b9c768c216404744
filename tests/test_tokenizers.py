"""Tokenizers end to end: a BPE tokenizer trained here with `tokenizers` (no downloads) travels
from a checkpoint folder through `export` (graph metadata) and `lower` (the program's
graph.onnx) to `run` and `simulate`, which find it without a flag; `--tokenizer`, `--token-ids`,
the byte default, and one-line errors (exit 2, both sizes named) for a vocabulary mismatch or a
corrupt tokenizer.json."""

from __future__ import annotations

import hashlib
import json

import pytest
import torch
from click.testing import CliRunner

from snncompile.backends.reference import ReferenceInterpreter
from snncompile.cli import main
from snncompile.data.tokenizer import (ByteTokenizer, HFTokenizer, carried_tokenizer,
                                       load_tokenizer, onnx_graph_metadata, parse_token_ids,
                                       resolve_tokenizer)
from snncompile.errors import ConfigError
from snncompile.ir import serde
from snncompile.models.checkpoint import save_checkpoint
from snncompile.models.config import NeuronConfig, SpikingMambaConfig
from snncompile.models.lm import SpikingMambaLM

TEXTS = ["the spiking model adds one weight column per spike",
         "a neuromorphic core accumulates weights, it never multiplies",
         "tokens are the units the model reads and writes"] * 20


def train_bpe(vocab_size: int = 300):
    """A byte-level BPE tokenizer trained on TEXTS (deterministic)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(TEXTS, trainer)
    return tok


def invoke(args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def tok_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("tok") / "tokenizer.json"
    train_bpe().save(str(path))
    return path


@pytest.fixture(scope="module")
def bpe_model(tmp_path_factory, tok_file):
    """A checkpoint whose vocabulary is the tokenizer's, with its tokenizer.json; exported
    (the tokenizer comes from the folder) and lowered."""
    tok = load_tokenizer(tok_file)
    cfg = SpikingMambaConfig(d_model=32, n_layer=2, vocab_size=tok.vocab_size, d_state=8,
                             headdim=16, spiking=True, neuron=NeuronConfig(theta=0.5))
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("bpe")
    ckpt = root / "ckpt"
    save_checkpoint(SpikingMambaLM(cfg), ckpt)
    (ckpt / "tokenizer.json").write_bytes(tok_file.read_bytes())
    r = invoke(["export", ckpt, "-o", root / "model.onnx", "--json"])
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    assert rep["tokenizer"] == tok.describe()
    r = invoke(["lower", root / "model.onnx", "-o", root / "prog"])
    assert r.exit_code == 0, r.output
    return root, tok


def test_bpe_tokenizer_round_trip_and_identity(tok_file):
    tok = load_tokenizer(tok_file)
    assert isinstance(tok, HFTokenizer) and tok.vocab_size > 256
    text = "the model reads tokens"
    ids = tok.encode(text)
    assert len(ids) < len(text.encode()) and tok.decode(ids) == text
    assert tok.sha256 == hashlib.sha256(tok_file.read_bytes()).hexdigest()
    assert load_tokenizer(tok_file.parent).sha256 == tok.sha256      # a folder holding one
    # ids beyond the tokenizer (padded model rows) read as U+FFFD, as with bytes
    assert tok.decode(ids[:1] + [tok.vocab_size + 3]).endswith("\ufffd")
    assert isinstance(load_tokenizer("bytes"), ByteTokenizer)


def test_export_carries_the_tokenizer_into_model_and_program(bpe_model):
    root, tok = bpe_model
    for where in (root / "model.onnx", root / "prog", root / "prog" / "graph.onnx",
                  root / "ckpt"):
        found = carried_tokenizer(where)
        assert found is not None and found.sha256 == tok.sha256, where
    meta = onnx_graph_metadata(root / "model.onnx")
    assert meta["tokenizer"]["sha256"] == tok.sha256
    # the same metadata the full decoder reads
    assert serde.load(root / "model.onnx").metadata["tokenizer"] == meta["tokenizer"]


def test_run_and_simulate_use_the_carried_tokenizer(bpe_model):
    root, tok = bpe_model
    prompt = "the spiking model"
    ids = tok.encode(prompt)
    r = invoke(["run", root / "prog", "--prompt", prompt, "--tokens", "4", "--device", "cpu",
                "--json"])
    assert r.exit_code == 0, r.output
    run = json.loads(r.stdout)
    assert run["prompt"] == prompt and run["prompt_ids"] == ids
    assert run["tokenizer"] == tok.describe()
    ref = ReferenceInterpreter(serde.load(root / "prog" / "graph.onnx"), device="cpu")
    want = ref.generate(ids, 4).tokens
    assert run["token_ids"] == want
    assert run["continuation"] == tok.decode(ids + want)[len(prompt):]
    r = invoke(["simulate", root / "prog", "--prompt", prompt, "--tokens", "4", "--json"])
    assert r.exit_code == 0, r.output
    sim = json.loads(r.stdout)
    assert sim["token_ids"] == want and sim["continuation"] == run["continuation"]
    assert sim["prompt_ids"] == ids and sim["tokenizer"]["sha256"] == tok.sha256
    # --token-ids: the same ids give the same run, and the prompt text is decoded from them
    r = invoke(["simulate", root / "prog", "--token-ids", ",".join(map(str, ids)),
                "--tokens", "4", "--json"])
    assert r.exit_code == 0, r.output
    by_ids = json.loads(r.stdout)
    assert by_ids["token_ids"] == want and by_ids["prompt"] == prompt
    float_runs = [json.loads(invoke(["run", root / "model.onnx", *how, "--tokens", "4",
                                     "--device", "cpu", "--json"]).stdout)
                  for how in (["--prompt", prompt], ["--token-ids", ",".join(map(str, ids))])]
    assert float_runs[0]["token_ids"] == float_runs[1]["token_ids"]
    assert float_runs[0]["continuation"] == float_runs[1]["continuation"]


def test_explicit_tokenizer_flag_and_bytes_on_a_bpe_model(bpe_model, tok_file):
    root, tok = bpe_model
    r = invoke(["run", root / "model.onnx", "--prompt", "tokens", "--tokenizer", tok_file,
                "--tokens", "2", "--device", "cpu", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["prompt_ids"] == tok.encode("tokens")
    # forcing bytes is allowed (256 <= the model's vocabulary): ids are the UTF-8 bytes
    r = invoke(["run", root / "model.onnx", "--prompt", "ab", "--tokenizer", "bytes",
                "--tokens", "1", "--device", "cpu", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["prompt_ids"] == [97, 98] and doc["tokenizer"]["name"] == "bytes"


@pytest.fixture(scope="module")
def byte_model(tmp_path_factory):
    from snncompile.frontend import build_graph
    from snncompile.frontend.synthetic import random_state_dict

    cfg = SpikingMambaConfig(d_model=32, n_layer=2, vocab_size=256, d_state=8, headdim=16,
                             spiking=True, neuron=NeuronConfig(theta=0.5))
    root = tmp_path_factory.mktemp("bytes")
    serde.save(build_graph(cfg, random_state_dict(cfg, 0)), root / "model.onnx")
    r = invoke(["lower", root / "model.onnx", "-o", root / "prog"])
    assert r.exit_code == 0, r.output
    return root


def test_bytes_stay_the_default_for_a_byte_vocabulary(byte_model):
    r = invoke(["simulate", byte_model / "prog", "--prompt", "hi", "--tokens", "2", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["prompt_ids"] == [104, 105] and doc["tokenizer"] == {
        "name": "bytes", "vocab_size": 256, "sha256": None}
    r2 = invoke(["simulate", byte_model / "prog", "--token-ids", "104,105", "--tokens", "2",
                 "--json"])
    assert r2.exit_code == 0, r2.output
    assert json.loads(r2.stdout)["token_ids"] == doc["token_ids"]


def _one_line_error(r, *fragments):
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.output
    for f in fragments:
        assert f in lines[0], (f, lines[0])


def test_tokenizer_larger_than_the_model_is_refused(byte_model, tok_file):
    n = load_tokenizer(tok_file).vocab_size
    for cmd in (["run", byte_model / "model.onnx", "--device", "cpu"],
                ["simulate", byte_model / "prog"]):
        r = invoke(cmd + ["--prompt", "hi", "--tokenizer", tok_file])
        _one_line_error(r, str(n), "256")


def test_non_byte_vocabulary_without_tokenizer_is_refused(tmp_path):
    from snncompile.frontend import build_graph
    from snncompile.frontend.synthetic import random_state_dict

    cfg = SpikingMambaConfig(d_model=32, n_layer=1, vocab_size=1000, d_state=8, headdim=16,
                             spiking=True)
    serde.save(build_graph(cfg, random_state_dict(cfg, 0)), tmp_path / "m.onnx")
    r = invoke(["run", tmp_path / "m.onnx", "--prompt", "hi", "--device", "cpu"])
    _one_line_error(r, "1000", "256", "--tokenizer")
    r = invoke(["lower", tmp_path / "m.onnx", "-o", tmp_path / "prog"])
    assert r.exit_code == 0, r.output
    r = invoke(["simulate", tmp_path / "prog", "--token-ids", "1,2"])
    _one_line_error(r, "1000", "256")
    # export refuses to carry a tokenizer larger than the model
    cfg2 = SpikingMambaConfig(d_model=32, n_layer=1, vocab_size=100, d_state=8, headdim=16)
    save_checkpoint(SpikingMambaLM(cfg2), tmp_path / "ck")
    (tmp_path / "ck" / "tokenizer.json").write_text(train_bpe().to_str())
    r = invoke(["export", tmp_path / "ck", "-o", tmp_path / "x.onnx"])
    _one_line_error(r, "100", str(train_bpe().get_vocab_size()))
    assert not (tmp_path / "x.onnx").exists()


@pytest.mark.parametrize("content", ["{not json", '{"version": "1.0"}', "", "\xff"])
def test_corrupt_tokenizer_json_exits_2(byte_model, tmp_path, content):
    bad = tmp_path / "tokenizer.json"
    bad.write_bytes(content.encode("latin-1"))
    r = invoke(["run", byte_model / "model.onnx", "--prompt", "hi", "--tokenizer", bad])
    _one_line_error(r, "tokenizer")
    r = invoke(["simulate", byte_model / "prog", "--prompt", "hi", "--tokenizer", bad])
    _one_line_error(r, "tokenizer")
    r = invoke(["run", byte_model / "model.onnx", "--prompt", "hi", "--tokenizer",
                tmp_path / "missing.json"])
    _one_line_error(r, "missing.json")
    r = invoke(["run", byte_model / "model.onnx", "--prompt", "hi", "--tokenizer",
                tmp_path / "empty"])
    _one_line_error(r, "empty")


def test_prompt_and_token_ids_errors(byte_model):
    base = ["run", byte_model / "model.onnx", "--device", "cpu"]
    _one_line_error(invoke(base), "--prompt", "--token-ids")
    _one_line_error(invoke(base + ["--prompt", "a", "--token-ids", "1"]), "exactly one")
    _one_line_error(invoke(base + ["--token-ids", "1,x"]), "'x'")
    _one_line_error(invoke(base + ["--token-ids", "1,256"]), "256")
    _one_line_error(invoke(base + ["--token-ids", ""]), "--token-ids is empty")
    with pytest.raises(ConfigError, match="-1"):
        parse_token_ids("-1")


def test_resolve_tokenizer_api(tok_file, bpe_model):
    root, tok = bpe_model
    assert isinstance(resolve_tokenizer(None, None, 256), ByteTokenizer)
    assert resolve_tokenizer(None, root / "prog", tok.vocab_size).sha256 == tok.sha256
    assert resolve_tokenizer(str(tok_file), None, 50277).sha256 == tok.sha256
    with pytest.raises(ConfigError, match=f"{tok.vocab_size}.*200"):
        resolve_tokenizer(None, root / "model.onnx", 200)
    with pytest.raises(ConfigError, match="50277"):
        resolve_tokenizer(None, None, 50277)


SWEEP = """
[model]
onnx = "{onnx}"

[workload]
prompt = "the spiking model"
tokens = 2
{extra}
[axes]
"spikes.encoding" = ["binary", "graded"]

[energy]
presets = ["accum"]
"""


def test_sweep_uses_the_carried_tokenizer_and_the_flag(bpe_model, tok_file, tmp_path):
    root, tok = bpe_model
    spec = tmp_path / "s.toml"
    spec.write_text(SWEEP.format(onnx=root / "model.onnx", extra=""))
    r = invoke(["sweep", spec, "-o", tmp_path / "out", "--json", "--no-png"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    ids = tok.encode("the spiking model")
    sim = json.loads(invoke(["simulate", root / "prog", "--token-ids",
                             ",".join(map(str, ids)), "--tokens", "2", "--json"]).stdout)
    binary = doc["points"][0]
    assert binary["token_ids"] == sim["token_ids"]
    assert binary["continuation"] == sim["continuation"]
    # a tokenizer larger than the model's vocabulary (named in the spec or by the flag)
    small = tmp_path / "small.json"
    train_bpe(400).save(str(small))
    n = load_tokenizer(small).vocab_size
    assert n > tok.vocab_size
    spec.write_text(SWEEP.format(onnx=root / "model.onnx", extra='tokenizer = "small.json"\n'))
    _one_line_error(invoke(["sweep", spec, "-o", tmp_path / "o2"]), str(n),
                    str(tok.vocab_size))
    spec.write_text(SWEEP.format(onnx=root / "model.onnx", extra=""))
    _one_line_error(invoke(["sweep", spec, "-o", tmp_path / "o3", "--tokenizer", small]),
                    str(n), str(tok.vocab_size))


def test_demo_with_a_bpe_checkpoint(bpe_model, tmp_path):
    root, tok = bpe_model
    r = invoke(["demo", "--checkpoint", root / "ckpt", "-o", tmp_path / "demo", "--prompt",
                "the spiking model", "--tokens", "3", "--preset", "accum", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["prompt_ids"] == tok.encode("the spiking model")
    assert doc["tokenizer"]["sha256"] == tok.sha256
    assert carried_tokenizer(tmp_path / "demo" / "prog").sha256 == tok.sha256
    assert doc["continuation"] == tok.decode(doc["prompt_ids"] + doc["token_ids"])[
        len("the spiking model"):]
    _one_line_error(invoke(["demo", "--checkpoint", root / "ckpt", "-o", tmp_path / "d2",
                            "--tokenizer", root / "nope.json"]), "nope.json")
    assert not (tmp_path / "d2").exists()


def test_export_tokenizer_flag_and_a_corrupt_checkpoint_tokenizer(tok_file, tmp_path):
    tok = load_tokenizer(tok_file)
    cfg = SpikingMambaConfig(d_model=32, n_layer=1, vocab_size=tok.vocab_size + 4, d_state=8,
                             headdim=16)
    torch.manual_seed(1)
    save_checkpoint(SpikingMambaLM(cfg), tmp_path / "ck")
    # no tokenizer in the folder: export carries none, and run refuses the non-byte vocabulary
    r = invoke(["export", tmp_path / "ck", "-o", tmp_path / "plain.onnx", "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["tokenizer"] is None, r.output
    _one_line_error(invoke(["run", tmp_path / "plain.onnx", "--prompt", "a"]),
                    str(tok.vocab_size + 4), "256")
    # --tokenizer carries it (smaller than the padded-out vocabulary is fine)
    r = invoke(["export", tmp_path / "ck", "-o", tmp_path / "m.onnx", "--tokenizer", tok_file])
    assert r.exit_code == 0, r.output
    assert f"tokenizer {tok.name}" in r.output
    assert carried_tokenizer(tmp_path / "m.onnx").sha256 == tok.sha256
    r = invoke(["run", tmp_path / "m.onnx", "--prompt", "the", "--tokens", "1", "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["prompt_ids"] == tok.encode("the")
    # a corrupt tokenizer.json in the checkpoint folder: one line, exit 2, nothing written
    (tmp_path / "ck" / "tokenizer.json").write_text('{"model": ')
    _one_line_error(invoke(["export", tmp_path / "ck", "-o", tmp_path / "bad.onnx"]),
                    "tokenizer.json")
    assert not (tmp_path / "bad.onnx").exists()
