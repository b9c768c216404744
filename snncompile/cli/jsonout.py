"""`--json [FILE]`, the same in every command (docs/output-formats.md).

    @json_option("Print the report as JSON.")
    def cmd(..., json_out): ...
        if json_out is not None:
            emit_json(doc, json_out)

`--json` alone, or `--json -`, prints the document on stdout; `--json FILE` writes it to FILE
atomically (snncompile.atomic). Every document is strict JSON: a NaN or an infinity is refused
with an `OutputError` rather than written as `NaN` / `Infinity`.
"""

from __future__ import annotations

import json
from typing import Any

import click

from snncompile.atomic import write_text_atomic
from snncompile.errors import OutputError

STDOUT = "-"


def json_option(help: str = "Write the result as JSON: on stdout (no FILE, or -) or to FILE."):
    """The `--json [FILE]` option; the command receives `json_out`: None (not given), "-"
    (stdout) or a file path."""
    return click.option("--json", "json_out", metavar="[FILE]", is_flag=False, flag_value=STDOUT,
                        default=None, type=click.Path(dir_okay=False, allow_dash=True),
                        help=help + " (--json: stdout; --json FILE: that file; - is stdout)")


def to_json_text(doc: Any) -> str:
    """`doc` as indented strict JSON text (OutputError on NaN/inf or a non-JSON value)."""
    try:
        return json.dumps(doc, indent=2, allow_nan=False, default=_jsonable) + "\n"
    except (ValueError, TypeError) as exc:
        raise OutputError(f"cannot write the JSON output: {exc}") from None


def _jsonable(v: Any) -> Any:
    if isinstance(v, (set, tuple)):
        return list(v)
    raise TypeError(f"not JSON-serializable: {type(v).__name__}")


def to_stdout(target: str | None) -> bool:
    """Whether `--json` asks for stdout (so tables and messages should go to stderr)."""
    return target == STDOUT


def emit_json(doc: Any, target: str) -> None:
    """Print `doc` on stdout (`target` "-") or write it atomically to the file `target`."""
    text = to_json_text(doc)
    if target == STDOUT:
        click.echo(text, nl=False)
    else:
        write_text_atomic(target, text)
        click.echo(f"wrote {target}", err=True)


def json_file(target: str | None) -> str | None:
    """The file `--json` writes (None for stdout or no --json), for output-path checks."""
    return None if target in (None, STDOUT) else target
