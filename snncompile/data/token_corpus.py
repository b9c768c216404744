"""Pre-tokenized corpora: a flat token file, memory-mapped, with a small JSON header.

A corpus folder holds
  tokens.bin      the token ids, one after another, little-endian uint16 when the tokenizer's
                  vocabulary fits (<= 65536 ids) else uint32; no framing
  corpus.json     the header: {"format": "snncompile-corpus/1", "dtype": "uint16"|"uint32",
                  "tokens": N, "documents": D, "text_bytes": bytes of UTF-8 text tokenized,
                  "tokens_sha256": sha256 of tokens.bin,
                  "tokenizer": {"name", "vocab_size", "sha256"} (sha256 of its tokenizer.json;
                  null for bytes), "eos": id appended after each document or null,
                  "chunk_chars": C, "sources": [{"path", "bytes", "kind": "text"|"jsonl"}]}
  tokenizer.json  the tokenizer's own file (absent for bytes), so the folder stands alone.
The header is written last: a folder without it is not a corpus (yet).

Sources, in the order given: a `.jsonl` (or `.jsonl.gz`) file holds one document per line, a
JSON object with a "text" string (or a bare JSON string); blank lines are skipped. Any other
file (`.gz` decompressed) is UTF-8 text (invalid bytes read as U+FFFD) and one document. A
document is tokenized in units: consecutive whole lines, a unit ending at the first line end
at or after `chunk_chars` characters (1 MiB by default), each unit encoded on its own and the
ids concatenated. Units depend only on the text, so the tokens are a deterministic function
of (sources, tokenizer, eos, chunk_chars).

Resumable (`tokenize_corpus`): while it runs the folder holds `tokens.bin.partial` and
`progress.json` (the inputs' fingerprint and how many units and tokens are done). After each
batch of units the tokens are flushed and fsynced, then progress.json is replaced atomically;
a rerun after a kill truncates the partial file to the recorded token count and continues
with the next unit, so it ends with the same bytes as an uninterrupted run. A rerun on a
finished folder of the same inputs does nothing; other inputs are refused.

Splits (`load_token_split`): the block split of `snncompile.data.corpus` over tokens (blocks
of BLOCK tokens, every VAL_EVERY-th to validation), as read-only views of the memory map
(`SplitView`): nothing is copied but the windows a batch reads.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import numpy as np

from snncompile.atomic import atomic_path, check_outputs, write_text_atomic
from snncompile.data.tokenizer import (BYTES_NAME, TOKENIZER_FILE, ByteTokenizer, HFTokenizer,
                                       Tokenizer, token_byte_lengths)
from snncompile.errors import ConfigError

if TYPE_CHECKING:  # snncompile.data.corpus imports torch: only loaded where a split is made
    from snncompile.data.corpus import CorpusSplit

FORMAT = "snncompile-corpus/1"
HEADER = "corpus.json"
TOKENS = "tokens.bin"
PARTIAL = "tokens.bin.partial"
PROGRESS = "progress.json"
CHUNK_CHARS = 1 << 20
_BATCH_UNITS = 16          # units encoded together (and checkpointed together)

__all__ = ["FORMAT", "SplitView", "TokenCorpus", "dtype_for", "is_token_corpus",
           "load_token_split", "open_corpus", "split_tokens", "tokenize_corpus",
           "tokenize_text", "training_data", "write_tokenizer"]


def dtype_for(vocab_size: int) -> np.dtype:
    """uint16 for vocabularies of at most 65536 ids, else uint32 (little-endian)."""
    return np.dtype("<u2") if vocab_size <= 1 << 16 else np.dtype("<u4")


def is_token_corpus(path: str | os.PathLike) -> bool:
    """Whether `path` is a corpus folder (holds corpus.json)."""
    p = Path(path)
    return p.is_dir() and (p / HEADER).is_file()


# -- reading ---------------------------------------------------------------------------------
@dataclass
class TokenCorpus:
    """An opened corpus folder: its header, its tokens (memory-mapped) and its tokenizer."""

    folder: Path
    header: dict[str, Any]
    tokens: np.ndarray
    tokenizer: Tokenizer

    def __repr__(self) -> str:
        return (f"TokenCorpus({str(self.folder)!r}, {self.tokens.size} tokens, "
                f"tokenizer={self.tokenizer.name!r})")


def open_corpus(folder: str | os.PathLike) -> TokenCorpus:
    """Open a corpus folder (ConfigError naming what is missing or inconsistent)."""
    folder = Path(folder)
    hp = folder / HEADER
    if not hp.is_file():
        raise ConfigError(f"corpus {str(folder)!r}: no {HEADER} (not a tokenized corpus, or "
                          "`snncompile data tokenize` has not finished: rerun it)")
    try:
        header = json.loads(hp.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"corpus {str(hp)!r}: unreadable header ({exc})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ConfigError(f"corpus {str(hp)!r}: format is not {FORMAT!r}")
    tinfo = header.get("tokenizer") or {}
    if tinfo.get("name") == BYTES_NAME and tinfo.get("sha256") is None:
        tok: Tokenizer = ByteTokenizer()
    else:
        tok = HFTokenizer.from_file(folder / TOKENIZER_FILE)
        if tok.sha256 != tinfo.get("sha256"):
            raise ConfigError(f"corpus {str(folder)!r}: {TOKENIZER_FILE} has sha256 "
                              f"{tok.sha256[:12]}..., the header names "
                              f"{str(tinfo.get('sha256'))[:12]}...")
    dtype = np.dtype("<u2") if header.get("dtype") == "uint16" else np.dtype("<u4")
    if header.get("dtype") not in ("uint16", "uint32"):
        raise ConfigError(f"corpus {str(hp)!r}: dtype must be uint16 or uint32")
    n = header.get("tokens")
    tp = folder / TOKENS
    try:
        size = tp.stat().st_size
    except OSError:
        raise ConfigError(f"corpus {str(folder)!r}: no {TOKENS}") from None
    if not isinstance(n, int) or size != n * dtype.itemsize:
        raise ConfigError(f"corpus {str(tp)!r}: {size} bytes, the header says {n} tokens of "
                          f"{dtype.itemsize} bytes")
    tokens = (np.memmap(tp, dtype=dtype, mode="r", shape=(n,)) if n
              else np.zeros(0, dtype=dtype))
    return TokenCorpus(folder, header, tokens, tok)


class SplitView:
    """One split of a token array under the block split, read through index arithmetic
    (no copy): logical token i of the split is physical token
    block(i // block) * block + i % block, where block(k) is the k-th block of the split."""

    def __init__(self, data: np.ndarray, block: int, val_every: int, val: bool,
                 token_bytes: np.ndarray | None = None) -> None:
        self._data, self._block, self._every, self._val = data, block, val_every, val
        self.token_bytes = token_bytes
        n_blocks = -(-data.size // block)
        is_val = (np.arange(n_blocks) % val_every) == val_every - 1
        self._blocks = np.flatnonzero(is_val if val else ~is_val)
        sizes = np.minimum(block, data.size - self._blocks * block)
        self.size = int(sizes.sum())
        self.dtype = data.dtype
        self.shape = (self.size,)
        self.ndim = 1

    def __len__(self) -> int:
        return self.size

    def _physical(self, idx: np.ndarray) -> np.ndarray:
        idx = np.asarray(idx, dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= self.size):
            raise IndexError(f"token index out of range 0..{self.size - 1}")
        return self._blocks[idx // self._block] * self._block + idx % self._block

    def __getitem__(self, key):
        if isinstance(key, slice):
            start, stop, step = key.indices(self.size)
            return self._data[self._physical(np.arange(start, stop, step))]
        if isinstance(key, (int, np.integer)):
            k = int(key) + (self.size if key < 0 else 0)
            return self._data[int(self._physical(np.array(k)))]
        return self._data[self._physical(key)]

    def __array__(self, dtype=None, copy=None):
        out = self[:]
        return out if dtype is None else out.astype(dtype)

    def max(self) -> int:
        return int(np.asarray(self._data).max()) if self.size else 0

    def __repr__(self) -> str:
        return f"SplitView({'val' if self._val else 'train'}, {self.size} tokens)"


def split_tokens(tokens: np.ndarray, token_bytes: np.ndarray | None = None,
                 block: int | None = None, val_every: int | None = None) -> "CorpusSplit":
    """The block split (module docstring; default block and period those of
    `snncompile.data.corpus`) of a token array, as two `SplitView`s."""
    from snncompile.data.corpus import BLOCK, VAL_EVERY, CorpusSplit

    block = BLOCK if block is None else block
    val_every = VAL_EVERY if val_every is None else val_every
    if block < 1 or val_every < 2:
        raise ConfigError(f"split: need block >= 1 and val_every >= 2, got {block}, {val_every}")
    if -(-tokens.size // block) < val_every:
        raise ConfigError(f"corpus has {tokens.size} tokens: fewer than {val_every} blocks of "
                          f"{block} tokens, too small to split")
    return CorpusSplit(train=SplitView(tokens, block, val_every, False, token_bytes),
                       val=SplitView(tokens, block, val_every, True, token_bytes))


def load_token_split(folder: str | os.PathLike,
                     tokenizer: Tokenizer | None = None) -> tuple["CorpusSplit", Tokenizer]:
    """The train/validation split of a corpus folder and its tokenizer; with `tokenizer`
    given, ConfigError unless it is the corpus's own (same sha256)."""
    corpus = open_corpus(folder)
    if tokenizer is not None and tokenizer.sha256 != corpus.tokenizer.sha256:
        raise ConfigError(f"corpus {str(folder)!r} was tokenized with {corpus.tokenizer.name} "
                          f"({corpus.tokenizer.vocab_size} tokens), not with {tokenizer.name} "
                          f"({tokenizer.vocab_size} tokens)")
    tb = token_byte_lengths(corpus.tokenizer)
    return split_tokens(corpus.tokens, tb), corpus.tokenizer


def tokenize_text(text: str, tokenizer: Tokenizer, chunk_chars: int = CHUNK_CHARS
                  ) -> np.ndarray:
    """The tokens of one text (one document, in units: module docstring) as a flat array of
    `dtype_for(vocab_size)`."""
    ids: list[int] = []
    units = list(_units(io.StringIO(text, newline=""), chunk_chars))
    for batch in _batches(units):
        for u in _encode(tokenizer, batch):
            ids += u
    return np.asarray(ids, dtype=dtype_for(tokenizer.vocab_size))


# -- writing ---------------------------------------------------------------------------------
def _units(stream: io.TextIOBase, chunk_chars: int) -> Iterator[str]:
    """Consecutive whole lines of `stream`, cut at the first line end at or after
    `chunk_chars` characters."""
    buf: list[str] = []
    n = 0
    for line in stream:
        buf.append(line)
        n += len(line)
        if n >= chunk_chars:
            yield "".join(buf)
            buf, n = [], 0
    if buf:
        yield "".join(buf)


def _batches(units: Sequence[str]) -> Iterator[list[str]]:
    for i in range(0, len(units), _BATCH_UNITS):
        yield list(units[i:i + _BATCH_UNITS])


def _encode(tok: Tokenizer, texts: list[str]) -> list[list[int]]:
    if isinstance(tok, HFTokenizer):
        return tok.encode_batch(texts)
    return [tok.encode(t) for t in texts]


def _open_text(path: Path) -> io.TextIOBase:
    raw = gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")
    return io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="")


def _kind(path: Path) -> str:
    name = path.name[:-3] if path.name.endswith(".gz") else path.name
    return "jsonl" if name.endswith(".jsonl") else "text"


@dataclass
class _Unit:
    """One unit of work: its text and whether a document ends with it."""

    text: str
    doc_end: bool


def _source_units(path: Path, kind: str, chunk_chars: int) -> Iterator[_Unit]:
    """The units of one source, in order (module docstring)."""
    with _open_text(path) as f:
        if kind == "text":
            prev = None
            for u in _units(f, chunk_chars):
                if prev is not None:
                    yield _Unit(prev, False)
                prev = u
            if prev is not None:
                yield _Unit(prev, True)
            return
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError as exc:
                raise ConfigError(f"{str(path)!r} line {lineno}: not JSON ({exc})") from None
            text = rec.get("text") if isinstance(rec, dict) else rec
            if not isinstance(text, str):
                raise ConfigError(f"{str(path)!r} line {lineno}: expected an object with a "
                                  "'text' string, or a JSON string")
            parts = list(_units(io.StringIO(text, newline=""), chunk_chars)) or [""]
            for i, part in enumerate(parts):
                yield _Unit(part, i == len(parts) - 1)


@dataclass
class TokenizeReport:
    """What `tokenize_corpus` did."""

    header: dict[str, Any]
    resumed_from_units: int = 0
    units_done: int = 0
    up_to_date: bool = False
    stats: dict[str, Any] = field(default_factory=dict)


def _fingerprint(sources: list[Path], tok: Tokenizer, eos: int | None,
                 chunk_chars: int) -> dict[str, Any]:
    srcs = []
    for p in sources:
        try:
            st = p.stat()
        except OSError as exc:
            raise ConfigError(f"corpus source {str(p)!r}: {exc.strerror or exc}") from None
        if not p.is_file():
            raise ConfigError(f"corpus source {str(p)!r} is not a file")
        srcs.append({"path": str(p), "bytes": st.st_size, "kind": _kind(p)})
    return {"format": FORMAT, "tokenizer": tok.describe(), "eos": eos,
            "chunk_chars": chunk_chars, "sources": srcs}


def tokenize_corpus(sources: Sequence[str | os.PathLike], tokenizer: Tokenizer,
                    out: str | os.PathLike, *, eos: int | None = None,
                    chunk_chars: int = CHUNK_CHARS,
                    on_units: Callable[[int, int], None] | None = None) -> TokenizeReport:
    """Tokenize `sources` into the corpus folder `out`, resuming a partial run (module
    docstring). `eos`: an id appended after each document. `on_units(done, tokens)` is called
    after each checkpoint (progress; an exception from it stops the run as a kill would)."""
    if not sources:
        raise ConfigError("data tokenize: no input files")
    if chunk_chars < 1:
        raise ConfigError(f"data tokenize: chunk size must be >= 1, got {chunk_chars}")
    if eos is not None and not 0 <= eos < tokenizer.vocab_size:
        raise ConfigError(f"data tokenize: eos id {eos} is outside the tokenizer's "
                          f"vocabulary of {tokenizer.vocab_size}")
    paths = [Path(s) for s in sources]
    out = Path(out)
    check_outputs([out], paths)
    fp = _fingerprint(paths, tokenizer, eos, chunk_chars)
    dtype = dtype_for(tokenizer.vocab_size)
    if (out / HEADER).is_file():
        header = json.loads((out / HEADER).read_text(encoding="utf-8"))
        if {k: header.get(k) for k in fp} != fp:
            raise ConfigError(f"{str(out)!r} holds a corpus of other inputs (sources, "
                              "tokenizer, eos or chunk size): remove it or choose another -o")
        return TokenizeReport(header, up_to_date=True)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"-o {str(out)!r} is a file, not a folder")
    if out.is_dir() and any(out.iterdir()) and not ((out / PROGRESS).exists()
                                                    or (out / PARTIAL).exists()):
        raise ConfigError(f"-o {str(out)!r} is a folder that holds other files, not a corpus: "
                          "choose a new or empty folder")
    out.mkdir(parents=True, exist_ok=True)
    state = {"units": 0, "tokens": 0, "documents": 0, "text_bytes": 0}
    prog_path = out / PROGRESS
    if prog_path.is_file() and (out / PARTIAL).is_file():
        try:
            prog = json.loads(prog_path.read_text(encoding="utf-8"))
        except ValueError:
            prog = {}
        if prog.get("fingerprint") != fp:
            raise ConfigError(f"{str(out)!r} holds a partial corpus of other inputs: remove it "
                              "or choose another -o")
        state = {k: int(prog[k]) for k in state}
    resumed = state["units"]
    with open(out / PARTIAL, "r+b" if resumed else "wb") as f:
        f.truncate(state["tokens"] * dtype.itemsize)
        f.seek(state["tokens"] * dtype.itemsize)
        done = 0

        def checkpoint() -> None:
            f.flush()
            os.fsync(f.fileno())
            write_text_atomic(prog_path, json.dumps({"fingerprint": fp, **state}, indent=1))
            if on_units is not None:
                on_units(state["units"], state["tokens"])

        pending: list[_Unit] = []

        def flush_pending() -> None:
            for unit, ids in zip(pending, _encode(tokenizer, [u.text for u in pending])):
                if unit.doc_end and eos is not None:
                    ids = ids + [eos]
                f.write(np.asarray(ids, dtype=dtype).tobytes())
                state["tokens"] += len(ids)
                state["text_bytes"] += len(unit.text.encode("utf-8"))
                state["documents"] += int(unit.doc_end)
                state["units"] += 1
            pending.clear()
            checkpoint()

        index = 0
        for p, src in zip(paths, fp["sources"]):
            for unit in _source_units(p, src["kind"], chunk_chars):
                index += 1
                if index <= resumed:
                    continue
                pending.append(unit)
                done += 1
                if len(pending) >= _BATCH_UNITS:
                    flush_pending()
        if pending:
            flush_pending()
        f.flush()
        os.fsync(f.fileno())
    h = hashlib.sha256()
    with open(out / PARTIAL, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    header = {**fp, "dtype": "uint16" if dtype.itemsize == 2 else "uint32",
              "tokens": state["tokens"], "documents": state["documents"],
              "text_bytes": state["text_bytes"], "tokens_sha256": h.hexdigest()}
    text = tokenizer.to_json()
    if text is not None:
        with atomic_path(out / TOKENIZER_FILE) as tmp:
            tmp.write_bytes(text.encode("utf-8"))
    os.replace(out / PARTIAL, out / TOKENS)
    write_text_atomic(out / HEADER, json.dumps(header, indent=1) + "\n")
    prog_path.unlink(missing_ok=True)
    return TokenizeReport(header, resumed_from_units=resumed, units_done=done)


# -- what distillation reads -----------------------------------------------------------------
def training_data(corpus: str | os.PathLike | None, tokenizer: str | None = None,
                  teacher_dir: str | os.PathLike | None = None
                  ) -> tuple["CorpusSplit", Tokenizer]:
    """The train/validation split and the tokenizer of a distillation run.

    The tokenizer: `tokenizer` (--tokenizer), else the corpus folder's, else the one the
    teacher folder carries (its tokenizer.json), else bytes. The corpus: a corpus folder
    (`load_token_split`; its tokenizer must be the one chosen), else the text file `corpus`
    or the bundled text: byte-level it is `snncompile.data.corpus.load_split`, with a
    tokenizer.json it is tokenized in memory (`tokenize_text`) and block-split over tokens.
    With a teacher, ConfigError naming both sizes when the tokenizer has more tokens than the
    teacher's vocabulary, when a teacher of a non-byte vocabulary would get bytes, or when the
    teacher carries another tokenizer."""
    from snncompile.data.corpus import load_split, load_text
    from snncompile.data.tokenizer import (carried_tokenizer, checkpoint_vocab, load_tokenizer,
                                           resolve_tokenizer)

    tok = load_tokenizer(tokenizer) if tokenizer is not None else None
    if tok is None and corpus is not None and is_token_corpus(corpus):
        tok = open_corpus(corpus).tokenizer
    if teacher_dir is not None:
        t_vocab = checkpoint_vocab(teacher_dir)
        if t_vocab is not None:
            carried = carried_tokenizer(teacher_dir)
            if tok is None:
                tok = resolve_tokenizer(None, teacher_dir, t_vocab)
            elif carried is not None and carried.sha256 != tok.sha256:
                raise ConfigError(f"the teacher {str(teacher_dir)!r} carries tokenizer "
                                  f"{carried.name} ({carried.vocab_size} tokens), not "
                                  f"{tok.name} ({tok.vocab_size} tokens)")
            elif tok.vocab_size > t_vocab:
                raise ConfigError(f"tokenizer {tok.name} has {tok.vocab_size} tokens, more "
                                  f"than the teacher's vocabulary of {t_vocab}")
    tok = tok if tok is not None else ByteTokenizer()
    if corpus is not None and is_token_corpus(corpus):
        return load_token_split(corpus, tok)
    if corpus is not None and Path(corpus).is_dir():
        raise ConfigError(f"--corpus {str(corpus)!r} is a folder without corpus.json (build one "
                          "with `snncompile data tokenize`)")
    if isinstance(tok, ByteTokenizer):
        return load_split(None if corpus is None else str(corpus)), tok
    tokens = tokenize_text(load_text(None if corpus is None else str(corpus)), tok)
    return split_tokens(tokens, token_byte_lengths(tok)), tok


def write_tokenizer(folder: str | os.PathLike, tokenizer: Tokenizer) -> None:
    """Put `tokenizer`'s tokenizer.json into a checkpoint folder (atomically; nothing for
    bytes), where export and the other commands find it."""
    text = tokenizer.to_json()
    if text is not None:
        with atomic_path(Path(folder) / TOKENIZER_FILE) as tmp:
            tmp.write_bytes(text.encode("utf-8"))
