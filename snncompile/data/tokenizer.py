"""Byte-level tokenizer: the vocabulary is the 256 byte values (UTF-8 text in, bytes out)."""

from __future__ import annotations

VOCAB_SIZE = 256


def encode(text: str) -> list[int]:
    """UTF-8 bytes of `text` as token ids in [0, 256)."""
    return list(text.encode("utf-8"))


def decode(tokens: list[int]) -> str:
    """Inverse of `encode`; ids outside [0, 256) (padded vocabulary rows) become U+FFFD."""
    out = bytearray()
    for t in tokens:
        out += bytes([t]) if 0 <= t < VOCAB_SIZE else "\ufffd".encode()
    return out.decode("utf-8", errors="replace")
