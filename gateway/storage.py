"""Running out of disk: recognised wherever it surfaces, reported as "no space", never as a bare 500
or a hint to migrate the schema (issue 18 item 14).

A full disk shows up as ``OSError`` ENOSPC/EDQUOT from the file system, ``sqlite3`` "database or disk
is full" (SQLITE_FULL), PostgreSQL SQLSTATE 53100 ``disk_full`` (psycopg ``DiskFull``), or any of
those wrapped by SQLAlchemy. ``is_no_space`` sees through the wrapping; ``free_bytes`` is what the
readiness check and the worker's back-off look at, so both recover by themselves when space returns.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from gateway.errors import GatewayError

NO_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
MIN_FREE_BYTES = 16 * 1024 * 1024
"""Below this on the data directory's disk the gateway reports itself not ready and stops writing work."""


class NoSpace(GatewayError):
    """The data disk (or the database's) is full; writing resumes by itself when space is freed."""


def is_no_space(exc: BaseException | None) -> bool:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in NO_SPACE_ERRNOS:
            return True
        text = str(exc).lower()
        if "database or disk is full" in text or "no space left on device" in text or "disk full" in text:
            return True
        if getattr(exc, "sqlstate", None) == "53100" or getattr(exc, "pgcode", None) == "53100":
            return True
        exc = getattr(exc, "orig", None) or exc.__cause__ or exc.__context__
    return False


def free_bytes(path: Path) -> int | None:
    """Free bytes for an unprivileged writer on ``path``'s file system (None when it cannot be read)."""
    try:
        probe = path if path.exists() else path.parent
        stats = os.statvfs(probe)
        return stats.f_bavail * stats.f_frsize
    except OSError:
        try:
            return shutil.disk_usage(path).free
        except OSError:
            return None


def describe(path: Path) -> str:
    free = free_bytes(path)
    shown = "unknown" if free is None else f"{free} bytes free"
    return f"no space left on the disk of {path} ({shown}); the gateway resumes by itself once space is freed"
