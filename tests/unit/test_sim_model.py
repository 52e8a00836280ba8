"""The simulated Windows host: what Windows would answer, built from a profile."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from sagefleet.sim.commands.registry import SnippetAbort
from sagefleet.sim.commands.snippet_models import powershell_errors
from sagefleet.sim.host import (
    ADMINISTRATORS,
    SYSTEM,
    USERS,
    AccessDenied,
    Acl,
    DiskFull,
    ModelError,
    PathNotFound,
    ProfileError,
    Registry,
    Service,
    ServiceError,
    WindowsHost,
    host_from_profile,
    load_profile,
    profile_names,
)
from sagefleet.sim.host.products import AGENT_SERVICE, NDP_V4, NETFX, OM_DLL, SCHANNEL_TLS12


def make(profile: str | dict[str, Any] = "healthy-onprem") -> WindowsHost:
    data = load_profile(profile) if isinstance(profile, str) else profile
    return host_from_profile("h1", "127.0.0.2", "admin", "pw", data)


# -- registry -------------------------------------------------------------------


def test_registry_32_bit_view_reads_the_wow6432node_key() -> None:
    registry = Registry()
    registry.set(r"HKLM\SOFTWARE\WOW6432Node\Sage\Comptabilité 100c", "Path", "C:\\Sage\\")
    assert registry.get(r"HKLM\SOFTWARE\Sage\Comptabilité 100c", "Path", view="32") == "C:\\Sage\\"
    assert registry.get(r"HKLM\SOFTWARE\Sage\Comptabilité 100c", "Path", view="64") is None


def test_registry_system_hive_is_shared_by_both_views() -> None:
    registry = Registry()
    registry.set(SCHANNEL_TLS12, "Enabled", 0)
    assert registry.get(SCHANNEL_TLS12, "Enabled", view="32") == 0


def test_registry_keys_and_value_names_are_case_insensitive() -> None:
    registry = Registry()
    registry.set(r"HKEY_LOCAL_MACHINE\Software\Foo", "Release", 528049)
    assert registry.get(r"hklm\SOFTWARE\FOO", "release") == 528049
    assert registry.subkeys(r"HKLM\software") == ["Foo"]


def test_registry_values_are_typed() -> None:
    registry = Registry()
    registry.set(r"HKLM\SOFTWARE\T", "d", 1)
    registry.set(r"HKLM\SOFTWARE\T", "q", 2**40)
    registry.set(r"HKLM\SOFTWARE\T", "m", ["a", "b"])
    registry.set(r"HKLM\SOFTWARE\T", "e", "%ProgramFiles%", kind="REG_EXPAND_SZ")
    kinds = {name: value.kind for name, value in registry.values(r"HKLM\SOFTWARE\T").items()}
    assert kinds == {"d": "REG_DWORD", "q": "REG_QWORD", "m": "REG_MULTI_SZ", "e": "REG_EXPAND_SZ"}
    assert registry.get(r"HKLM\SOFTWARE\T", "m") == ("a", "b")


def test_registry_refuses_a_dword_out_of_range() -> None:
    with pytest.raises(ProfileError, match="REG_DWORD"):
        Registry().set(r"HKLM\SOFTWARE\T", "d", -1, kind="REG_DWORD")


def test_profile_high_level_keys_become_registry_values() -> None:
    host = make("dotnet-472")
    assert host.registry.get(NDP_V4, "Release") == 461814
    # Not set unless the profile says, as on most servers.
    assert host.registry.get(NETFX, "SchUseStrongCrypto", view="32") is None
    tls = make({**load_profile("dotnet-472"), "tls": {"strong_crypto": 1}})
    assert tls.registry.get(NETFX, "SchUseStrongCrypto", view="32") == 1
    path = host.registry.get(r"HKLM\SOFTWARE\Sage\Comptabilité 100c", "Path", view="32")
    assert path == "C:\\Program Files (x86)\\Sage\\iComptabilité\\"


def test_profile_low_level_registry_overrides_win() -> None:
    data = {
        **load_profile("healthy-onprem"),
        "registry": {NDP_V4: {"Release": 394802}, NETFX: {"SchUseStrongCrypto": None}},
    }
    host = make(data)
    assert host.registry.get(NDP_V4, "Release") == 394802
    assert host.registry.get(NETFX, "SchUseStrongCrypto") is None


def test_sage_installation_leaves_a_32_bit_uninstall_entry() -> None:
    entries = [
        (view, values["DisplayName"].data, values["DisplayVersion"].data)
        for view, _, values in make("sage-v6").uninstall_entries()
    ]
    assert ("32", "Sage 100cloud Comptabilité", "6.00") in entries


# -- file system ---------------------------------------------------------------------


def test_sage_programs_carry_their_product_version() -> None:
    host = make()
    maestria = host.fs.stat(r"c:\program files (x86)\sage\icomptabilité\maestria.exe")
    assert maestria.product_version == "11.02"
    assert host.fs.stat(OM_DLL).file_version == "11.0"


def test_mae_file_is_an_ini_like_pointer() -> None:
    text = make().fs.read_text(r"C:\Sage\Societes\BIJOU.MAE", "cp1252")
    assert "ServeurSQL=SAGE-ONPREM\\SAGE100\r\n" in text
    assert "Type=" in text and "Createur=" in text


def test_mapped_drive_and_unc_path_are_the_same_file() -> None:
    host = make("mae-network-drive-localsystem")
    assert host.fs.read(r"S:\Societes\BIJOU.MAE") == host.fs.read(r"\\fs01\sage\Societes\BIJOU.MAE")
    assert host.fs.drives["S:"].drive_type == "network"
    assert host.fs.drives["S:"].provider == "\\\\fs01\\sage"


def test_unreachable_share_is_path_not_found() -> None:
    data = {
        **load_profile("mae-network-drive-localsystem"),
        "shares": [{"unc": r"\\fs01\sage", "reachable": False}],
    }
    host = make(data)
    assert not host.fs.exists(r"S:\Societes\BIJOU.MAE")
    with pytest.raises(PathNotFound, match="network path was not found"):
        host.fs.read(r"\\fs01\sage\Societes\BIJOU.MAE")


def test_write_needs_an_existing_folder() -> None:
    with pytest.raises(PathNotFound, match="Could not find a part of the path"):
        make().fs.write(r"C:\Nowhere\settings.json", b"{}")


def test_write_uses_free_space_and_delete_gives_it_back() -> None:
    fs = make().fs
    before = fs.free_bytes("C:\\")
    fs.write(r"C:\Windows\Temp\blob.bin", size=1000)
    assert fs.free_bytes("C:\\") == before - 1000
    fs.delete(r"C:\Windows\Temp\blob.bin")
    assert fs.free_bytes("C:\\") == before


def test_write_beyond_free_space_is_disk_full() -> None:
    fs = make("disk-almost-full").fs
    with pytest.raises(DiskFull, match="disk full"):
        fs.write(r"C:\Windows\Temp\agent.msi", size=60 * 1024**2)
    assert not fs.exists(r"C:\Windows\Temp\agent.msi")


def test_acl_limits_who_can_read_a_file() -> None:
    fs = make().fs
    fs.mkdir(r"C:\ProgramData\Spendesk")
    fs.write(r"C:\ProgramData\Spendesk\settings.json", b"{}", acl=Acl.private(ADMINISTRATORS))
    fs.set_acl(
        r"C:\ProgramData\Spendesk\settings.json",
        Acl.private(ADMINISTRATORS, [ADMINISTRATORS], [SYSTEM]),
    )
    assert fs.read(r"C:\ProgramData\Spendesk\settings.json", account=SYSTEM) == b"{}"
    with pytest.raises(AccessDenied):
        fs.read(r"C:\ProgramData\Spendesk\settings.json", account=USERS)


def test_atomic_rename_replaces_the_target_and_keeps_the_acl() -> None:
    fs = make().fs
    fs.mkdir(r"C:\Agent")
    fs.write(r"C:\Agent\settings.json", b"old")
    fs.write(r"C:\Agent\settings.json.tmp", b"new", acl=Acl.private(SYSTEM, [SYSTEM]))
    fs.rename(r"C:\Agent\settings.json.tmp", r"C:\Agent\settings.json")
    assert fs.read(r"C:\Agent\settings.json") == b"new"
    assert fs.stat(r"C:\Agent\settings.json").acl == Acl.private(SYSTEM, [SYSTEM])
    assert fs.listdir(r"C:\Agent") == ["settings.json"]


def test_size_only_file_has_no_content_to_read() -> None:
    fs = make().fs
    with pytest.raises(ModelError, match="only the size"):
        fs.read(OM_DLL)


def test_profile_files_section_adds_files_with_metadata() -> None:
    data = {
        **load_profile("healthy-onprem"),
        "files": {r"C:\Tools\x.exe": {"size": "2 MB", "product_version": "1.2"}},
    }
    entry = make(data).fs.stat(r"C:\Tools\x.exe")
    assert (entry.size, entry.product_version) == (2 * 1024**2, "1.2")


# -- services --------------------------------------------------------------------------


def test_service_start_and_stop_change_its_state() -> None:
    host = make("agent-old")
    assert host.stop_service(AGENT_SERVICE.lower()).state == "Stopped"
    assert host.start_service(AGENT_SERVICE).state == "Running"


def test_service_told_to_fail_stays_stopped_with_the_windows_message() -> None:
    host = make("agent-old")
    host.stop_service(AGENT_SERVICE)
    service = host.service(AGENT_SERVICE)
    assert service is not None
    service.start_failure = "Error 1053"
    with pytest.raises(ServiceError, match="cannot be started due to the following error: Error"):
        host.start_service(AGENT_SERVICE)
    assert service.state == "Stopped"


def test_disabled_service_cannot_start() -> None:
    host = make()
    host.install_service(Service("Foo", start_mode="Disabled"))
    with pytest.raises(ServiceError, match="disabled"):
        host.start_service("foo")


def test_service_start_is_pending_for_its_start_time() -> None:
    host = make()
    host.time_scale = 0.01
    host.install_service(Service("Slow", start_seconds=20))
    worker = threading.Thread(target=host.start_service, args=("Slow",))
    worker.start()
    time.sleep(0.05)
    pending = host.service("Slow")
    assert pending is not None and pending.state == "StartPending"
    worker.join()
    assert pending.state == "Running"


def test_unknown_service_is_an_error() -> None:
    with pytest.raises(ServiceError, match="Cannot find any service"):
        make().start_service("nope")


# -- installer -----------------------------------------------------------------------


def stage_package(host: WindowsHost, version: str = "3.2.0", **meta: Any) -> str:
    host.fs.mkdir(r"C:\Temp\Setup")
    installer = r"C:\Temp\Setup\AgentSetup-v11.0.exe"
    host.fs.write(installer, size=1024)
    host.fs.write(
        installer + ".sagefleet.json", json.dumps({"agent_version": version, **meta}).encode()
    )
    host.fs.write(r"C:\Temp\Setup\settings.json", b'{"entities": [{"code": "BIJOU"}]}')
    return installer


def test_installer_installs_and_starts_the_agent_service() -> None:
    host = make()
    code, log = host.run_installer(
        stage_package(host), ["/VERYSILENT", r"/LOG=C:\Temp\install.log"]
    )
    service = host.service(AGENT_SERVICE)
    assert code == 0
    assert service is not None
    assert (service.state, service.version, service.account) == ("Running", "3.2.0", "LocalSystem")
    assert host.installer_runs[-1]["settings"] == {"entities": [{"code": "BIJOU"}]}
    assert host.fs.read_text(r"C:\Temp\install.log") == log


def test_installer_upgrades_in_place_and_keeps_the_account() -> None:
    host = make("agent-old")
    code, log = host.run_installer(stage_package(host, "3.2.0"), ["/VERYSILENT"])
    service = host.service(AGENT_SERVICE)
    assert code == 0 and "Previous version 2.3.0 found" in log
    assert service is not None
    assert (service.version, service.account, service.state) == (
        "3.2.0",
        "CORP\\svc-spendesk",
        "Running",
    )
    assert host.fs.stat(service.executable).product_version == "3.2.0"
    agent_entries = [
        values["DisplayVersion"].data
        for _, _, values in host.uninstall_entries()
        if values["DisplayName"].data == "Spendesk Sage Agent"
    ]
    assert agent_entries == ["3.2.0"]


def test_installer_failure_configured_on_the_host_changes_nothing() -> None:
    host = make()
    host.installer_failure = 1603
    code, _ = host.run_installer(stage_package(host), [])
    assert code == 1603 and host.service(AGENT_SERVICE) is None


def test_installer_that_cannot_start_the_service_leaves_it_stopped() -> None:
    host = make()
    code, log = host.run_installer(stage_package(host, fail_service_start=True), [])
    service = host.service(AGENT_SERVICE)
    assert code == 0 and "cannot be started" in log
    assert service is not None and service.state == "Stopped"


def test_installer_on_a_full_disk_exits_with_error_disk_full() -> None:
    host = make("disk-almost-full")
    code, log = host.run_installer(stage_package(host), [])
    assert code == 112 and "disk full" in log
    assert host.service(AGENT_SERVICE) is None


def test_installer_needs_settings_json_beside_it() -> None:
    host = make()
    installer = stage_package(host)
    host.fs.delete(r"C:\Temp\Setup\settings.json")
    code, log = host.run_installer(installer, [])
    assert code == 1 and "settings.json" in log


# -- network policy ----------------------------------------------------------------------


def test_default_endpoints_resolve_connect_and_present_their_real_issuer() -> None:
    net = make().network
    assert net.resolve("api.chift.eu").status == "ok"
    assert net.connect("s3.eu-west-3.amazonaws.com", 80).ok
    tls = net.handshake("s3.eu-west-3.amazonaws.com", 443)
    assert (tls.ok, tls.protocol, tls.issuer) == (True, "TLSv1.2", "Amazon RSA 2048 M02")


def test_unlisted_destination_is_dropped_by_the_firewall() -> None:
    answer = make().network.connect("s3.eu-west-3.amazonaws.com", 8443, timeout_ms=1500)
    assert (answer.ok, answer.error, answer.elapsed_ms) == (False, "timeout", 1500)


def test_blocked_endpoint_answers_per_policy() -> None:
    net = make("s3-blocked").network
    assert net.connect("s3.eu-west-3.amazonaws.com", 443).error == "timeout"
    assert net.connect("s3.eu-west-3.amazonaws.com", 80).error == "refused"
    assert net.connect("sqs.eu-west-3.amazonaws.com", 443).ok


def test_dns_failure_makes_the_connect_fail_with_dns() -> None:
    net = make("dns-fail-one").network
    assert net.resolve("api.chift.eu").status == "nxdomain"
    assert net.connect("api.chift.eu", 443).error == "dns"


def test_cname_chain_is_followed() -> None:
    data = {
        **load_profile("healthy-spc"),
        "network": {
            "dns": {
                "xiyxu8z271.database.windows.net": {
                    "cname": "xiyxu8z271.privatelink.database.windows.net"
                },
                "xiyxu8z271.privatelink.database.windows.net": ["10.0.0.5"],
            }
        },
    }
    answer = make(data).network.resolve("xiyxu8z271.database.windows.net")
    assert answer.addresses == ("10.0.0.5",)
    assert answer.cname_chain == ("xiyxu8z271.privatelink.database.windows.net",)


def test_spc_entity_azure_sql_is_reachable_on_1433() -> None:
    assert make("healthy-spc").network.connect("xiyxu8z271.database.windows.net", 1433).ok


def test_interception_proxy_presents_its_own_issuer() -> None:
    tls = make("tls-intercepted").network.handshake("api.chift.eu", 443)
    assert (tls.ok, tls.issuer) == (True, "Fortinet CA")


def test_handshake_fails_without_a_common_protocol() -> None:
    tls = make().network.handshake("api.chift.eu", 443, client_protocols=())
    assert not tls.ok and "common algorithm" in (tls.error or "")


# -- profiles and reset ------------------------------------------------------------------


@pytest.mark.parametrize("name", profile_names())
def test_every_shipped_profile_builds_and_has_a_description(name: str) -> None:
    data = load_profile(name)
    assert data.get("description")
    assert make(data).fs.exists("C:\\")


def test_unknown_key_in_a_profile_section_is_an_error() -> None:
    with pytest.raises(ProfileError, match=r"sage: unknown keys \['colour'\]"):
        make({"sage": {"version": "11.02", "colour": "red"}})


def test_reset_restores_files_services_and_registry() -> None:
    host = make("agent-old")
    host.fs.delete(r"C:\Sage\Societes\BIJOU.MAE")
    host.stop_service(AGENT_SERVICE)
    host.registry.set(NDP_V4, "Release", 1)
    host.reset()
    assert host.fs.exists(r"C:\Sage\Societes\BIJOU.MAE")
    service = host.service(AGENT_SERVICE)
    assert service is not None and service.state == "Running"
    assert host.registry.get(NDP_V4, "Release") == 528049


def test_model_errors_reach_the_client_as_powershell_errors() -> None:
    fs = make("disk-almost-full").fs
    with pytest.raises(SnippetAbort, match="not enough space on the disk"), powershell_errors():
        fs.write(r"C:\Windows\Temp\agent.msi", size=60 * 1024**2)
