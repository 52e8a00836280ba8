"""Files the bastion writes (reports, settings, inventory drafts): whole or not at all."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(
    path: str | os.PathLike[str],
    data: str | bytes,
    *,
    mode: int = 0o600,
    skip_unchanged: bool = True,
) -> bool:
    """Write ``data`` (text as UTF-8) so that readers see the old or the new file, never half
    of one.

    The temporary file lives in the same folder (``os.replace`` is atomic only within one
    file system) and gets ``mode`` before it takes the file's name: private unless asked.
    With ``skip_unchanged``, a file that already holds ``data`` is left alone and False is
    returned, which keeps repeated runs idempotent.
    """
    target = Path(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if skip_unchanged:
        try:
            if target.is_file() and target.read_bytes() == raw:
                return False
        except OSError:
            pass
    folder = target.parent if str(target.parent) else Path(".")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, mode)
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return True
