"""The bundled corpus: provenance, integrity, the deterministic split and batch sampling."""

from __future__ import annotations

import gzip
import hashlib
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from snncompile.data import build_corpus, corpus
from snncompile.data.tokenizer import VOCAB_SIZE, decode, encode
from snncompile.errors import ConfigError, SnnCompileError

DATA = Path(corpus.__file__).parent


def test_corpus_file_is_real_text_of_stated_size_and_hash():
    raw = gzip.decompress(corpus.CORPUS_FILE.read_bytes())
    assert len(raw) == corpus.CORPUS_BYTES >= 2_000_000
    assert hashlib.sha256(raw).hexdigest() == corpus.CORPUS_SHA256
    text = raw.decode("utf-8")  # valid UTF-8 throughout
    assert "Return" in text and "\f" in text  # docstrings, separated by form feeds
    assert len(text.split(build_corpus.DOC_SEPARATOR)) > 8000


def test_corpus_md_states_size_hash_and_licence():
    md = (DATA / "CORPUS.md").read_text()
    assert corpus.CORPUS_SHA256 in md
    assert f"{corpus.CORPUS_BYTES:,}" in md or str(corpus.CORPUS_BYTES) in md
    assert "PSF" in md and "build_corpus" in md


def test_load_bytes_rejects_a_tampered_file(monkeypatch, tmp_path):
    bad = tmp_path / "x.txt.gz"
    bad.write_bytes(gzip.compress(b"not the corpus"))
    monkeypatch.setattr(corpus, "CORPUS_FILE", bad)
    corpus.load_bytes.cache_clear()
    try:
        with pytest.raises(SnnCompileError, match="sha256"):
            corpus.load_bytes()
    finally:
        corpus.load_bytes.cache_clear()


def test_custom_corpus_paths(tmp_path):
    txt = tmp_path / "t.txt"
    txt.write_text("abc" * 100_000)
    assert corpus.load_bytes(str(txt)) == b"abc" * 100_000
    gz = tmp_path / "t.txt.gz"
    gz.write_bytes(gzip.compress(b"xyz" * 100_000))
    assert corpus.load_split(str(gz)).train.size > 0
    with pytest.raises(ConfigError, match="no file"):
        corpus.load_bytes(str(tmp_path / "missing.txt"))
    (tmp_path / "bad.gz").write_bytes(b"not gzip")
    with pytest.raises(ConfigError, match="gzip"):
        corpus.load_bytes(str(tmp_path / "bad.gz"))
    blob = gzip.compress(b"hello world " * 100)
    (tmp_path / "corrupt.gz").write_bytes(blob[:20] + b"x" * 12 + blob[32:])  # bad deflate data
    with pytest.raises(ConfigError, match="gzip"):
        corpus.load_bytes(str(tmp_path / "corrupt.gz"))
    small = tmp_path / "small.txt"
    small.write_text("tiny")
    with pytest.raises(ConfigError, match="too small"):
        corpus.load_split(str(small))


def test_split_is_a_deterministic_block_partition():
    raw = corpus.load_bytes()
    split = corpus.load_split()
    assert split.train.size + split.val.size == len(raw)
    assert 0.04 < split.val.size / len(raw) < 0.06
    # rebuild by hand: every 20th block of 8192 bytes is validation
    blocks = [raw[i:i + corpus.BLOCK] for i in range(0, len(raw), corpus.BLOCK)]
    val = b"".join(b for i, b in enumerate(blocks) if i % corpus.VAL_EVERY == corpus.VAL_EVERY - 1)
    train = b"".join(b for i, b in enumerate(blocks) if i % corpus.VAL_EVERY != corpus.VAL_EVERY - 1)
    assert split.val.tobytes() == val and split.train.tobytes() == train
    again = corpus.split_bytes(raw)
    assert np.array_equal(again.val, split.val)
    assert int(split.train.max()) < VOCAB_SIZE


def test_batch_at_depends_only_on_seed_and_step():
    data = corpus.load_split().train
    x1, y1 = corpus.batch_at(data, 7, 4, 32, seed=3)
    x2, y2 = corpus.batch_at(data, 7, 4, 32, seed=3)
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert x1.shape == (4, 32) and x1.dtype == torch.int64
    assert torch.equal(x1[:, 1:], y1[:, :-1])  # targets are the inputs shifted by one
    x3, _ = corpus.batch_at(data, 8, 4, 32, seed=3)
    x4, _ = corpus.batch_at(data, 7, 4, 32, seed=4)
    assert not torch.equal(x1, x3) and not torch.equal(x1, x4)
    state = torch.get_rng_state()
    corpus.batch_at(data, 1, 2, 8, seed=0)
    assert torch.equal(state, torch.get_rng_state())  # global RNG untouched
    with pytest.raises(ConfigError, match="seq_len"):
        corpus.batch_at(data[:10], 0, 1, 32, seed=0)
    x, y = corpus.batch_at(data[:33], 0, 2, 32, seed=0)  # exactly one window fits
    assert torch.equal(x[0], torch.from_numpy(data[:32].astype(np.int64)))
    assert torch.equal(y[1], torch.from_numpy(data[1:33].astype(np.int64)))


def test_eval_windows_predict_every_byte_once():
    data = np.arange(1000, dtype=np.int64).astype(np.uint8)
    w = corpus.eval_windows(data, 10)
    assert w.shape == (99, 11)
    predicted = w[:, 1:].reshape(-1).numpy()
    assert np.array_equal(predicted, data[1:991])
    assert corpus.eval_windows(data, 10, max_bytes=101).shape == (10, 11)
    with pytest.raises(ConfigError, match="seq_len"):
        corpus.eval_windows(data, 0)


def test_tokenizer_round_trip_on_corpus_text():
    text = corpus.load_text()[:5000]
    assert decode(encode(text)) == text


@pytest.mark.slow  # parses 732 stdlib files: ~4 s on an idle core
@pytest.mark.skipif(sys.version_info[:3] != (3, 11, 7)
                    or not (build_corpus.default_stdlib() / "pydoc_data" / "topics.py").is_file(),
                    reason="the committed corpus is built from the Python 3.11.7 standard library")
def test_build_script_regenerates_the_committed_text():
    text, counts = build_corpus.build_text(build_corpus.default_stdlib())
    assert hashlib.sha256(text.encode()).hexdigest() == corpus.CORPUS_SHA256
    assert counts["docstrings"] > 8000 and counts["topics"] > 50
    blob = build_corpus.gzip_bytes(text)
    assert gzip.decompress(blob) == text.encode()
    assert blob[4:8] == b"\0\0\0\0"  # mtime 0: the gzip bytes depend only on the text
    md = (DATA / "CORPUS.md").read_text()
    for key in ("files", "docstrings", "topics"):
        assert re.search(rf"{counts[key]:,}|{counts[key]}", md), key
