"""The agent package: inspection, refusal of unsafe archives, installer choice."""

from __future__ import annotations

import json
import stat
import zipfile
from pathlib import Path

import pefile
import pytest

from sagefleet import catalog
from sagefleet.errors import InputError
from sagefleet.package import (
    SIMULATOR_METADATA,
    build_test_package,
    check_hosts,
    choose_installer,
    info_from_dict,
    info_to_dict,
    inspect,
    stub_installer,
)
from sagefleet.settings import build_host_settings
from sagefleet.settings.vendor import load_vendor_package
from sagefleet.sim import vendor_layout


@pytest.fixture
def package(tmp_path: Path) -> Path:
    return build_test_package(tmp_path / "Setup.zip", agent_version="3.2.0")


def zip_with(tmp_path: Path, entries: dict[str, bytes]) -> Path:
    path = tmp_path / "bad.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


def test_inspect_lists_installers_labels_and_agent_version(package: Path) -> None:
    info = inspect(package)
    assert info.labels() == ["v9.0", "v10.0", "v11.0", "v12.0"]
    assert info.has_settings and info.agent_version == "3.2.0"
    assert len(info.sha256) == 64 and info.size == package.stat().st_size


def test_a_test_package_carries_a_vendor_file_in_the_stand_in_layout(package: Path) -> None:
    """A real Setup.zip carries the settings.json the vendor's form produced for one
    connection: a test package carries the simulator's stand-in of it (never sagefleet's
    template layout), which an entity can name as its vendor_package."""
    with zipfile.ZipFile(package) as archive:
        raw = archive.read("settings.json")
    assert raw == vendor_layout.dumps(vendor_layout.document([vendor_layout.SAMPLE_ENTITY]))
    document, where = load_vendor_package(package)
    assert where == f"{package}!settings.json" and "schemaVersion" not in document
    assert [c["CompanyName"] for c in document["Connections"]] == ["BIJOU"]
    entity = dict(vendor_layout.SAMPLE_ENTITY)
    entity["vendor_package"] = str(package)
    built = build_host_settings("sage01", {"sagefleet_entities": [entity]})
    assert built.document == document


def test_a_test_package_may_hold_its_files_in_a_folder(tmp_path: Path) -> None:
    connections = [{**vendor_layout.SAMPLE_ENTITY, "company_code": "CHOCO"}]
    path = build_test_package(
        tmp_path / "Setup.zip", labels=("v11.0",), folder="Setup", connections=connections
    )
    info = inspect(path)
    assert info.has_settings and [i.path for i in info.installers] == [
        "Setup/Spendesk Sage Agent Setup v11.0.exe"
    ]
    document, where = load_vendor_package(path)
    assert where.endswith("!Setup/settings.json")
    assert [c["CompanyName"] for c in document["Connections"]] == ["CHOCO"]


def test_installer_for_sage_11_02_is_v11(package: Path) -> None:
    assert choose_installer(inspect(package), "11.02").label == "v11.0"


def test_missing_installer_names_host_version_and_what_exists(tmp_path: Path) -> None:
    info = inspect(build_test_package(tmp_path / "p.zip", labels=("v9.0", "v10.0")))
    with pytest.raises(InputError) as caught:
        choose_installer(info, "11.02", host="sage01")
    error = caught.value
    assert error.host == "sage01"
    assert "no installer v11.0 for Sage 11.02 (it has v9.0, v10.0)" in str(error)


def test_unsupported_sage_version_is_refused(package: Path) -> None:
    with pytest.raises(InputError, match="Sage 6.00 is not supported"):
        choose_installer(inspect(package), "6.00", host="old")


def test_catalog_override_changes_the_rule(package: Path) -> None:
    rules = catalog.sage(
        {
            "minimum_major": 7,
            "versions": [{"major": 11, "installer": "v12.0", "objets_metiers": "11.0"}],
        }
    )
    assert choose_installer(inspect(package), "11.02", sage_catalog=rules).label == "v12.0"


def test_wrong_sha256_is_refused(package: Path) -> None:
    with pytest.raises(InputError, match="SHA-256 mismatch"):
        inspect(package, expected_sha256="0" * 64)


def test_corrupt_zip_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "Setup.zip"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(InputError, match="not a valid zip archive"):
        inspect(path)


def test_crc_error_is_refused(package: Path, tmp_path: Path) -> None:
    data = bytearray(package.read_bytes())
    data[200] ^= 0xFF  # inside the first entry's compressed data
    broken = tmp_path / "broken.zip"
    broken.write_bytes(bytes(data))
    with pytest.raises(InputError, match="corrupt|not a valid zip"):
        inspect(broken)


@pytest.mark.parametrize(
    "name",
    ["../../x.exe", "/etc/passwd", "C:\\Windows\\x.exe", "a/../../b", "..\\..\\evil v11.0.exe"],
)
def test_zip_slip_paths_are_refused(tmp_path: Path, name: str) -> None:
    path = zip_with(tmp_path, {"settings.json": b"{}", name: b"MZ"})
    with pytest.raises(InputError, match="escapes|absolute|not a valid Windows"):
        inspect(path)


def test_package_without_installers_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no installer with a version label"):
        inspect(zip_with(tmp_path, {"settings.json": b"{}", "readme.txt": b"hi"}))


def test_oversized_package_is_refused_before_reading(package: Path) -> None:
    with pytest.raises(InputError, match="more than the 1000-byte limit"):
        inspect(package, max_bytes=1000)


def test_zip_bomb_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("Setup v11.0.exe", b"\0" * (64 << 20))
    with pytest.raises(InputError, match="zip bomb"):
        inspect(path)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="package not found"):
        inspect(tmp_path / "nope.zip")


# -- installers read as Windows reads them ------------------------------------------

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def without_version_resource(data: bytes) -> bytes:
    """The same program with its RT_VERSION resource renamed: it no longer has one."""
    pe = pefile.PE(data=data)
    for entry in pe.DIRECTORY_ENTRY_RESOURCE.entries:
        if entry.id == pefile.RESOURCE_TYPE["RT_VERSION"]:
            entry.struct.Name = 0x7F
    return bytes(pe.write())


def zip_of(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


def test_inspect_reads_each_installers_technology_and_version(tmp_path: Path) -> None:
    info = inspect(build_test_package(tmp_path / "p.zip", agent_version="3.4.0",
                                      labels=("v11.0",), technology="wix-burn"))
    (installer,) = info.installers
    assert (installer.technology, installer.agent_version) == ("wix-burn", "3.4.0")
    assert installer.version_source == "version resource ProductVersion"
    assert "PE section .wixburn (magic 0x00F14300)" in installer.evidence
    assert info.agent_version == "3.4.0"
    assert info.version_source == "version resource ProductVersion"


def test_a_test_package_of_msi_installers_is_real_msi(tmp_path: Path) -> None:
    info = inspect(build_test_package(tmp_path / "p.zip", extension=".msi", labels=("v11.0",)))
    (installer,) = info.installers
    assert installer.path.endswith(".msi") and installer.technology == "msi"
    assert installer.version_source == "MSI Property ProductVersion"


def test_installers_of_different_versions_are_refused_naming_each(tmp_path: Path) -> None:
    path = zip_of(tmp_path / "mixed.zip", {
        "settings.json": b"{}",
        "Setup v10.0.exe": stub_installer("inno", "3.2.0"),
        "Setup v11.0.exe": stub_installer("inno", "3.3.0"),
    })
    with pytest.raises(InputError) as caught:
        inspect(path)
    message = str(caught.value)
    assert "not of one agent version" in message
    assert "Setup v10.0.exe: 3.2.0" in message and "Setup v11.0.exe: 3.3.0" in message


def test_an_installer_without_version_among_versioned_ones_is_refused(tmp_path: Path) -> None:
    path = zip_of(tmp_path / "mixed.zip", {
        "Setup v10.0.exe": stub_installer("inno", "3.2.0"),
        "Setup v11.0.exe": without_version_resource(stub_installer("inno", "3.2.0")),
    })
    with pytest.raises(InputError, match="Setup v11.0.exe: no version"):
        inspect(path)


def test_version_4_parts_and_3_parts_are_one_version(tmp_path: Path) -> None:
    path = zip_of(tmp_path / "p.zip", {
        "Setup v10.0.exe": stub_installer("nsis", "3.2.0"),
        "Setup v11.0.exe": stub_installer("nsis", "3.2.0.0"),
    })
    assert inspect(path).agent_version == "3.2.0"  # the first installer's spelling


def test_simulator_metadata_contradicting_the_version_resource_is_refused(
    tmp_path: Path,
) -> None:
    path = zip_of(tmp_path / "p.zip", {
        "Setup v11.0.exe": stub_installer("inno", "3.2.0"),
        "Setup v11.0.exe.sagefleet.json": json.dumps({"agent_version": "9.9.9"}).encode(),
    })
    with pytest.raises(InputError, match="version resource ProductVersion says 3.2.0, its "
                                         "simulator metadata says 9.9.9"):
        inspect(path)


def test_simulator_metadata_gives_the_version_only_without_a_version_resource(
    tmp_path: Path,
) -> None:
    path = zip_of(tmp_path / "p.zip", {
        "Setup v11.0.exe": without_version_resource(stub_installer("inno", "3.2.0")),
        "Setup v11.0.exe.sagefleet.json": json.dumps({"agent_version": "3.2.0"}).encode(),
    })
    info = inspect(path)
    assert info.agent_version == "3.2.0"
    assert info.version_source == SIMULATOR_METADATA


def test_an_installer_windows_could_not_run_is_refused(tmp_path: Path) -> None:
    path = zip_of(tmp_path / "p.zip", {"settings.json": b"{}", "Setup v11.0.exe": b"MZ" * 64})
    with pytest.raises(InputError, match="installer Setup v11.0.exe: .*not a Windows program"):
        inspect(path)


def test_package_info_keeps_the_technology_through_its_dict(package: Path) -> None:
    info = inspect(package)
    again = info_from_dict(json.loads(json.dumps(info_to_dict(info))))
    assert again.installers == info.installers
    assert again.agent_version == "3.2.0"


# -- entries that are not files ------------------------------------------------------


def test_a_symbolic_link_entry_is_refused_before_any_host_is_touched() -> None:
    """Info-ZIP's --symlinks entry: Windows' extraction would write the link's target
    path into a file called settings.json."""
    path = FIXTURES / "zip" / "symlink-entry.zip"
    with zipfile.ZipFile(path) as archive:
        mode = archive.getinfo("settings.json").external_attr >> 16
    assert stat.S_ISLNK(mode)
    with pytest.raises(InputError, match="entry settings.json is a symbolic link"):
        inspect(path)


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        (stat.S_IFIFO, "a named pipe"),
        (stat.S_IFCHR, "a character device"),
        (stat.S_IFBLK, "a block device"),
        (stat.S_IFSOCK, "a socket"),
    ],
)
def test_other_non_regular_entries_are_refused(tmp_path: Path, kind: int, words: str) -> None:
    path = tmp_path / "p.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("Setup v11.0.exe", stub_installer("inno", "3.2.0"))
        odd = zipfile.ZipInfo("settings.json")
        odd.create_system = 3
        odd.external_attr = (kind | 0o644) << 16
        archive.writestr(odd, b"")
    with pytest.raises(InputError, match=f"entry settings.json is {words}"):
        inspect(path)


def test_entries_with_unix_file_and_folder_modes_pass(tmp_path: Path) -> None:
    path = tmp_path / "p.zip"
    with zipfile.ZipFile(path, "w") as archive:
        folder = zipfile.ZipInfo("Setup/")
        folder.external_attr = (stat.S_IFDIR | 0o755) << 16
        archive.writestr(folder, b"")
        installer = zipfile.ZipInfo("Setup/Setup v11.0.exe")
        installer.external_attr = (stat.S_IFREG | 0o755) << 16
        archive.writestr(installer, stub_installer("inno", "3.2.0"))
    assert inspect(path).labels() == ["v11.0"]


# -- what the package means for each host (the first play) -------------------------


def test_a_package_of_another_version_than_the_target_is_refused(package: Path) -> None:
    info = inspect(package)
    errors = check_hosts(info, {
        "sage01": {"sagefleet_agent_target_version": "3.1.0"},
        "sage02": {"sagefleet_agent_target_version": "3.1.0"},
        "sage03": {"sagefleet_agent_target_version": "3.2.0.0"},
        "sage04": {},
    })
    (error,) = errors
    text = str(error)
    assert f"the package {info.path} holds agent 3.2.0" in text
    assert "sagefleet_agent_target_version is 3.1.0 for sage01, sage02" in text
    assert "set sagefleet_agent_target_version to 3.2.0" in text
    assert error.field == "sagefleet_agent_target_version" and error.value == "3.1.0"


def test_a_package_without_version_needs_the_target(tmp_path: Path) -> None:
    info = inspect(zip_of(tmp_path / "p.zip", {
        "Setup v11.0.exe": without_version_resource(stub_installer("inno", "3.2.0")),
    }))
    assert info.agent_version is None
    hosts = {"sage01": {}, "sage02": {"sagefleet_agent_target_version": "3.2.0"}}
    (error,) = check_hosts(info, hosts)
    assert error.host == "sage01" and "does not say its agent version" in str(error)


def test_an_unknown_installer_needs_installer_arguments(tmp_path: Path) -> None:
    info = inspect(build_test_package(tmp_path / "p.zip", labels=("v11.0",),
                                      technology="unknown"))
    (error,) = check_hosts(info, {
        "sage01": {},
        "sage02": {"sagefleet_agent_installer_arguments": ["/quiet"]},
    })
    assert error.host == "sage01"
    assert error.field == "sagefleet_agent_installer_arguments"
    assert "is of technology unknown" in str(error) and "no silent switches" in str(error)


def test_a_missing_agent_profile_is_reported_for_its_host(package: Path) -> None:
    (error,) = check_hosts(inspect(package), {"sage01": {"sagefleet_agent_profile": "nope.yml"}})
    assert error.host == "sage01" and error.field == "sagefleet_agent_profile"


def test_test_package_options_are_checked(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="v<major>.<minor>"):
        build_test_package(tmp_path / "p.zip", labels=("11",))
    with pytest.raises(InputError, match="no stand-in installer"):
        build_test_package(tmp_path / "p.zip", technology="wise")
    with pytest.raises(InputError, match="1 to 32 characters"):
        build_test_package(tmp_path / "p.zip", agent_version="3.2.0 beta")
