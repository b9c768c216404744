"""Click parameter types shared by the commands.

`FiniteFloatRange` is `click.FloatRange` that also refuses NaN (click's range test compares
with < and >, which NaN never fails, so `FloatRange(0, 1)` accepts `nan`) and infinities: a
bad value is a usage error (exit 2) naming the option.
"""

from __future__ import annotations

import math
from typing import Any

import click


class FiniteFloatRange(click.FloatRange):
    """A finite float in the range (the arguments of `click.FloatRange`)."""

    name = "finite float range"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None
                ) -> Any:
        rv = super().convert(value, param, ctx)
        if isinstance(rv, float) and not math.isfinite(rv):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return rv


TOKENIZER_HELP = ("Tokenizer: a Hugging Face tokenizer.json, a folder holding one, or 'bytes' "
                  "[default: the one the model carries, else bytes for a 256-token vocabulary].")


def tokenizer_option(help: str = TOKENIZER_HELP):
    """`--tokenizer T` (the value is a string or None; resolve it with
    `snncompile.data.tokenizer.resolve_tokenizer(value, model_path, vocab_size)`)."""
    return click.option("--tokenizer", "tokenizer", type=str, default=None, metavar="T",
                        help=help)


def token_ids_option():
    """`--token-ids 1,2,3`: the prompt as token ids, instead of --prompt text (parse it with
    `snncompile.data.tokenizer.parse_token_ids`)."""
    return click.option("--token-ids", "token_ids", type=str, default=None, metavar="IDS",
                        help="The prompt as comma-separated token ids (instead of --prompt).")
