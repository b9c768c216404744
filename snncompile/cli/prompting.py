"""The prompt of a generating command: `--prompt TEXT` or `--token-ids 1,2,3`, and the
tokenizer that turns one into the other.

`model_vocab(graph)` is the model's vocabulary: `metadata.config.vocab_size` (the real,
unpadded vocabulary), else the smallest Embedding / LM-head vocabulary of the graph.
`resolve_prompt(...)` picks the tokenizer (`snncompile.data.tokenizer.resolve_tokenizer`:
--tokenizer, else the one the model carries, else bytes for a 256-token vocabulary) and
returns it with the prompt's ids and text: exactly one of --prompt and --token-ids is given;
with --token-ids the text is the ids decoded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import click

from snncompile.data.tokenizer import (Tokenizer, continuation_text, parse_token_ids,
                                       resolve_tokenizer)
from snncompile.errors import ConfigError


@dataclass(frozen=True)
class Prompt:
    """A resolved prompt: its tokenizer, ids and text."""

    tokenizer: Tokenizer
    ids: list[int]
    text: str

    def continuation(self, new_ids) -> str:
        """The text of the generated ids (`continuation_text`)."""
        return continuation_text(self.tokenizer, self.ids, [int(t) for t in new_ids])

    def doc(self) -> dict[str, Any]:
        """The fields JSON outputs add: `prompt_ids` and `tokenizer` (name, vocab_size,
        sha256)."""
        return {"prompt_ids": list(self.ids), "tokenizer": self.tokenizer.describe()}


def model_vocab(graph) -> int:
    """The model's vocabulary (module docstring)."""
    cfg = graph.metadata.get("config") if isinstance(graph.metadata, dict) else None
    if isinstance(cfg, dict) and isinstance(cfg.get("vocab_size"), int):
        return int(cfg["vocab_size"])
    vocabs = [int(n.op.vocab) for n in graph.nodes if hasattr(n.op, "vocab")]
    if not vocabs:
        raise ConfigError("the model has no vocabulary (no Embedding / LM head)")
    return min(vocabs)


def check_prompt_args(prompt: str | None, token_ids: str | None) -> None:
    """A usage error (exit 2) unless exactly one of --prompt and --token-ids is given."""
    if prompt is None and token_ids is None:
        raise click.UsageError("Missing option '--prompt' (or '--token-ids')")
    if prompt is not None and token_ids is not None:
        raise click.UsageError("give exactly one of '--prompt' and '--token-ids'")


def resolve_prompt(prompt: str | None, token_ids: str | None, tokenizer: str | None,
                   model_path: str | None, vocab_size: int,
                   empty_error: type[Exception] = ConfigError) -> Prompt:
    """The prompt of a command (module docstring); `empty_error` is raised for an empty
    prompt."""
    check_prompt_args(prompt, token_ids)
    tok = resolve_tokenizer(tokenizer, model_path, vocab_size)
    if token_ids is not None:
        ids = parse_token_ids(token_ids, vocab_size) if token_ids.strip() else []
        if not ids:
            raise empty_error("--token-ids is empty")
        return Prompt(tok, ids, tok.decode(ids))
    ids = tok.encode(prompt)
    if not ids:
        raise empty_error("--prompt is empty")
    return Prompt(tok, ids, prompt)
