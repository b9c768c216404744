"""Byte-level tokenizer: the vocabulary is the 256 byte values (UTF-8 text in, bytes out)."""

from __future__ import annotations

VOCAB_SIZE = 256


def encode(text: str) -> list[int]:
    """UTF-8 bytes of `text` as token ids in [0, 256).

    Text that has no UTF-8 form (a non-UTF-8 command-line argument, which Python carries as
    lone surrogates U+DC80..U+DCFF, or any other lone surrogate) raises ConfigError naming the
    first offending byte or character: the prompt is refused, never silently altered."""
    try:
        return list(text.encode("utf-8"))
    except UnicodeEncodeError as exc:
        from snncompile.errors import ConfigError

        ch = ord(text[exc.start])
        what = (f"byte 0x{ch - 0xDC00:02x}" if 0xDC80 <= ch <= 0xDCFF
                else f"character U+{ch:04X}")
        raise ConfigError(f"the prompt is not valid UTF-8 text: {what} at position "
                          f"{exc.start}") from None


def decode(tokens: list[int]) -> str:
    """Inverse of `encode`; ids outside [0, 256) (padded vocabulary rows) become U+FFFD."""
    out = bytearray()
    for t in tokens:
        out += bytes([t]) if 0 <= t < VOCAB_SIZE else "\ufffd".encode()
    return out.decode("utf-8", errors="replace")
