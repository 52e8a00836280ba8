"""The agent profile's service lookup, as the snippets that share it run it."""

from __future__ import annotations

from typing import Any

from sagefleet.sim.commands.registry import powershell_errors
from sagefleet.sim.host import Service, WindowsHost


def find_service(
    host: WindowsHost, spec: dict[str, Any], name_key: str = "name"
) -> tuple[Service | None, str | None, list[str]]:
    """``host.find_service`` with the name and patterns of ``spec``; a pattern .NET cannot
    parse ends the script, as ``-match`` throws."""
    with powershell_errors():
        return host.find_service(
            spec.get(name_key) or None,
            spec.get("image_path_pattern") or None,
            spec.get("display_name_pattern") or None,
        )
