"""Atomic output: never leave a partial file or folder behind, never overwrite an input.

`atomic_path(path)` yields a temporary sibling path; on success it is renamed onto `path`
(os.replace, atomic on one filesystem); on any exception the temporary is removed and `path`
is left as it was. `atomic_files(path)` yields a temporary staging folder for a file that
comes with companions (an ONNX file and its `.data`): every file written into it is published
beside `path`, the one named like `path` last. Every OS error of creating, publishing or
cleaning up raises `OutputError` naming `path`; exceptions from the caller's block propagate
unchanged.

Temporaries are named `.<name>.tmp-<pid>-<random>`, so a run killed half-way (SIGKILL, power
loss) leaves one whose creating process is dead: the next write of the same target removes it.
A folder is replaced in two renames (old -> `.<name>.old-<pid>-<random>`, new -> `<name>`);
a crash between them leaves `<name>` missing and the old folder parked: the next write of the
same target, or `recover(path)`, renames it back first. Entries of a process still alive are
never touched.

`check_outputs(outputs, inputs)` is the one check that no output of a command is, contains or
lies inside one of its inputs (paths resolved, symbolic links followed, hard links compared).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import shutil
from pathlib import Path
from typing import Iterable, Iterator

from snncompile.errors import OutputError

__all__ = ["atomic_files", "atomic_path", "check_outputs", "recover", "write_text_atomic"]

_TMP, _OLD = "tmp", "old"


def _err(verb: str, target: Path, exc: Exception) -> OutputError:
    return OutputError(f"cannot {verb} {str(target)!r}: {getattr(exc, 'strerror', None) or exc}")


def _sibling(target: Path, kind: str) -> Path:
    return target.parent / f".{target.name}.{kind}-{os.getpid()}-{secrets.token_hex(4)}"


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return True
    return True


def _ours(target: Path, kind: str) -> list[Path]:
    """Leftovers `.<name>.<kind>-<pid>-<hex>` of `target` whose creating process is dead."""
    pattern = re.compile(re.escape(f".{target.name}.{kind}-") + r"(\d+)-[0-9a-f]+$")
    found = []
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return []
    for e in entries:
        m = pattern.match(e.name)
        if m and int(m.group(1)) != os.getpid() and not _pid_alive(int(m.group(1))):
            found.append(Path(e.path))
    return sorted(found, key=_mtime, reverse=True)


def _mtime(p: Path) -> float:
    try:
        return p.lstat().st_mtime
    except OSError:
        return 0.0


def _remove(p: Path) -> None:
    """Best-effort removal of a temporary (it never hides the error being raised)."""
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            p.unlink()


def recover(path: str | os.PathLike) -> None:
    """Undo what a crashed writer of `path` left: restore a parked old folder when `path` is
    missing, remove stale temporaries and parked folders of dead processes."""
    target = Path(path)
    try:
        parked = _ours(target, _OLD)
        if parked and not os.path.lexists(target):
            with contextlib.suppress(FileNotFoundError):  # a concurrent run restored it
                os.replace(parked.pop(0), target)  # the newest parked copy was the live one
        for p in parked + _ours(target, _TMP):
            _remove(p)
    except OSError as exc:
        raise _err("recover", target, exc) from exc


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to `path`; publish it with one rename when the block succeeds.

    With `directory=True` the temporary is a fresh folder and an existing folder at `path` is
    replaced as a whole.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        recover(target)
        tmp = _sibling(target, _TMP)
        if directory:
            tmp.mkdir()
        else:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        raise _err("write", target, exc) from exc
    try:
        yield tmp
        try:
            _chmod_default(tmp, directory)
            if directory and os.path.lexists(target):
                _swap_folder(tmp, target)
            else:
                os.replace(tmp, target)
        except OSError as exc:
            raise _err("publish", target, exc) from exc
    except BaseException:
        _remove(tmp)
        raise


def _swap_folder(tmp: Path, target: Path) -> None:
    """Replace folder `target` by `tmp`: park the old one, publish, delete the old one. A crash
    between the two renames is undone by the next `recover(target)`; an error puts it back."""
    if not target.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "not a folder, will not replace it by one")
    old = _sibling(target, _OLD)
    os.replace(target, old)
    try:
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.replace(old, target)
        raise
    _remove(old)


@contextlib.contextmanager
def atomic_files(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a staging folder beside `path`; the block writes `path`'s file (same name) and its
    companions (say `<name>.data`) there. On success each file is moved beside `path`, the one
    named like `path` last, so its companions are in place before it appears; on any exception
    nothing is published."""
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        recover(target)
        stage = _sibling(target, _TMP)
        stage.mkdir()
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        raise _err("write", target, exc) from exc
    try:
        yield stage
        try:
            names = sorted(os.listdir(stage), key=lambda n: (n == target.name, n))
            for name in names:  # fail before the first rename rather than half-way
                dest = target.parent / name
                if dest.is_dir() and not dest.is_symlink():
                    raise IsADirectoryError(errno.EISDIR, "is a folder", str(dest))
            for name in names:
                os.replace(stage / name, target.parent / name)
        except OSError as exc:
            raise _err("publish", target, exc) from exc
    finally:
        _remove(stage)


def _chmod_default(tmp: Path, directory: bool) -> None:
    """Temporaries are created owner-only; give the published entry the umask's mode."""
    umask = os.umask(0)
    os.umask(umask)
    if tmp.exists():
        os.chmod(tmp, (0o777 if directory else 0o666) & ~umask)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write `text` to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def _resolve(p: str | os.PathLike) -> Path:
    try:
        return Path(os.path.abspath(os.path.expanduser(os.fspath(p)))).resolve()
    except (OSError, ValueError, RuntimeError) as exc:  # a symlink loop, a NUL byte
        raise OutputError(f"cannot use the path {os.fspath(p)!r}: {exc}") from None


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


def check_outputs(outputs: Iterable[str | os.PathLike | None],
                  inputs: Iterable[str | os.PathLike | None]) -> None:
    """Raise OutputError when writing `outputs` would destroy or change one of `inputs`.

    Every output (a file, or a folder replaced as a whole) is compared with every input after
    resolving both: equal (or the same file through a hard link), inside an input folder, or a
    folder containing an input is refused; so is one output given twice. `None` and `-`
    (stdout) are skipped, and so are inputs that do not exist (nothing to destroy; an argument
    that names a preset rather than a file)."""
    def keep(items):
        return [(os.fspath(p), _resolve(p)) for p in items
                if p is not None and os.fspath(p) not in ("", "-")]

    outs = keep(outputs)
    ins = [(n, p) for n, p in keep(inputs) if os.path.lexists(n)]  # a name (preset), not a path
    seen: dict[Path, str] = {}
    for name, o in outs:
        if o in seen:
            raise OutputError(f"{seen[o]!r} and {name!r} are the same output file")
        seen[o] = name
    for oname, o in outs:
        for iname, i in ins:
            if o == i or _same_file(o, i):
                raise OutputError(f"output {oname!r} is the input {iname!r}: writing it would "
                                  f"destroy the input; choose another output path")
            if i in o.parents:
                raise OutputError(f"output {oname!r} is inside the input {iname!r}: writing it "
                                  f"would change the input; choose another output path")
            if o in i.parents:
                raise OutputError(f"output {oname!r} contains the input {iname!r}: replacing it "
                                  f"would destroy the input; choose another output path")
