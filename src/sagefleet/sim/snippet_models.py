"""Model-side behaviour of each sagefleet snippet, read from the host state.

Each function returns exactly the document the PowerShell snippet of the
same name would print on a real Windows host in the same state.
"""

from __future__ import annotations

from typing import Any

from sagefleet.sim.dispatch import simulates
from sagefleet.sim.model import WindowsHost


@simulates("host_info")
def host_info(host: WindowsHost, params: dict[str, Any], stdin: bytes) -> dict[str, Any]:
    now = host.utc_now()
    return {
        "hostname": host.hostname,
        "os_caption": host.os_caption,
        "os_version": host.os_version,
        "os_build": host.os_build,
        "powershell_version": host.powershell_version,
        # Same shape as [DateTime]::UtcNow.ToString('o'): 7 fractional digits, Z.
        "utc_now": now.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z",
    }
