"""`snncompile data tokenize FILES... --tokenizer T -o corpus/`: build a pre-tokenized corpus.

The corpus format, the units and the resume rule are `snncompile.data.token_corpus`'s: a flat
uint16/uint32 token file with a JSON header naming its tokenizer (name and sha256). The run is
deterministic and resumable: rerunning the same command after a kill continues where the last
checkpoint left off and ends with the same bytes as an uninterrupted run; rerunning it on a
finished folder does nothing. `--json` writes `snncompile-tokenize/1` (docs/output-formats.md).
"""

from __future__ import annotations

import click

from snncompile.cli.jsonout import emit_json, json_option, to_stdout
from snncompile.cli.params import tokenizer_option

TOKENIZE_FORMAT = "snncompile-tokenize/1"


@click.group()
def data() -> None:
    """Corpora for distillation."""


@data.command("tokenize")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@tokenizer_option("Tokenizer: a Hugging Face tokenizer.json, a folder holding one, or 'bytes'"
                  " [default: bytes].")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False),
              help="Corpus folder to write (tokens.bin, corpus.json, tokenizer.json).")
@click.option("--eos", default=None, metavar="TOKEN",
              help="Append this token after each document: a token string of the tokenizer "
                   "(such as '<|endoftext|>') or an id.")
@click.option("--chunk-chars", type=click.IntRange(1, 1 << 30), default=1 << 20,
              show_default=True,
              help="Characters per tokenized unit (whole lines; part of the corpus identity).")
@json_option("Write the report as JSON (snncompile-tokenize/1)")
def tokenize(files: tuple[str, ...], tokenizer: str | None, output: str, eos: str | None,
             chunk_chars: int, json_out: str | None) -> None:
    """Tokenize FILES (UTF-8 text, .jsonl with a "text" field per line; .gz read as well)
    into the corpus folder OUTPUT, which `snncompile distill --corpus` reads."""
    from rich.console import Console

    from snncompile.atomic import check_outputs
    from snncompile.data.token_corpus import tokenize_corpus
    from snncompile.data.tokenizer import load_tokenizer
    from snncompile.errors import ConfigError

    check_outputs([json_out], list(files) + [output, tokenizer])
    tok = load_tokenizer(tokenizer if tokenizer is not None else "bytes")
    eos_id = None
    if eos is not None:
        if eos.isdigit() and eos.isascii():
            eos_id = int(eos)
        else:
            eos_id = tok.token_to_id(eos) if hasattr(tok, "token_to_id") else None
            if eos_id is None:
                raise ConfigError(f"--eos {eos!r} is not a token of {tok.name}")
    console = Console(stderr=True)
    with console.status(f"tokenizing into {output}") as status:
        def progress(units: int, tokens: int) -> None:
            status.update(f"tokenizing into {output}: {units:,} units, {tokens:,} tokens")

        report = tokenize_corpus(files, tok, output, eos=eos_id, chunk_chars=chunk_chars,
                                 on_units=progress)
    h = report.header
    if json_out is not None:
        emit_json({"format": TOKENIZE_FORMAT, "output": str(output),
                   "up_to_date": report.up_to_date,
                   "resumed_from_units": report.resumed_from_units, "corpus": h}, json_out)
        if to_stdout(json_out):
            return
    what = ("up to date" if report.up_to_date else
            f"resumed after {report.resumed_from_units} units" if report.resumed_from_units
            else "written")
    click.echo(f"{output}: {h['tokens']:,} tokens ({h['dtype']}) from {h['documents']:,} "
               f"documents, {h['text_bytes']:,} bytes of text, tokenizer "
               f"{h['tokenizer']['name']}; {what}")
