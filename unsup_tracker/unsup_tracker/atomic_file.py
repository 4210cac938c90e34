# Copyright 2026 unsup_tracker developers
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""Crash-safe file replacement: a file is either its old complete version or its new one.

:func:`atomic_write` writes to ``<name>.tmp`` in the same directory (so the rename cannot cross
file systems), flushes and fsyncs it, renames it over the target with :func:`os.replace`, then
fsyncs the directory so the rename itself survives a power cut. A process killed at any moment
leaves the target untouched or fully replaced; at worst a stale ``<name>.tmp`` remains, which the
next write of the same file reuses.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from pathlib import Path
from typing import IO, Iterator

#: errno values that mean "the disk (or the user's quota on it) is full".
DISK_FULL_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG}


def describe_os_error(exc: OSError, path: str | os.PathLike) -> str:
    """Explain a failed write in words a user can act on (disk full, permission, ...)."""
    if exc.errno in DISK_FULL_ERRNOS:
        folder = Path(path).parent
        try:
            free = f", {shutil.disk_usage(folder).free / 1e6:.1f} MB free"
        except OSError:
            free = ""
        return (f"no space left on the disk holding {folder}{free} "
                f"({exc.strerror or errno.errorcode.get(exc.errno, exc.errno)})")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"not allowed to write in {Path(path).parent} ({exc.strerror})"
    return f"{exc.strerror or exc}"


def fsync_directory(folder: str | os.PathLike) -> None:
    """Make a rename in ``folder`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse fsync on a directory; the rename still happened
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", **open_kwargs) -> Iterator[IO]:
    """Yield a handle on ``<path>.tmp``; on success it replaces ``path`` atomically and durably.

    On any exception the temporary file is removed, ``path`` keeps its previous content and the
    exception propagates.
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, mode, **open_kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_directory(path.parent)
