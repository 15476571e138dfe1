"""Atomic file writes: a file is either its old self or complete, never half written.

Write to a temporary file in the same folder, fsync, then os.replace. OS errors become
StorageError with a message that says what to do (full disk, no permission).
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path
from typing import Iterator

from camstyle.errors import StorageError


def storage_error(path: Path, exc: OSError) -> StorageError:
    """Turn an OSError on `path` into a message the user can act on."""
    if exc.errno == errno.ENOSPC:
        return StorageError(f"Disk full while writing {path}.", "Free some space and run the command again; nothing was overwritten.")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return StorageError(f"No permission to write {path}.", "Choose a folder you can write to, or fix its permissions.")
    return StorageError(f"Cannot write {path}: {exc.strerror or exc}.", "Check that the folder exists and is writable.")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to `path`; on success move it over `path` in one step.

    `suffix` keeps the real extension on the temporary file, for writers (OpenCV, ONNX)
    that pick a format from the file name.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or path.suffix, dir=path.parent)
        os.close(fd)
    except OSError as exc:
        raise storage_error(path, exc) from None
    tmp = Path(tmp_name)
    try:
        os.chmod(tmp, _final_mode(path))
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise storage_error(path, exc) from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def _final_mode(path: Path) -> int:
    """The mode a plainly created file would get (mkstemp's is 0600): the old file's, else 0666 minus umask."""
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))
