"""The bundled byte-level corpus, its train/validation split and batch sampling.

Text: docstrings of the Python 3.11.7 standard library plus its reference topics (PSF License
v2; see CORPUS.md and `build_corpus.py`), stored as `stdlib_docs.txt.gz`. Tokens are the UTF-8
bytes (vocabulary 256, `snncompile.data.tokenizer`).

Split (deterministic, no randomness): the byte stream is cut into consecutive blocks of
`BLOCK = 8192` bytes; block i belongs to validation when `i % VAL_EVERY == VAL_EVERY - 1`
(every 20th block, about 5%), else to training; each split is the concatenation of its blocks
in order. Blocks keep local context intact while spreading validation over the whole corpus.

Batches: `batch_at(data, step, batch, seq_len, seed)` draws `batch` random windows of
`seq_len + 1` bytes with a generator seeded from (seed, step) alone, so the batch of a step
does not depend on history: a resumed run sees exactly the batches of an uninterrupted one.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from snncompile.errors import ConfigError, SnnCompileError

CORPUS_FILE = Path(__file__).with_name("stdlib_docs.txt.gz")
# sha256 of the decompressed UTF-8 text (see CORPUS.md)
CORPUS_SHA256 = "a097b2d4f7dc9e5f91459007bc03e92386c81862f47cada041f920a6563b2056"
CORPUS_BYTES = 2278195
BLOCK = 8192
VAL_EVERY = 20


@dataclass(frozen=True)
class CorpusSplit:
    """Token arrays (uint8 byte values) of the two splits."""

    train: np.ndarray
    val: np.ndarray

    def __repr__(self) -> str:
        return f"CorpusSplit(train={self.train.size} bytes, val={self.val.size} bytes)"


@functools.lru_cache(maxsize=4)
def load_bytes(path: str | None = None) -> bytes:
    """The corpus as raw UTF-8 bytes: the bundled file (verified by sha256) or `path`
    (a .txt or .gz text file, not verified)."""
    if path is None:
        raw = gzip.decompress(CORPUS_FILE.read_bytes())
        digest = hashlib.sha256(raw).hexdigest()
        if digest != CORPUS_SHA256:
            raise SnnCompileError(
                f"corpus {CORPUS_FILE.name}: sha256 {digest[:12]}... does not match "
                f"{CORPUS_SHA256[:12]}...; rebuild with `python -m snncompile.data.build_corpus`")
        return raw
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"corpus: no file {p}")
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"corpus {p}: unreadable ({exc.strerror or exc})") from None
    if p.suffix == ".gz":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise ConfigError(f"corpus {p}: not a valid gzip file ({exc})") from None
    return data


def load_text(path: str | None = None) -> str:
    """The corpus as text (see `load_bytes`)."""
    return load_bytes(path).decode("utf-8", errors="replace")


def split_bytes(raw: bytes, block: int = BLOCK, val_every: int = VAL_EVERY) -> CorpusSplit:
    """Deterministic block split of `raw` (module docstring); both splits are non-empty."""
    if block < 1 or val_every < 2:
        raise ConfigError(f"split: need block >= 1 and val_every >= 2, got {block}, {val_every}")
    arr = np.frombuffer(raw, dtype=np.uint8)
    n_blocks = -(-arr.size // block)
    if n_blocks < val_every:
        raise ConfigError(
            f"corpus has {arr.size} bytes: fewer than {val_every} blocks of {block} bytes, "
            "too small to split")
    is_val = (np.arange(n_blocks) % val_every) == val_every - 1
    blocks = [arr[i * block:(i + 1) * block] for i in range(n_blocks)]
    val = np.concatenate([b for b, v in zip(blocks, is_val) if v])
    train = np.concatenate([b for b, v in zip(blocks, is_val) if not v])
    return CorpusSplit(train=train, val=val)


@functools.lru_cache(maxsize=4)
def load_split(path: str | None = None) -> CorpusSplit:
    """Train/validation split of the bundled corpus (or of the text file `path`)."""
    return split_bytes(load_bytes(path))


def batch_at(data: np.ndarray, step: int, batch: int, seq_len: int,
             seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and next-byte targets, both (batch, seq_len) int64, for training step `step`.

    Window starts are uniform in [0, len(data) - seq_len - 1], drawn by a torch generator
    seeded with a hash of (seed, step) (no global RNG is touched).
    """
    if seq_len < 1 or batch < 1:
        raise ConfigError(f"batch_at: need batch >= 1 and seq_len >= 1, got {batch}, {seq_len}")
    hi = data.size - seq_len - 1
    if hi < 0:
        raise ConfigError(f"batch_at: data has {data.size} bytes, too short for seq_len={seq_len}")
    gen = torch.Generator().manual_seed(_mix(seed, step))
    starts = torch.randint(0, hi + 1, (batch,), generator=gen).numpy()
    win = np.stack([data[s:s + seq_len + 1] for s in starts]).astype(np.int64)
    t = torch.from_numpy(win)
    return t[:, :-1].contiguous(), t[:, 1:].contiguous()


def eval_windows(data: np.ndarray, seq_len: int, max_bytes: int | None = None) -> torch.Tensor:
    """The first `max_bytes` (default all) bytes of `data` as non-overlapping windows of
    `seq_len + 1` bytes that share their boundary byte (so every byte after the first of each
    window is predicted exactly once): (n_windows, seq_len + 1) int64; a short tail is dropped."""
    if seq_len < 1:
        raise ConfigError(f"eval: seq_len must be >= 1, got {seq_len}")
    n = data.size if max_bytes is None else min(data.size, max_bytes)
    n_win = (n - 1) // seq_len
    if n_win < 1:
        raise ConfigError(f"eval: {n} bytes are too few for seq_len={seq_len}")
    idx = np.arange(n_win)[:, None] * seq_len + np.arange(seq_len + 1)[None, :]
    return torch.from_numpy(data[idx].astype(np.int64))


def _mix(seed: int, step: int) -> int:
    """A 63-bit generator seed from (seed, step) (splitmix64 of a combined word)."""
    z = (int(seed) * 0x9E3779B97F4A7C15 + int(step) + 1) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return (z ^ (z >> 31)) & 0x7FFFFFFFFFFFFFFF
