"""Windows service names, checked on the bastion before any host is touched.

``Get-Service``/``Stop-Service``/``Start-Service`` take ``-Name`` as a wildcard
pattern: ``Spendesk*`` would stop every matching service. The snippets control
services through ``ServiceController``, which takes a name literally, and
refuse a wildcard too; this check names the inventory variable at fault first.
CreateService refuses ``/`` and ``\\`` in a name and limits it to 256 characters.
"""

from __future__ import annotations

import re
from typing import Any

from sagefleet.errors import InputError

FIELD = "sagefleet_agent_service_name"
_WILDCARD = re.compile(r"[*?\[\]]")
_SLASH = re.compile(r"[/\\]")


def check(host: str | None, value: Any, field: str = FIELD) -> str:
    """The service name, or InputError naming ``field``."""
    if not isinstance(value, str) or not value.strip() or len(value) > 256:
        raise InputError(
            "must be a Windows service name", host=host, field=field, value=repr(value)[:80]
        )
    if _WILDCARD.search(value):
        raise InputError(
            "a service name must be literal: no wildcard character (* ? [ ]); a cmdlet "
            "would act on every matching service",
            host=host,
            field=field,
            value=repr(value)[:80],
            fix="give the service's exact name (Win32_Service.Name)",
        )
    if _SLASH.search(value):
        raise InputError(
            "a service name cannot contain / or \\",
            host=host,
            field=field,
            value=repr(value)[:80],
        )
    return value
