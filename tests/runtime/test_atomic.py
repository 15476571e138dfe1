"""Atomic writes: all or nothing, ordinary permissions, clear errors."""

import os
import stat

import pytest

from camstyle import atomic
from camstyle.errors import StorageError


def test_new_file_gets_the_umask_mode_and_an_existing_file_keeps_its_mode(tmp_path):
    old = os.umask(0o022)
    try:
        target = tmp_path / "out.json"
        atomic.write_text(target, "{}")
        assert stat.S_IMODE(target.stat().st_mode) == 0o644
        target.chmod(0o600)
        atomic.write_text(target, "[]")
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
        assert target.read_text() == "[]"
    finally:
        os.umask(old)


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    target = folder / "keep.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("writer crashed")
    assert target.read_text() == "old"
    assert [p.name for p in folder.iterdir()] == ["keep.txt"]


def test_a_folder_that_is_a_file_is_a_storage_error_naming_the_path(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    with pytest.raises(StorageError, match="blocker"):
        atomic.write_text(blocker / "x.txt", "data")
