"""Have the host download the package itself (an HTTP server on the bastion, an internal
repository) when that is faster than WinRM (docs/transfer.md, "Pull mode")."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import replace

import sagefleet.transfer.staging as staging
from sagefleet.errors import InputError
from sagefleet.remote import HostSession
from sagefleet.remote.retry import Backoff


def stage_pull(
    session: HostSession,
    url: str,
    sha256: str,
    *,
    size: int | None = None,
    version: str | None = None,
    staging_dir: str = staging.DEFAULT_STAGING_DIR,
    check_mode: bool = False,
    use_default_credentials: bool = False,
    free_margin_bytes: int = staging.DEFAULT_FREE_MARGIN_BYTES,
    retry: Backoff | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> staging.StageResult:
    """Have the host download the package from ``url`` and verify it against ``sha256``.

    Same folder, skip rule and result as ``stage``; nothing goes over stdin.
    With ``size`` known, a volume without room is refused before the
    download. ``use_default_credentials`` lets an internal repository that
    wants Windows authentication see the WinRM account.
    """
    if not re.fullmatch(r"[0-9A-Fa-f]{64}", sha256 or ""):
        raise InputError("not a SHA-256 (64 hex digits)", field="sha256", value=repr(sha256))
    if not re.match(r"^https?://", url, re.I):
        raise InputError(
            "the package URL must be http:// or https://",
            field="url",
            value=url,
            fix="serve the package over HTTP(S) from the bastion or the internal repository",
        )
    expected = sha256.lower()
    path = staging.staged_path(expected, version, staging_dir)
    started = time.monotonic()
    host = session.host

    def attempt_once(attempt: int) -> staging.StageResult:
        status = staging.read_status(session, path)

        def result(skipped: bool) -> staging.StageResult:
            return staging.StageResult(
                host=host,
                path=status.path,
                sha256=expected,
                size=size if size is not None else (status.size or 0),
                bytes_sent=0,
                skipped=skipped,
                resumed_from=0,
                duration_s=time.monotonic() - started,
                attempts=attempt,
                method="pull",
                check_mode=check_mode,
            )

        if status.exists and status.sha256 == expected:
            return result(True)
        if size is not None:
            staging.check_space(host, status, size - status.part_size, free_margin_bytes)
        if check_mode:
            return result(False)
        doc = session.run_snippet(
            "stage_pull",
            {
                "root": staging.staging_dir_of(path),
                "url": url,
                "path": path,
                "part": staging.part_path(path),
                "sha256": expected,
                "use_default_credentials": use_default_credentials,
            },
        )
        if not isinstance(doc, dict) or str(doc.get("sha256", "")).lower() != expected:
            raise staging.TransferError(
                host, path, f"stage_pull did not confirm the SHA-256: {doc!r:.200}"
            )
        if size is None:
            return replace(result(False), size=int(doc.get("size") or 0))
        return result(False)

    return staging.with_retries(session, retry, sleep, f"downloading {url} to {path}", attempt_once)
