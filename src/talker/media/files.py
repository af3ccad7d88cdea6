"""Writing output files all-or-nothing: a temp file beside the target, renamed into place on success."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from talker.errors import InputError


def check_writable(path: Path) -> None:
    """Fail before any work if `path` cannot be written: missing directory, no permission, a directory."""
    directory = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise InputError(f"cannot write {path}: it is a directory; give a file name")
    if not directory.is_dir():
        raise InputError(f"cannot write {path}: directory {directory} does not exist")
    if not os.access(directory, os.W_OK):
        raise InputError(f"cannot write {path}: no permission to write in {directory}")


@contextlib.contextmanager
def atomic_output(path: Path, mode: str = "wb") -> Iterator[IO[bytes]]:
    """Yield a temp file beside `path`; on success it replaces `path`, on any error it is removed."""
    check_writable(path)
    try:
        handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent or ".")
    except OSError as error:
        raise InputError(f"cannot write {path}: {error.strerror}") from error
    temp = Path(temp_name)
    try:
        with os.fdopen(handle, mode) as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except OSError as error:
        temp.unlink(missing_ok=True)
        if error.errno == errno.ENOSPC:
            raise InputError(f"cannot write {path}: the disk is full; free some space and try again") from error
        if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise InputError(f"cannot write {path}: {error.strerror}") from error
        raise
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
