"""Build the bundled training corpus from this Python installation's standard library.

The corpus is real English technical prose released under the PSF License v2:
  1. every docstring (module, class, function; `ast.get_docstring(clean=True)`) of the pure
     Python standard-library modules, files in sorted POSIX path order, nodes in source
     order (depth-first); test packages (`test/`, `tests/`, `idle_test/`, `lib2to3/tests/`),
     `site-packages/` and `pydoc_data/` are skipped;
  2. the Python reference "topics" shipped in `pydoc_data/topics.py` (the text `help()`
     shows), in sorted key order.
Documents are separated by one blank line plus a form feed line ("\\n\\f\\n"), so a reader can
split them again. Output: `stdlib_docs.txt.gz` (gzip, mtime 0, no file name: the bytes depend
only on the text), so rebuilding on the same Python version (3.11.7) gives the identical file.

    python -m snncompile.data.build_corpus [--stdlib DIR] [--out FILE] [--check]

`--check` rebuilds in memory and compares the text against the committed file's decompressed
text (exit 1 on mismatch; the gzip bytes may differ across zlib versions, the text may not).
"""

from __future__ import annotations

import argparse
import ast
import gzip
import hashlib
import io
import os
import sys
import sysconfig
from pathlib import Path
from typing import Iterator

from snncompile.atomic import atomic_path

DOC_SEPARATOR = "\n\f\n"
CORPUS_FILE = Path(__file__).with_name("stdlib_docs.txt.gz")
EXPECTED_PYTHON = "3.11.7"
_SKIP_DIRS = {"test", "tests", "idle_test", "site-packages", "__pycache__", "pydoc_data"}
_DOC_NODES = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def default_stdlib() -> Path:
    """Folder of this interpreter's pure-Python standard library."""
    return Path(sysconfig.get_paths()["stdlib"])


def stdlib_sources(root: Path) -> list[Path]:
    """Standard-library .py files to read, sorted by POSIX relative path (test trees skipped)."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in _SKIP_DIRS]
        out += [Path(dirpath) / f for f in filenames if f.endswith(".py")]
    return sorted(out, key=lambda p: p.relative_to(root).as_posix())


def _docstrings(node: ast.AST) -> Iterator[str]:
    """Docstrings of `node` and its nested classes/functions, depth-first in source order."""
    if isinstance(node, _DOC_NODES):
        doc = ast.get_docstring(node, clean=True)
        if doc and doc.strip():
            yield doc.strip()
    for child in ast.iter_child_nodes(node):
        yield from _docstrings(child)


def _topics(root: Path) -> list[str]:
    """Values of `pydoc_data.topics.topics`, read with `ast.literal_eval` (never imported)."""
    path = root / "pydoc_data" / "topics.py"
    tree = ast.parse(path.read_bytes(), filename=str(path))
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "topics" for t in stmt.targets):
            topics = ast.literal_eval(stmt.value)
            return [topics[k].strip() for k in sorted(topics) if topics[k].strip()]
    raise SystemExit(f"{path}: no 'topics = {{...}}' assignment found")


def build_text(root: Path) -> tuple[str, dict[str, int]]:
    """The corpus text and counts (files, docstrings, topics)."""
    docs: list[str] = []
    n_files = 0
    for path in stdlib_sources(root):
        try:
            tree = ast.parse(path.read_bytes(), filename=str(path))
        except (SyntaxError, ValueError):
            continue  # deliberately broken sample files (none outside the skipped test trees)
        n_files += 1
        docs += list(_docstrings(tree))
    n_doc = len(docs)
    topics = _topics(root)
    docs += topics
    text = DOC_SEPARATOR.join(docs) + "\n"
    return text, {"files": n_files, "docstrings": n_doc, "topics": len(topics)}


def gzip_bytes(text: str) -> bytes:
    """Deterministic gzip of the UTF-8 text (mtime 0, no stored file name, level 9)."""
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as gz:
        gz.write(text.encode("utf-8"))
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stdlib", type=Path, default=default_stdlib())
    ap.add_argument("--out", type=Path, default=CORPUS_FILE)
    ap.add_argument("--check", action="store_true", help="compare with the committed file")
    args = ap.parse_args(argv)
    version = ".".join(map(str, sys.version_info[:3]))
    if version != EXPECTED_PYTHON:
        print(f"warning: Python {version}; the committed corpus was built from {EXPECTED_PYTHON}",
              file=sys.stderr)
    text, counts = build_text(args.stdlib)
    raw = text.encode("utf-8")
    blob = gzip_bytes(text)
    print(f"files={counts['files']} docstrings={counts['docstrings']} topics={counts['topics']}")
    print(f"text bytes={len(raw)} sha256={hashlib.sha256(raw).hexdigest()}")
    print(f"gzip bytes={len(blob)} sha256={hashlib.sha256(blob).hexdigest()}")
    if args.check:
        same = args.out.exists() and gzip.decompress(args.out.read_bytes()) == raw
        print("check: identical" if same else f"check: {args.out} differs")
        return 0 if same else 1
    with atomic_path(args.out) as tmp:
        tmp.write_bytes(blob)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
