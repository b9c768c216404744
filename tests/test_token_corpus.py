"""Pre-tokenized corpora: `snncompile data tokenize` is deterministic, resumes after an
interruption (in process, and after a real SIGKILL) with identical bytes, refuses other
inputs in the same folder; the memory-mapped block split reads what the token file holds."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from snncompile.cli import main
from snncompile.data import token_corpus as tc
from snncompile.data.corpus import CORPUS_FILE, batch_at, eval_windows, split_bytes
from snncompile.data.tokenizer import ByteTokenizer, load_tokenizer
from snncompile.errors import ConfigError

sys.path.insert(0, str(Path(__file__).parent))
from test_tokenizers import train_bpe  # noqa: E402

TEXT = gzip.decompress(CORPUS_FILE.read_bytes()).decode("utf-8")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("src")
    train_bpe().save(str(d / "tokenizer.json"))
    (d / "a.txt").write_text(TEXT[:200_000], encoding="utf-8")
    with gzip.open(d / "b.txt.gz", "wt", encoding="utf-8") as f:
        f.write(TEXT[200_000:260_000])
    (d / "c.jsonl").write_text(
        json.dumps({"text": "first document"}) + "\n\n" + json.dumps("second") + "\n"
        + json.dumps({"text": TEXT[300_000:320_000]}) + "\n", encoding="utf-8")
    return d


def _sources(d):
    return [str(d / "a.txt"), str(d / "b.txt.gz"), str(d / "c.jsonl")]


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_tokenize_cli_is_deterministic_and_matches_the_tokenizer(inputs, tmp_path):
    args = ["data", "tokenize", *_sources(inputs), "--tokenizer", str(inputs / "tokenizer.json"),
            "--eos", "<|endoftext|>", "--chunk-chars", "8192"]
    r1 = CliRunner().invoke(main, args + ["-o", str(tmp_path / "c1"), "--json"])
    assert r1.exit_code == 0, r1.output
    rep = json.loads(r1.stdout)
    assert rep["format"] == "snncompile-tokenize/1" and not rep["up_to_date"]
    r2 = CliRunner().invoke(main, args + ["-o", str(tmp_path / "c2")])
    assert r2.exit_code == 0, r2.output
    assert _files(tmp_path / "c1") == _files(tmp_path / "c2")
    assert set(_files(tmp_path / "c1")) == {"corpus.json", "tokens.bin", "tokenizer.json"}
    corpus = tc.open_corpus(tmp_path / "c1")
    tok = load_tokenizer(inputs / "tokenizer.json")
    eos = tok.token_to_id("<|endoftext|>")
    h = corpus.header
    assert h["tokenizer"]["sha256"] == tok.sha256 and h["dtype"] == "uint16"
    assert h["documents"] == 5 and h["eos"] == eos
    assert h["text_bytes"] == len((TEXT[:260_000] + "first documentsecond"
                                   + TEXT[300_000:320_000]).encode())
    ids = np.asarray(corpus.tokens)
    assert isinstance(corpus.tokens, np.memmap) and ids.size == h["tokens"]
    # the tokens are the tokenizer's, document by document, each followed by eos
    docs = np.split(ids, np.flatnonzero(ids == eos) + 1)[:-1]
    assert len(docs) == 5
    assert tok.decode(docs[0][:-1].tolist()) == TEXT[:200_000]
    assert tok.decode(docs[3][:-1].tolist()) == "second"
    assert docs[3][:-1].tolist() == tok.encode("second")
    # rerun on the finished folder: nothing to do
    r3 = CliRunner().invoke(main, args + ["-o", str(tmp_path / "c1"), "--json"])
    assert r3.exit_code == 0 and json.loads(r3.stdout)["up_to_date"]
    # other inputs in the same folder are refused
    r4 = CliRunner().invoke(main, args[:-2] + ["--chunk-chars", "4096", "-o",
                                               str(tmp_path / "c1")])
    assert r4.exit_code == 2 and "other inputs" in r4.output


class Stop(Exception):
    pass


def test_resume_after_interruption_gives_identical_bytes(inputs, tmp_path):
    tok = load_tokenizer(inputs / "tokenizer.json")
    srcs = _sources(inputs)
    whole = tc.tokenize_corpus(srcs, tok, tmp_path / "whole", chunk_chars=2048)
    assert whole.resumed_from_units == 0
    calls = []

    def stop_at_third(units, tokens):
        calls.append(units)
        if len(calls) == 3:
            raise Stop

    with pytest.raises(Stop):
        tc.tokenize_corpus(srcs, tok, tmp_path / "part", chunk_chars=2048,
                           on_units=stop_at_third)
    assert not (tmp_path / "part" / "corpus.json").exists()
    with pytest.raises(ConfigError, match="has not finished"):
        tc.open_corpus(tmp_path / "part")
    # tokens written after the last checkpoint (a kill mid-batch) are dropped on resume
    with open(tmp_path / "part" / tc.PARTIAL, "ab") as f:
        f.write(b"\x07\x00" * 1000)
    again = tc.tokenize_corpus(srcs, tok, tmp_path / "part", chunk_chars=2048)
    assert again.resumed_from_units == calls[-1] > 0
    assert _files(tmp_path / "part") == _files(tmp_path / "whole")
    # a partial folder of other inputs is refused
    with pytest.raises(Stop):
        tc.tokenize_corpus(srcs, tok, tmp_path / "p2", chunk_chars=2048,
                           on_units=lambda u, t: (_ for _ in ()).throw(Stop()))
    with pytest.raises(ConfigError, match="partial corpus of other inputs"):
        tc.tokenize_corpus(srcs[:1], tok, tmp_path / "p2", chunk_chars=2048)


def test_sigkill_then_rerun_gives_identical_bytes(inputs, tmp_path):
    big = tmp_path / "big.txt"
    big.write_text(TEXT[:600_000], encoding="utf-8")
    tokf = str(inputs / "tokenizer.json")
    cmd = [sys.executable, "-m", "snncompile.cli", "data", "tokenize", str(big), "--tokenizer",
           tokf, "--chunk-chars", "1024"]
    ref = subprocess.run(cmd + ["-o", str(tmp_path / "ref")], capture_output=True, text=True)
    assert ref.returncode == 0, ref.stderr
    out = tmp_path / "killed"
    proc = subprocess.Popen(cmd + ["-o", str(out)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (out / tc.PROGRESS).exists() and time.monotonic() < deadline:
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "corpus.json").exists(), "finished before the kill: nothing resumed"
    r = subprocess.run(cmd + ["-o", str(out), "--json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["resumed_from_units"] > 0
    assert _files(out) == _files(tmp_path / "ref")


def test_split_views_read_the_block_split_without_copying(inputs, tmp_path):
    tok = ByteTokenizer()
    tc.tokenize_corpus([str(inputs / "a.txt")], tok, tmp_path / "bytes", chunk_chars=4096)
    corpus = tc.open_corpus(tmp_path / "bytes")
    split = tc.split_tokens(corpus.tokens, None, block=1000, val_every=5)
    want = split_bytes(TEXT[:200_000].encode(), block=1000, val_every=5)
    assert split.train.size == want.train.size and split.val.size == want.val.size
    assert np.array_equal(split.train[:], want.train)
    assert np.array_equal(split.val[:], want.val)
    assert np.array_equal(np.asarray(split.val), want.val)
    x, y = batch_at(split.train, 3, 4, 64, seed=1)
    x2, y2 = batch_at(want.train, 3, 4, 64, seed=1)
    assert x.equal(x2) and y.equal(y2)
    assert eval_windows(split.val, 32, 2000).equal(eval_windows(want.val, 32, 2000))
    with pytest.raises(IndexError):
        split.val[split.val.size]


def test_token_bytes_count_the_text(inputs):
    tok = load_tokenizer(inputs / "tokenizer.json")
    text = TEXT[5000:9000] + " \u00e9t\u00e9 \U0001f600"
    ids = tok.encode(text)
    assert int(tok.token_bytes()[ids].sum()) == len(text.encode("utf-8"))


def test_bad_inputs_are_one_line_errors(inputs, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{"text": 5}\n')
    r = CliRunner().invoke(main, ["data", "tokenize", str(bad), "-o", str(tmp_path / "o")])
    assert r.exit_code == 2 and "line 2" in r.output
    r = CliRunner().invoke(main, ["data", "tokenize", str(inputs / "a.txt"), "--tokenizer",
                                  str(tmp_path / "none.json"), "-o", str(tmp_path / "o2")])
    assert r.exit_code == 2 and "none.json" in r.output
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    r = CliRunner().invoke(main, ["data", "tokenize", str(inputs / "a.txt"), "-o",
                                  str(tmp_path / "busy")])
    assert r.exit_code == 2 and "other files" in r.output
    assert sorted(p.name for p in (tmp_path / "busy").iterdir()) == ["notes.txt"]
    r = CliRunner().invoke(main, ["data", "tokenize", str(inputs / "a.txt"), "--eos", "<nope>",
                                  "--tokenizer", str(inputs / "tokenizer.json"),
                                  "-o", str(tmp_path / "o3")])
    assert r.exit_code == 2 and "<nope>" in r.output


TINY = ["--d-model", "32", "--n-layer", "1", "--d-state", "8", "--headdim", "16",
        "--chunk-size", "16", "--batch", "4", "--seq-len", "32", "--warmup", "1",
        "--eval-bytes", "2048", "--threads", "1", "--no-progress"]


@pytest.mark.usefixtures("restore_torch_threads")
def test_distill_on_a_token_corpus_then_export_and_run(inputs, tmp_path):
    """distill reads a pre-tokenized corpus: the models' vocabulary is the tokenizer's, bpb
    divides by the bytes of text the predicted tokens stand for, perplexity is per token; the
    student folder carries the tokenizer into export and run."""
    src = tmp_path / "text.txt"
    src.write_text(TEXT[:400_000], encoding="utf-8")
    tokf = inputs / "tokenizer.json"
    r = CliRunner().invoke(main, ["data", "tokenize", str(src), "--tokenizer", str(tokf),
                                  "-o", str(tmp_path / "corpus")])
    assert r.exit_code == 0, r.output
    tok = load_tokenizer(tokf)
    out = tmp_path / "d"
    r = CliRunner().invoke(main, ["distill", "--stage", "both", "-o", str(out), "--steps", "2",
                                  "--student-steps", "2", "--corpus", str(tmp_path / "corpus"),
                                  "--json", *TINY])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    from snncompile.models.checkpoint import load_checkpoint
    for stage in ("teacher", "student"):
        assert load_checkpoint(out / stage).config.vocab_size == tok.vocab_size
        assert load_tokenizer(out / stage).sha256 == tok.sha256
        assert doc[stage]["tokenizer"]["sha256"] == tok.sha256
    val = doc["student"]["val"]
    split, _ = tc.load_token_split(tmp_path / "corpus")
    windows = eval_windows(split.val, 32, 2048)
    want_bytes = int(tok.token_bytes()[windows[:, 1:].numpy()].sum())
    assert val["n_tokens"] == windows[:, 1:].numel() < val["n_bytes"] == want_bytes
    import math
    nats = val["bpb"] * math.log(2) * val["n_bytes"] / val["n_tokens"]
    assert val["perplexity"] == pytest.approx(math.exp(nats), rel=1e-9)
    # the student's tokenizer travels: export, then run finds it without a flag
    r = CliRunner().invoke(main, ["export", str(out / "student"), "-o", str(tmp_path / "m.onnx")])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["run", str(tmp_path / "m.onnx"), "--prompt", "the model",
                                  "--tokens", "2", "--device", "cpu", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["prompt_ids"] == tok.encode("the model")
    # a tokenizer larger than a byte teacher's vocabulary is refused, both sizes named
    r = CliRunner().invoke(main, ["distill", "--stage", "teacher", "-o", str(tmp_path / "b"),
                                  "--steps", "1", *TINY])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["distill", "--stage", "student", "--teacher",
                                  str(tmp_path / "b" / "teacher"), "-o", str(tmp_path / "s"),
                                  "--corpus", str(tmp_path / "corpus"), "--steps", "1", *TINY])
    assert r.exit_code == 2 and str(tok.vocab_size) in r.output and "256" in r.output, r.output


@pytest.mark.usefixtures("restore_torch_threads")
def test_distill_tokenizes_a_text_corpus_in_memory(inputs, tmp_path):
    src = tmp_path / "text.txt"
    src.write_text(TEXT[:400_000], encoding="utf-8")
    tokf = inputs / "tokenizer.json"
    data, tok = tc.training_data(src, str(tokf))
    assert tok.sha256 == load_tokenizer(tokf).sha256
    built = tc.tokenize_text(TEXT[:400_000], tok)
    assert data.train.size + data.val.size == built.size
    assert data.train.token_bytes is not None
    bdata, btok = tc.training_data(src, None)
    assert isinstance(btok, ByteTokenizer) and bdata.train.dtype == np.uint8
    r = CliRunner().invoke(main, ["distill", "--stage", "teacher", "-o", str(tmp_path / "o"),
                                  "--steps", "1", "--corpus", str(src), "--tokenizer",
                                  str(tokf), "--json", *TINY])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["teacher"]["tokenizer"]["vocab_size"] == tok.vocab_size
