"""Atomic output: never leave a partial file or folder behind.

`atomic_path(path)` yields a temporary sibling path; on success it is renamed onto `path`
(os.replace, atomic on one filesystem); on any exception the temporary is removed and `path`
is left as it was. When the temporary cannot be created or published (the parent is a file,
no permission, the target is a folder) it raises `OutputError` naming `path`; exceptions from
the caller's block propagate unchanged.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from snncompile.errors import OutputError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to `path`; publish it with one rename when the block succeeds.

    With `directory=True` the temporary is a fresh folder and an existing folder at `path` is
    replaced as a whole.
    """
    target = Path(path)
    prefix = f".{target.name}.tmp-"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if directory:
            tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=target.parent))
        else:
            fd, name = tempfile.mkstemp(prefix=prefix, dir=target.parent)
            os.close(fd)
            tmp = Path(name)
    except OSError as exc:
        raise OutputError(f"cannot write {str(target)!r}: {exc.strerror or exc}") from exc
    try:
        yield tmp
        try:
            _chmod_default(tmp, directory)
            if directory:
                if target.exists():
                    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
                    os.replace(target, old / "x")
                    os.replace(tmp, target)
                    shutil.rmtree(old, ignore_errors=True)
                else:
                    os.replace(tmp, target)
            else:
                os.replace(tmp, target)
        except OSError as exc:
            raise OutputError(f"cannot publish {str(target)!r}: {exc.strerror or exc}") from exc
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()
        raise


def _chmod_default(tmp: Path, directory: bool) -> None:
    """mkstemp/mkdtemp create owner-only entries; give the published one the umask's mode."""
    umask = os.umask(0)
    os.umask(umask)
    if tmp.exists():
        os.chmod(tmp, (0o777 if directory else 0o666) & ~umask)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write `text` to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
