"""The agent package: inspection, refusal of unsafe archives, installer choice."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from sagefleet import catalog
from sagefleet.errors import InputError
from sagefleet.package import build_test_package, choose_installer, inspect


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
