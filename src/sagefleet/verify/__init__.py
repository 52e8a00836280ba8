"""Verification with testinfra: Windows-aware helpers and a pytest plugin.

testinfra's own file and service modules assume Linux; over WinRM only
``host.run`` works. ``Windows`` answers service, registry, file, JSON,
TCP and product questions with one run of the ``query`` snippet each, and
``sagefleet.verify.plugin`` builds one testinfra host per inventory host.
"""

from __future__ import annotations

from sagefleet.verify.windows import (
    FileState,
    RegistryValue,
    ServiceState,
    TcpState,
    Windows,
    testinfra_host,
)

__all__ = [
    "FileState",
    "RegistryValue",
    "ServiceState",
    "TcpState",
    "Windows",
    "testinfra_host",
]
