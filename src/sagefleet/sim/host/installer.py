"""The agent installer as it runs on a host: files, service, uninstall entry, log."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from sagefleet.package import installer_version
from sagefleet.sim.host.errors import DiskFull, ModelError, PathNotFound, ServiceError
from sagefleet.sim.host.products import (
    AGENT_DISPLAY_NAME,
    AGENT_EXE,
    AGENT_FOLDER,
    AGENT_INSTALL_BYTES,
    AGENT_SERVICE,
    AGENT_UNINSTALL_KEY,
    UNINSTALL,
    agent_uninstall_entry,
)
from sagefleet.sim.host.services import Service

if TYPE_CHECKING:
    import datetime as dt

    from sagefleet.sim.host.filesystem import FileSystem
    from sagefleet.sim.host.registry import Registry, RegistryValue


def _log_argument(args: list[str]) -> str | None:
    """Where an installer's command line sends its log: Inno's ``/LOG=``, msiexec's ``/l*v``."""
    for index, arg in enumerate(args):
        if arg.upper().startswith("/LOG="):
            return arg.split("=", 1)[1].strip('"')
        if re.fullmatch(r"/l[iwearucmopvx+!*]*", arg, re.I) and index + 1 < len(args):
            return args[index + 1].strip('"')
    return None


class Installer:
    """The host's side of running an installer (mixed into WindowsHost)."""

    registry: Registry
    fs: FileSystem
    installer_failure: int | None
    installer_runs: list[dict[str, Any]]
    lock: Any

    if TYPE_CHECKING:

        def utc_now(self) -> dt.datetime: ...

        def service(self, name: str) -> Service | None: ...

        def _require_service(self, name: str) -> Service: ...

        def install_service(self, service: Service) -> Service: ...

        def start_service(self, name: str, timeout_s: float | None = None) -> Service: ...

        def stop_service(self, name: str, timeout_s: float | None = None) -> Service: ...

        def remove_service(self, name: str) -> None: ...

    def uninstall_entries(self) -> list[tuple[str, str, dict[str, RegistryValue]]]:
        """(view, key name, values) of every Uninstall entry, 64-bit view first."""
        found = []
        for view in ("64", "32"):
            for sub in self.registry.subkeys(UNINSTALL, view):
                found.append((view, sub, self.registry.values(f"{UNINSTALL}\\{sub}", view)))
        return found

    def uninstall_agent(self, name: str = AGENT_SERVICE) -> None:
        """What the operator's uninstall (Programs and Features) leaves: no agent service,
        no agent folder, no uninstall entry (a test's knob; sagefleet never uninstalls)."""
        with self.lock:
            service = self._require_service(name)
            if service.state != "Stopped":
                self.stop_service(name, timeout_s=30)
            self.remove_service(name)
            folder = service.executable.rsplit("\\", 1)[0]
            if self.fs.is_dir(folder):
                self.fs.delete_tree(folder)
            self.registry.delete_key(f"{UNINSTALL}\\{AGENT_UNINSTALL_KEY}", view="32")

    def installer_metadata(self, installer_path: str) -> dict[str, Any]:
        """The package metadata beside an installer (``{}`` when missing or unreadable)."""
        try:
            meta = json.loads(self.fs.read_text(installer_path + ".sagefleet.json"))
        except (ModelError, json.JSONDecodeError):
            return {}
        return meta if isinstance(meta, dict) else {}

    def _installer_version(self, installer_path: str) -> str | None:
        """The version the installer file gives itself; None when the model holds only
        its size, or the file gives none."""
        try:
            data = self.fs.read(installer_path)
        except ModelError:
            return None
        return installer_version(data, installer_path.replace("/", "\\").rsplit("\\", 1)[-1])

    def run_installer(
        self, installer_path: str, args: list[str] | None = None
    ) -> tuple[int | None, str]:
        """Run the agent installer to its end: install or upgrade the service from the package.

        The package is described by ``<installer>.sagefleet.json`` (agent_version,
        service_name, install_folder, account, exit_code, fail_service_start,
        install_bytes, product_version; ``leaves_child`` and ``never_exits`` are
        read by the snippet model, see service_rules) and configured by the
        settings.json beside the installer. Returns (exit code, log text); the exit
        code is None when the metadata says ``exit_code: null`` (the process gives
        none). The log is also written where ``/LOG=`` or msiexec's ``/l*v <file>``
        says (default under C:\\Windows\\Temp). For an ``.msi``, ``args`` are
        msiexec's switches besides ``/i <file>``.
        """
        args = list(args or [])
        with self.lock:
            if not self.fs.is_file(installer_path):
                raise PathNotFound(
                    f"This command cannot be run because the file '{installer_path}' "
                    "does not exist."
                )
            log: list[str] = [f"Setup started: {installer_path} {' '.join(args)}".rstrip()]
            folder = installer_path.replace("/", "\\").rsplit("\\", 1)[0]
            run: dict[str, Any] = {"installer": installer_path, "args": args, "settings": None}
            self.installer_runs.append(run)
            code = self._install(installer_path, folder, args, run, log)
            run["exit_code"] = code
            log.append(f"Setup exit code: {code}")
            text = "\r\n".join(log) + "\r\n"
            log_path = _log_argument(args) or (
                f"C:\\Windows\\Temp\\Setup Log {self.utc_now():%Y-%m-%d} #001.txt"
            )
            try:
                self.fs.mkdir(log_path.replace("/", "\\").rsplit("\\", 1)[0])
                self.fs.write(log_path, text.encode("utf-8"))
            except ModelError:
                pass  # as Inno Setup: a log that cannot be written does not stop setup
            run["log_path"] = log_path
            return code, text

    def _install(
        self, installer: str, folder: str, args: list[str], run: dict[str, Any], log: list[str]
    ) -> int | None:
        if self.installer_failure is not None:
            log.append(f"Setup failed (simulated failure {self.installer_failure}).")
            return self.installer_failure
        try:
            meta = json.loads(self.fs.read_text(installer + ".sagefleet.json"))
        except (ModelError, json.JSONDecodeError) as exc:
            log.append(f"Cannot read the package metadata: {exc}")
            return 1
        try:
            settings_bytes = self.fs.read(folder + "\\settings.json")
            run["settings"] = json.loads(settings_bytes.decode("utf-8-sig"))
        except (ModelError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            log.append(f"settings.json not found or invalid beside the installer: {exc}")
            return 1
        log.append(f"Settings read from {folder}\\settings.json")
        # The version is the installer file's own (its version resource), as package
        # inspection reads it; the metadata's only for a file the model holds no bytes of.
        version = self._installer_version(installer) or meta.get("agent_version")
        if not version:
            log.append("Neither the installer's version resource nor the package metadata "
                       "gives the agent version.")
            return 1
        name = str(meta.get("service_name") or AGENT_SERVICE)
        version = str(version)
        existing = self.service(name)
        install_folder = str(meta.get("install_folder") or AGENT_FOLDER)
        if existing is not None:
            install_folder = existing.executable.rsplit("\\", 1)[0]
            log.append(f"Previous version {existing.version} found: stopping {name}")
            try:
                self.stop_service(name, timeout_s=30)
            except ServiceError as exc:
                log.append(str(exc))
                return 1
        exe = f"{install_folder}\\{AGENT_EXE}"
        try:
            self.fs.mkdir(install_folder)
            old = self.fs.entries.get(self.fs.resolve(exe).lower())
            self.fs.write(
                exe,
                size=int(meta.get("install_bytes", AGENT_INSTALL_BYTES)),
                product_version=str(meta.get("product_version") or version),
                file_version=version,
                acl=old.acl if old else None,
            )
            self.fs.write(f"{install_folder}\\settings.json", settings_bytes)
        except ModelError as exc:
            log.append(f"Error writing files: {exc}")
            return 112 if isinstance(exc, DiskFull) else 1
        if existing is None:
            self.install_service(
                Service(
                    name=name,
                    display_name=AGENT_DISPLAY_NAME,
                    start_mode="Auto",
                    account=str(meta.get("account") or "LocalSystem"),
                    binary_path=f'"{exe}"',
                    version=version,
                )
            )
            log.append(f"Service {name} installed")
        else:
            existing.version = version
            log.append(f"Service {name} updated to {version}")
        agent_uninstall_entry(self.registry, version, install_folder)
        service = self._require_service(name)
        service.start_failure = (
            "The service did not respond to the start or control request in a timely fashion."
            if meta.get("fail_service_start")
            else None
        )
        try:
            # Like `sc start`: a service that stays StartPending does not hold setup.
            self.start_service(name, timeout_s=0 if service.stuck == "StartPending" else None)
            log.append(f"Service {name} started")
        except ServiceError as exc:
            log.append(str(exc))
        if "exit_code" in meta and meta["exit_code"] is None:
            return None
        return int(meta.get("exit_code", 0))


