"""Writing a local file whole or not at all."""
from __future__ import annotations

import os
import secrets
from pathlib import Path

from ..errors import Sen12StacError, StoreError


def write_atomic(path: Path, data: bytes, *, what: str = "the file", fix: str = "free space or choose another folder",
                 error: type[Sen12StacError] = StoreError) -> None:
    """Write ``data`` at ``path`` through a temporary file and a rename: a reader never sees half a
    file. The file's mode follows the umask, as any new file's (0644 under the usual 022). A
    failure is one ``error`` naming ``what`` and ``path``, with ``fix``."""
    tmp = path.parent / f".tmp-{path.name}.{os.getpid()}.{secrets.token_hex(4)}"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies, as to open(path, "w")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise error(f"cannot write {what} {path}: {exc.strerror}", fix=fix) from None
