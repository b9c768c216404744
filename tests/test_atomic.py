"""atomic_path: publish on success, leave nothing behind on failure."""

import os

import pytest

from snncompile.atomic import atomic_path, write_text_atomic
from snncompile.errors import OutputError, SnnCompileError


def test_file_published_with_umask_mode(tmp_path):
    target = tmp_path / "out.txt"
    write_text_atomic(target, "hello")
    assert target.read_text() == "hello"
    umask = os.umask(0)
    os.umask(umask)
    assert (target.stat().st_mode & 0o777) == (0o666 & ~umask)
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_failure_leaves_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("partial")
            raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_directory_replaced_whole(tmp_path):
    target = tmp_path / "prog"
    target.mkdir()
    (target / "stale").write_text("x")
    with atomic_path(target, directory=True) as tmp:
        (tmp / "new").write_text("y")
    assert sorted(p.name for p in target.iterdir()) == ["new"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prog"]


def test_directory_failure_leaves_nothing(tmp_path):
    target = tmp_path / "prog"
    with pytest.raises(ValueError):
        with atomic_path(target, directory=True) as tmp:
            (tmp / "half").write_text("y")
            raise ValueError("bad")
    assert list(tmp_path.iterdir()) == []


def test_unwritable_target_is_a_typed_error_and_leaves_nothing(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(OutputError, match="afile"):   # the parent is a file
        write_text_atomic(tmp_path / "afile" / "out.csv", "y")
    (tmp_path / "adir").mkdir()
    with pytest.raises(OutputError, match="adir"):    # a file cannot replace a folder
        write_text_atomic(tmp_path / "adir", "y")
    assert issubclass(OutputError, SnnCompileError) and issubclass(OutputError, OSError)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir", "afile"]
    assert list((tmp_path / "adir").iterdir()) == []
