"""Tokenizers: text <-> token ids, and which tokenizer goes with which model.

Two kinds share one interface (`Tokenizer`: `name`, `vocab_size`, `encode`, `decode`,
`to_json`, `sha256`):
  * `ByteTokenizer` (name "bytes"): the vocabulary is the 256 byte values; a text's tokens
    are its UTF-8 bytes. The default for byte-vocabulary models (vocab_size 256), such as the
    bundled student.
  * `HFTokenizer`: a Hugging Face `tokenizer.json` read by the `tokenizers` library.
    encode(text) = `Tokenizer.encode(text, add_special_tokens=False).ids` (no BOS/EOS is
    added: a prompt is continued as written); decode(ids) = `Tokenizer.decode(ids,
    skip_special_tokens=False)`, with every id outside [0, vocab_size) shown as U+FFFD (the
    padded rows of a model's vocabulary), as the byte tokenizer does.
`sha256` is the hex SHA-256 of `to_json()` as UTF-8 (the tokenizer.json text exactly as read;
None for bytes): it names a tokenizer in corpus headers and in exported models.

Where a command's tokenizer comes from (`resolve_tokenizer(flag, model_path, vocab_size)`):
  1. `--tokenizer T`: T is a tokenizer.json file, a folder holding one, or the word "bytes";
  2. else the tokenizer the model carries (`carried_tokenizer`): `tokenizer.json` in a
     checkpoint folder, or the `tokenizer` entry of the graph metadata of a `model.onnx` or of
     a program folder's `graph.onnx` (written by `snncompile export`, kept by `lower`);
  3. else bytes, when the model's vocabulary is the byte vocabulary (256).
A tokenizer with more tokens than the model's vocabulary, or a model whose vocabulary is not
256 with no tokenizer, is a ConfigError naming both sizes (never a silent garbage run).
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from snncompile.errors import ConfigError

VOCAB_SIZE = 256               # the byte vocabulary
BYTES_NAME = "bytes"
TOKENIZER_FILE = "tokenizer.json"
METADATA_TOKENIZER_KEY = "tokenizer"   # graph.metadata["tokenizer"] = carried_metadata(tok)
_ONNX_METADATA_KEY = "snncompile.metadata"  # as snncompile.ir.serde writes it
_MAX_TOKENIZER_BYTES = 1 << 30

__all__ = ["BYTES_NAME", "ByteTokenizer", "HFTokenizer", "TOKENIZER_FILE", "Tokenizer",
           "VOCAB_SIZE", "carried_metadata", "carried_tokenizer", "checkpoint_vocab",
           "continuation_text",
           "decode", "encode", "load_tokenizer", "parse_token_ids", "resolve_tokenizer",
           "token_byte_lengths", "tokenizer_from_metadata"]


class Tokenizer:
    """The interface every tokenizer gives (module docstring)."""

    name: str
    vocab_size: int

    def encode(self, text: str) -> list[int]:
        raise NotImplementedError

    def decode(self, ids: Sequence[int]) -> str:
        raise NotImplementedError

    def to_json(self) -> str | None:
        """The tokenizer.json text (None for the byte tokenizer, which needs no file)."""
        return None

    @property
    def sha256(self) -> str | None:
        text = self.to_json()
        return None if text is None else hashlib.sha256(text.encode("utf-8")).hexdigest()

    def describe(self) -> dict[str, Any]:
        """{"name", "vocab_size", "sha256"}: what JSON outputs and corpus headers record."""
        return {"name": self.name, "vocab_size": self.vocab_size, "sha256": self.sha256}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, vocab_size={self.vocab_size})"


def _check_utf8(text: str) -> None:
    """ConfigError naming the first byte or character of `text` that has no UTF-8 form (a
    non-UTF-8 command-line argument arrives as lone surrogates U+DC80..U+DCFF)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        ch = ord(text[exc.start])
        what = (f"byte 0x{ch - 0xDC00:02x}" if 0xDC80 <= ch <= 0xDCFF
                else f"character U+{ch:04X}")
        raise ConfigError(f"the prompt is not valid UTF-8 text: {what} at position "
                          f"{exc.start}") from None


class ByteTokenizer(Tokenizer):
    """Byte-level: token ids are the UTF-8 bytes of the text (vocabulary 256)."""

    name = BYTES_NAME
    vocab_size = VOCAB_SIZE

    def encode(self, text: str) -> list[int]:
        """UTF-8 bytes of `text`; text with no UTF-8 form raises ConfigError (never altered)."""
        _check_utf8(text)
        return list(text.encode("utf-8"))

    def decode(self, ids: Sequence[int]) -> str:
        """Inverse of `encode`; ids outside [0, 256) become U+FFFD."""
        out = bytearray()
        for t in ids:
            out += bytes([t]) if 0 <= t < VOCAB_SIZE else "\ufffd".encode()
        return out.decode("utf-8", errors="replace")


class HFTokenizer(Tokenizer):
    """A `tokenizers.Tokenizer` built from tokenizer.json text (module docstring)."""

    def __init__(self, text: str, name: str | None = None, where: str | None = None) -> None:
        tokenizers = _tokenizers()
        where = where or name or "tokenizer"
        try:
            self._tok = tokenizers.Tokenizer.from_str(text)
        except Exception as exc:  # the library raises a bare Exception with serde's message
            raise ConfigError(f"tokenizer {where}: not a valid tokenizer.json "
                              f"({_one_line(exc)})") from None
        self._text = text
        self.vocab_size = int(self._tok.get_vocab_size(with_added_tokens=True))
        if self.vocab_size < 1:
            raise ConfigError(f"tokenizer {where}: its vocabulary is empty")
        self.name = name or default_name(text, self.vocab_size)

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> "HFTokenizer":
        """Read a tokenizer.json file, or the tokenizer.json of a folder."""
        p = Path(path)
        f = p / TOKENIZER_FILE if p.is_dir() else p
        if p.is_dir() and not f.is_file():
            raise ConfigError(f"tokenizer: folder {str(p)!r} holds no {TOKENIZER_FILE}")
        if not f.is_file():
            raise ConfigError(f"tokenizer: no file {str(p)!r}")
        try:
            if f.stat().st_size > _MAX_TOKENIZER_BYTES:
                raise ConfigError(f"tokenizer {str(f)!r}: larger than 1 GiB")
            text = f.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigError(f"tokenizer {str(f)!r}: not UTF-8 text") from None
        except OSError as exc:
            raise ConfigError(f"tokenizer {str(f)!r}: unreadable ({exc.strerror or exc})"
                              ) from None
        return cls(text, None, repr(str(f)))

    def encode(self, text: str) -> list[int]:
        _check_utf8(text)
        return list(self._tok.encode(text, add_special_tokens=False).ids)

    def decode(self, ids: Sequence[int]) -> str:
        parts: list[str] = []
        run: list[int] = []
        for t in ids:
            t = int(t)
            if 0 <= t < self.vocab_size:
                run.append(t)
                continue
            if run:
                parts.append(self._tok.decode(run, skip_special_tokens=False))
                run = []
            parts.append("\ufffd")
        if run:
            parts.append(self._tok.decode(run, skip_special_tokens=False))
        return "".join(parts)

    def to_json(self) -> str:
        return self._text

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        """`encode` of each text (the library runs them in parallel; the result is in order)."""
        for t in texts:
            _check_utf8(t)
        return [list(e.ids) for e in self._tok.encode_batch(list(texts),
                                                            add_special_tokens=False)]

    def token_to_id(self, token: str) -> int | None:
        """The id of a token string (such as "<|endoftext|>"), or None."""
        return self._tok.token_to_id(token)

    def token_bytes(self) -> "np.ndarray":
        """Bytes of text each id stands for, (vocab_size,) int64 (`token_byte_lengths`)."""
        import numpy as np

        added = {int(i): t.content for i, t in self._tok.get_added_tokens_decoder().items()}
        try:
            dec = json.loads(self._text).get("decoder") or {}
        except (ValueError, AttributeError):
            dec = {}
        kinds = {dec.get("type")} | {d.get("type") for d in dec.get("decoders") or []
                                     if isinstance(d, dict)}
        inverse = {c: b for b, c in _bytes_to_unicode().items()}
        out = np.zeros(self.vocab_size, dtype=np.int64)
        for i in range(self.vocab_size):
            piece = added.get(i)
            if piece is not None:
                out[i] = len(piece.encode("utf-8"))
                continue
            piece = self._tok.id_to_token(i)
            if piece is None:
                out[i] = 0
            elif "ByteLevel" in kinds:
                out[i] = sum(1 if c in inverse else len(c.encode("utf-8")) for c in piece)
            elif "ByteFallback" in kinds and len(piece) == 6 and piece.startswith("<0x"):
                out[i] = 1
            elif "Metaspace" in kinds:
                out[i] = len(piece.replace("\u2581", " ").encode("utf-8"))
            else:
                out[i] = len(self._tok.decode([i], skip_special_tokens=False).encode("utf-8"))
        return out


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character map, which ByteLevel pre-tokenizers use."""
    bs = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("\u00a1"), ord("\u00ac") + 1))
          + list(range(ord("\u00ae"), ord("\u00ff") + 1)))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def token_byte_lengths(tok: Tokenizer) -> "np.ndarray | None":
    """Bytes of text each token id stands for, the divisor of bits per byte for token
    corpora: None for the byte tokenizer (one byte per token); for a tokenizer.json, per id:
    an added/special token its UTF-8 content, a ByteLevel token its bytes (GPT-2's byte map
    inverted), a byte-fallback "<0xAB>" token 1, a Metaspace token its text with U+2581 as a
    space, any other the UTF-8 length of its decoded text."""
    return None if isinstance(tok, ByteTokenizer) else tok.token_bytes()


def default_name(text: str, vocab_size: int) -> str:
    """A tokenizer's name from its content: "<model type>-<vocabulary>", e.g. "bpe-50277"
    (the sha256 is what identifies it; the name is for people)."""
    try:
        kind = json.loads(text).get("model", {}).get("type") or "tokenizer"
    except (ValueError, AttributeError):
        kind = "tokenizer"
    return f"{str(kind).lower()}-{vocab_size}"


def _tokenizers():
    try:
        import tokenizers
    except ImportError:  # pragma: no cover - declared dependency
        from snncompile.errors import MissingDependencyError
        raise MissingDependencyError("tokenizer.json files need the `tokenizers` library: "
                                     "pip install tokenizers") from None
    return tokenizers


def _one_line(exc: BaseException, limit: int = 200) -> str:
    msg = " ".join(str(exc).split()) or type(exc).__name__
    return msg if len(msg) <= limit else msg[:limit - 3] + "..."


_BYTES = ByteTokenizer()


def load_tokenizer(path: str | os.PathLike) -> Tokenizer:
    """The tokenizer named by `path`: "bytes", a tokenizer.json file, or a folder holding
    one (ConfigError, one line, for a missing, unreadable or corrupt file)."""
    if str(path) == BYTES_NAME:
        return _BYTES
    return HFTokenizer.from_file(path)


# -- tokenizers carried by models -------------------------------------------------------------
def carried_metadata(tok: Tokenizer) -> dict[str, Any] | None:
    """The graph-metadata entry that carries `tok` in an exported model (None for bytes):
    {"name", "vocab_size", "sha256", "json"}."""
    text = tok.to_json()
    if text is None:
        return None
    return {"name": tok.name, "vocab_size": tok.vocab_size, "sha256": tok.sha256, "json": text}


def tokenizer_from_metadata(entry: Any, where: str) -> Tokenizer:
    """The tokenizer of a `carried_metadata` entry (ConfigError when it is malformed or its
    text does not match its sha256)."""
    if not isinstance(entry, Mapping) or not isinstance(entry.get("json"), str):
        raise ConfigError(f"{where}: the carried tokenizer is malformed (no 'json' text)")
    text = entry["json"]
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if entry.get("sha256") not in (None, digest):
        raise ConfigError(f"{where}: the carried tokenizer's sha256 {digest[:12]}... does not "
                          f"match the recorded {str(entry.get('sha256'))[:12]}...")
    name = entry.get("name")
    return HFTokenizer(text, name if isinstance(name, str) and name else None, where)


def carried_tokenizer(model_path: str | os.PathLike | None) -> Tokenizer | None:
    """The tokenizer a model carries, or None: `tokenizer.json` of a checkpoint folder, or the
    graph metadata's `tokenizer` entry of an ONNX file or of a program folder's graph.onnx."""
    if model_path is None:
        return None
    p = Path(model_path)
    try:
        if p.is_dir():
            if (p / TOKENIZER_FILE).is_file():
                return HFTokenizer.from_file(p / TOKENIZER_FILE)
            p = p / "graph.onnx"
        if not p.is_file():
            return None
    except OSError:
        return None
    meta = onnx_graph_metadata(p)
    entry = meta.get(METADATA_TOKENIZER_KEY) if isinstance(meta, dict) else None
    return None if entry is None else tokenizer_from_metadata(entry, repr(str(p)))


def onnx_graph_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The graph metadata (JSON of `snncompile.metadata` in the ModelProto's metadata_props,
    field 14) of an ONNX file, read by walking the top-level protobuf fields of the
    memory-mapped file, so the graph and its weights are skipped, not parsed. {} for a file
    that has none or cannot be walked (loading the graph reports what is wrong with it)."""
    try:
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_size == 0:
                return {}
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
                for key, value in _metadata_props(buf):
                    if key == _ONNX_METADATA_KEY:
                        meta = json.loads(value)
                        return meta if isinstance(meta, dict) else {}
    except (OSError, ValueError, UnicodeDecodeError):
        return {}
    return {}


def _varint(buf, pos: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _fields(buf, start: int, end: int) -> Iterable[tuple[int, int, Any]]:
    """(field number, wire type, value) of one protobuf message; LEN values as (start, end)."""
    pos = start
    while pos < end:
        tag, pos = _varint(buf, pos)
        num, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = None, pos + 8
        elif wire == 5:
            value, pos = None, pos + 4
        elif wire == 2:
            n, pos = _varint(buf, pos)
            value, pos = (pos, pos + n), pos + n
        else:
            raise ValueError(f"wire type {wire}")
        if pos > end:
            raise ValueError("truncated field")
        yield num, wire, value


def _metadata_props(buf) -> Iterable[tuple[str, str]]:
    for num, wire, value in _fields(buf, 0, len(buf)):
        if num == 14 and wire == 2:   # ModelProto.metadata_props: StringStringEntryProto
            key = val = ""
            for n2, w2, v2 in _fields(buf, *value):
                if w2 == 2 and n2 in (1, 2):
                    s = bytes(buf[v2[0]:v2[1]]).decode("utf-8")
                    key, val = (s, val) if n2 == 1 else (key, s)
            yield key, val


def checkpoint_vocab(folder: str | os.PathLike) -> int | None:
    """`vocab_size` of a checkpoint folder's config.json (None when it cannot be read: loading
    the checkpoint reports that)."""
    try:
        v = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8")).get(
            "vocab_size")
    except (OSError, ValueError, AttributeError):
        return None
    return v if isinstance(v, int) and not isinstance(v, bool) and v > 0 else None


def resolve_tokenizer(flag: str | None, model_path: str | os.PathLike | None,
                      vocab_size: int) -> Tokenizer:
    """The tokenizer a command uses for a model of `vocab_size` tokens (module docstring):
    `flag` (--tokenizer), else the one `model_path` carries, else bytes for a byte-vocabulary
    model. ConfigError naming both sizes on a mismatch."""
    if flag is not None:
        tok, origin = load_tokenizer(flag), f"tokenizer {flag!r}"
    else:
        tok = carried_tokenizer(model_path)
        origin = f"the tokenizer carried by {str(model_path)!r}"
        if tok is None:
            if vocab_size != VOCAB_SIZE:
                raise ConfigError(
                    f"the model's vocabulary has {vocab_size} tokens, not the byte vocabulary "
                    f"({VOCAB_SIZE}), and no tokenizer was given or carried by the model: pass "
                    "--tokenizer tokenizer.json")
            return _BYTES
    if tok.vocab_size > vocab_size:
        raise ConfigError(f"{origin} has {tok.vocab_size} tokens, more than the model's "
                          f"vocabulary of {vocab_size}")
    return tok


def parse_token_ids(text: str, vocab_size: int | None = None) -> list[int]:
    """`--token-ids 1,2,3` -> [1, 2, 3] (ConfigError for anything but comma-separated
    non-negative integers, or an id outside the model's vocabulary)."""
    ids = []
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit() or not part.isascii():
            raise ConfigError(f"--token-ids: {part[:40]!r} is not a non-negative integer "
                              "(expected comma-separated ids such as 1,2,3)")
        ids.append(int(part))
    if vocab_size is not None:
        bad = [t for t in ids if t >= vocab_size]
        if bad:
            raise ConfigError(f"--token-ids: id {bad[0]} is outside the model's vocabulary "
                              f"of {vocab_size}")
    return ids


def continuation_text(tok: Tokenizer, prompt_ids: Sequence[int], new_ids: Sequence[int]) -> str:
    """The text the new tokens add after the prompt: decode(prompt + new) minus
    decode(prompt) when the first starts with the second (so tokenizers that treat a leading
    token specially, or whose tokens split a character, continue the prompt's text), else
    decode(new)."""
    full, head = tok.decode(list(prompt_ids) + list(new_ids)), tok.decode(list(prompt_ids))
    return full[len(head):] if full.startswith(head) else tok.decode(list(new_ids))


# -- the byte-level functions of earlier versions (byte-vocabulary code paths use them) ------
def encode(text: str) -> list[int]:
    """UTF-8 bytes of `text` as token ids in [0, 256) (`ByteTokenizer.encode`)."""
    return _BYTES.encode(text)


def decode(tokens: Sequence[int]) -> str:
    """Inverse of `encode`; ids outside [0, 256) become U+FFFD (`ByteTokenizer.decode`)."""
    return _BYTES.decode(tokens)
