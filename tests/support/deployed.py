"""Put a simulated host in the state a successful deploy leaves (for verification tests)."""

from __future__ import annotations

from typing import Any

from sagefleet.agent import profile as agent_profile
from sagefleet.settings import build_host_settings
from sagefleet.sim.host import ADMINISTRATORS, SYSTEM, Acl, Service, WindowsHost


def make_deployed(
    host: WindowsHost, name: str, variables: dict[str, Any], version: str = "3.2.0"
) -> None:
    profile = agent_profile.default()
    install_dir = profile.install_dir
    exe = install_dir + "\\SpendeskSageAgent.exe"
    with host.lock:
        host.fs.mkdir(install_dir)
        host.fs.write(exe, b"MZ" + b"\0" * 64, product_version=version, file_version=version)
        # settings.json first: the installer writes it, then starts the agent, which reads it.
        text = build_host_settings(name, variables).text
        host.fs.write(
            profile.settings_path(),
            text.encode("utf-8"),
            acl=Acl.private(ADMINISTRATORS, [ADMINISTRATORS, SYSTEM]),
        )
        host.install_service(
            Service(
                name=str(profile.service_name),
                display_name=str(profile.service_display_name),
                state="Running",
                start_mode="Auto",
                account="LocalSystem",
                binary_path=f'"{exe}"',
                version=version,
            )
        )
